import NIOCore
import OTACore

/// Where payload files live, addressed by SHA-256. The embedded default is a local folder;
/// an S3-compatible store would implement the same protocol.
public protocol ContentStore: Sendable {
    /// Streams `body` into the store under `digest`. The bytes are hashed on the way in; on a
    /// mismatch or an error nothing is kept. Returns the size stored.
    func put(_ digest: SHA256Digest, body: some AsyncSequence<ByteBuffer, any Error>, maximumSize: UInt64) async throws -> UInt64

    /// The local file holding `digest`, for streaming downloads; nil when absent.
    func path(of digest: SHA256Digest) -> String?

    /// Deletes leftovers of uploads a crash interrupted.
    func removeIncompleteUploads() throws
}

public enum ContentError: Error, CustomStringConvertible, Equatable {
    case digestMismatch(expected: String, actual: String)
    case tooLarge(UInt64)
    case storage(String)

    public var description: String {
        switch self {
        case .digestMismatch(let expected, let actual): return "the uploaded bytes hash to \(actual), not \(expected); nothing was stored"
        case .tooLarge(let limit): return "content is larger than the server's limit of \(limit) bytes"
        case .storage(let reason): return "storage failed: \(reason)"
        }
    }
}
