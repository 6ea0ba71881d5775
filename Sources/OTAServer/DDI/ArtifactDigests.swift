import OTACore
import Synchronization

/// The SHA-1 and MD5 of client images, which DDI clients check (they know no SHA-256):
/// computed when the image is published, or once when first asked for an older one, and kept.
/// However many devices ask at once, one computation runs per file.
final class ArtifactDigests: Sendable {
    let store: DDIStore
    let storedFiles: StoredFiles
    let content: any ContentStore
    private let running = Mutex<[SHA256Digest: Task<LegacyDigests, any Error>]>([:])

    init(store: DDIStore, storedFiles: StoredFiles, content: any ContentStore) {
        self.store = store
        self.storedFiles = storedFiles
        self.content = content
    }

    func digests(of digest: SHA256Digest) async throws -> LegacyDigests {
        if let known = try await store.digests(of: digest) { return known }
        let task = running.withLock { running in
            if let task = running[digest] { return task }
            let task = Task { try await self.compute(digest) }
            running[digest] = task
            return task
        }
        defer { _ = running.withLock { $0.removeValue(forKey: digest) } }
        return try await task.value
    }

    private func compute(_ digest: SHA256Digest) async throws -> LegacyDigests {
        guard let stored = try await storedFiles.locate(digest) else {
            throw APIError(.notFound, .contentMissing, "content \(digest.short) is not stored on this server")
        }
        let digests = try await stored.legacyDigests(in: content, expecting: digest)
        try await store.store(digests, of: digest)
        return digests
    }
}
