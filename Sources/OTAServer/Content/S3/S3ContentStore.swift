import NIOCore
import OTACore
import Synchronization

/// Content in an S3-compatible object store, one object per blob (`PREFIX/content/HEX`).
///
/// - Uploads are spooled to a local file and hashed on the way in; only bytes that match
///   their digest are sent, with that digest as `x-amz-content-sha256`, so the store checks
///   them once more. A PUT is atomic: an object is complete or absent, never partial.
/// - Devices download whole blobs from the store with presigned URLs, so those bytes do not
///   pass through the server. Ranges of chunked files are read by the server (ranged GETs)
///   and sent on, since one answer spans many objects.
public final class S3ContentStore: ContentStore {
    let client: S3Client
    let spool: UploadSpool
    /// How long a presigned URL stays valid: long enough to start a download, short enough
    /// that a leaked URL is soon worthless. A download in progress is not cut off at expiry;
    /// a resumed one asks the server again.
    let urlLifetimeSeconds: Int
    /// Blobs known to be stored, with their sizes: objects never change, so once seen, a
    /// blob needs no second HEAD. Cleared when it grows past `knownCapacity`.
    private let known = Mutex<[SHA256Digest: UInt64]>([:])
    private static let knownCapacity = 1_000_000

    /// Connects to the bucket and checks that it is there and the keys are accepted, so a
    /// wrong setting stops the server at start, not at the first upload.
    public static func open(location: S3Location, credentials: S3Credentials, allowHTTP: Bool, urlLifetimeSeconds: Int,
                            spoolDirectory: String) async throws -> S3ContentStore {
        let store = S3ContentStore(client: S3Client(location: location, credentials: credentials, allowHTTP: allowHTTP),
                                   spool: try UploadSpool(directory: spoolDirectory), urlLifetimeSeconds: urlLifetimeSeconds)
        let answer = try await store.client.send("HEAD", key: nil)
        switch answer.status {
        case 200: return store
        case 404: throw ContentError.storage("the bucket \(location.bucket) does not exist at \(location.endpoint) (create it first)")
        case 301, 307: throw ContentError.storage("the bucket \(location.bucket) is served from another endpoint or region than \(location.endpoint) (\(location.region))")
        case 401, 403: throw ContentError.storage("\(location.endpoint) refused the keys for bucket \(location.bucket) (\(answer.status)); check AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and the region")
        default: throw ContentError.storage("\(location.endpoint) answered HEAD of bucket \(location.bucket) with \(S3Client.describe(answer))")
        }
    }

    init(client: S3Client, spool: UploadSpool, urlLifetimeSeconds: Int) {
        self.client = client
        self.spool = spool
        self.urlLifetimeSeconds = urlLifetimeSeconds
    }

    private var location: S3Location { client.location }

    public func put(_ digest: SHA256Digest, body: some AsyncSequence<ByteBuffer, any Error>, maximumSize: UInt64) async throws -> UInt64 {
        let spooled = try await spool.receive(digest, body: body, maximumSize: maximumSize)
        let answer = try await client.send("PUT", key: location.key(of: digest),
                                           headers: ["x-amz-content-sha256": digest.hex, "Content-Type": "application/octet-stream"],
                                           body: .file(path: spooled.path, offset: 0, length: spooled.size))
        guard answer.status == 200 else { throw ContentError.storage("storing \(digest.short) in \(location.description): \(S3Client.describe(answer))") }
        remember(digest, size: spooled.size)
        return spooled.size
    }

    public func size(of digest: SHA256Digest) async throws -> UInt64? {
        if let size = known.withLock({ $0[digest] }) { return size }
        let answer = try await client.send("HEAD", key: location.key(of: digest))
        switch answer.status {
        case 200:
            guard let size = answer.headers["content-length"].flatMap({ UInt64($0) }) else {
                throw ContentError.storage("\(location.endpoint) answered HEAD of \(digest.short) without a length")
            }
            remember(digest, size: size)
            return size
        case 404: return nil
        default: throw ContentError.storage("HEAD of \(digest.short) in \(location.description): \(S3Client.describe(answer))")
        }
    }

    public func missing(_ digests: [SHA256Digest]) async throws -> [SHA256Digest] {
        let present = try await concurrently(digests) { [self] in try await size(of: $0) != nil }
        return zip(digests, present).filter { !$0.1 }.map(\.0)
    }

    public func read(_ pieces: [BlobPiece]) async throws -> ByteBuffer {
        let parts = try await concurrently(pieces) { [self] piece -> [UInt8] in
            guard piece.length > 0 else { return [] }
            let answer = try await client.send("GET", key: location.key(of: piece.blob),
                                               headers: ["Range": "bytes=\(piece.offset)-\(piece.offset + piece.length - 1)"],
                                               maxResponseBytes: Int64(piece.length))
            guard answer.status == 206 || (answer.status == 200 && piece.offset == 0), answer.body.count == Int(piece.length) else {
                throw ContentError.storage("reading \(piece.length) bytes of \(piece.blob.short) at \(piece.offset) from \(location.description): \(S3Client.describe(answer))")
            }
            return answer.body
        }
        var buffer = ByteBufferAllocator().buffer(capacity: parts.reduce(0) { $0 + $1.count })
        for part in parts { buffer.writeBytes(part) }
        return buffer
    }

    public func directURL(of digest: SHA256Digest) -> String? {
        let (base, path) = location.address(of: location.key(of: digest))
        return S3Signature(credentials: client.credentials, region: location.region)
            .presignedGET(base: base, host: location.host, path: path, now: Timestamp.epochSeconds(), lifetime: urlLifetimeSeconds)
    }

    public var redirectHosts: [String] {
        // The authority of the presigned URLs, with a default port left out.
        let authority = location.host.lowercased()
        let scheme = location.scheme
        if let colon = authority.lastIndex(of: ":"), !authority.hasSuffix("]"), let port = Int(authority[authority.index(after: colon)...]) {
            return [ContentHost.normalized(host: String(authority[..<colon]), port: port, scheme: scheme)]
        }
        return [authority]
    }

    /// Only the local spool: an object in the store is never partial.
    public func removeIncompleteUploads() throws { try spool.removeAll() }

    private func remember(_ digest: SHA256Digest, size: UInt64) {
        known.withLock { known in
            if known.count >= Self.knownCapacity { known.removeAll() }
            known[digest] = size
        }
    }

    /// `work` for each item, at most `client.concurrency` at once; the results in order.
    private func concurrently<Item: Sendable, Result: Sendable>(_ items: [Item], _ work: @escaping @Sendable (Item) async throws -> Result) async throws -> [Result] {
        try await withThrowingTaskGroup(of: (Int, Result).self) { group in
            var results = [Result?](repeating: nil, count: items.count)
            var next = 0
            func start() {
                let index = next, item = items[index]
                group.addTask { (index, try await work(item)) }
                next += 1
            }
            while next < min(items.count, client.concurrency) { start() }
            while let (index, result) = try await group.next() {
                results[index] = result
                if next < items.count { start() }
            }
            return results.map { $0! }
        }
    }
}
