import OTACore
import Synchronization

/// Finds stored files, and remembers the chunked ones: a device rebuilding a large model asks
/// for its ranges hundreds of times, and a file's chunk list (up to 50,000 rows and as many
/// blob paths) never changes once published, since blobs are named by their content.
final class StoredFiles: Sendable {
    let content: any ContentStore
    let bundles: BundleStore
    /// At most this many segments are kept in memory (about 100 bytes each).
    let capacity: Int
    private let cache = Mutex(Cache())

    private struct Cache {
        var files: [SHA256Digest: StoredFile] = [:]
        var order: [SHA256Digest] = []
        var segments = 0
    }

    init(content: any ContentStore, bundles: BundleStore, capacity: Int = 500_000) {
        self.content = content
        self.bundles = bundles
        self.capacity = capacity
    }

    /// The stored file `digest`, or nil when neither it nor all of its chunks are stored.
    func locate(_ digest: SHA256Digest) async throws -> StoredFile? {
        if let size = try await content.size(of: digest) { return .whole(digest, size: size) }
        if let cached = cache.withLock({ $0.files[digest] }) { return cached }
        guard let chunks = try await bundles.chunks(of: digest), let last = chunks.last else { return nil }
        guard try await content.missing(chunks.map(\.sha256)).isEmpty else { return nil }
        let found = StoredFile.chunked(chunks, size: last.end)
        remember(digest, found)
        return found
    }

    private func remember(_ digest: SHA256Digest, _ file: StoredFile) {
        guard file.segments.count <= capacity else { return }
        cache.withLock { cache in
            guard cache.files[digest] == nil else { return }
            while cache.segments + file.segments.count > capacity, !cache.order.isEmpty {
                let oldest = cache.order.removeFirst()
                cache.segments -= cache.files.removeValue(forKey: oldest)?.segments.count ?? 0
            }
            cache.files[digest] = file
            cache.order.append(digest)
            cache.segments += file.segments.count
        }
    }
}
