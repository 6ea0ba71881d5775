import NIOCore
import OTACore

/// Where payload blobs live, addressed by SHA-256: whole files, and the content-defined
/// chunks of files published as chunks. The embedded default is a local folder
/// (`LocalContentStore`); `S3ContentStore` keeps them in an S3-compatible object store.
/// A stored blob never changes: its name is its digest.
public protocol ContentStore: Sendable {
    /// Streams `body` into the store under `digest`. The bytes are hashed on the way in; on a
    /// mismatch or an error nothing is kept. Returns the size stored.
    func put(_ digest: SHA256Digest, body: some AsyncSequence<ByteBuffer, any Error>, maximumSize: UInt64) async throws -> UInt64

    /// The size of blob `digest`, nil when it is not stored.
    func size(of digest: SHA256Digest) async throws -> UInt64?

    /// Those of `digests` that are not stored, in order.
    func missing(_ digests: [SHA256Digest]) async throws -> [SHA256Digest]

    /// The bytes of `pieces`, back to back in one buffer (callers keep it to a few MiB).
    func read(_ pieces: [BlobPiece]) async throws -> ByteBuffer

    /// A short-lived URL from which a device fetches blob `digest` itself, so that its bytes
    /// do not pass through this server; nil when the server sends content itself.
    func directURL(of digest: SHA256Digest) -> String?

    /// The hosts `directURL` sends devices to (`host` or `host:port`, as `ContentHost` spells
    /// them): named in every signed check-in answer, so that devices follow redirects there
    /// and nowhere else.
    var redirectHosts: [String] { get }

    /// Deletes leftovers of uploads a crash interrupted.
    func removeIncompleteUploads() throws
}

/// A run of bytes inside one stored blob.
public struct BlobPiece: Sendable, Equatable {
    public let blob: SHA256Digest
    public let offset: UInt64
    public let length: UInt64
}

public enum ContentError: Error, CustomStringConvertible, Equatable {
    case digestMismatch(expected: String, actual: String)
    case tooLarge(UInt64)
    /// The store failed in a way retrying will not fix (a full disk, a refused key).
    case storage(String)
    /// The store cannot be reached just now; the request may be retried.
    case unavailable(String)

    public var description: String {
        switch self {
        case .digestMismatch(let expected, let actual): return "the uploaded bytes hash to \(actual), not \(expected); nothing was stored"
        case .tooLarge(let limit): return "content is larger than the server's limit of \(limit) bytes"
        case .storage(let reason): return "storage failed: \(reason)"
        case .unavailable(let reason): return "the content store is unavailable: \(reason); try again shortly"
        }
    }
}
