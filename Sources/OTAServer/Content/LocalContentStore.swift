import NIOCore
import NIOPosix
import OTACore
#if canImport(Glibc)
import Glibc
#endif

/// Content in a folder: `DATA/content/ab/abcdef…`. Uploads stream into `DATA/uploads/`, are
/// fsynced, and only then renamed into place, so a file under `content/` is always complete
/// and matches its name.
public struct LocalContentStore: ContentStore {
    public let root: String
    private var uploads: String { root + "/uploads" }
    private var content: String { root + "/content" }

    public init(root: String) throws {
        self.root = root
        try FileSystem.createDirectory(root + "/uploads", permissions: 0o700)
        try FileSystem.createDirectory(root + "/content", permissions: 0o755)
    }

    public func path(of digest: SHA256Digest) -> String? {
        let path = finalPath(digest)
        return FileSystem.kind(of: path) == .regular ? path : nil
    }

    private func finalPath(_ digest: SHA256Digest) -> String {
        "\(content)/\(digest.hex.prefix(2))/\(digest.hex)"
    }

    public func put(_ digest: SHA256Digest, body: some AsyncSequence<ByteBuffer, any Error>, maximumSize: UInt64) async throws -> UInt64 {
        let temporary = "\(uploads)/\(digest.hex).\(Hex.encode(SecureRandom.bytes(6))).part"
        let file = try File.open(temporary, .createNew(permissions: 0o644))
        let descriptor = file.descriptor
        var keep = false
        defer { if !keep { unlink(temporary) } }
        let hasher = SHA256Hasher()
        var size: UInt64 = 0
        for try await buffer in body {
            size += UInt64(buffer.readableBytes)
            guard size <= maximumSize else { throw ContentError.tooLarge(maximumSize) }
            try buffer.withUnsafeReadableBytes { bytes in
                hasher.update(bytes)
                try file.write(bytes)
            }
        }
        let actual = hasher.finalize()
        guard actual == digest else { throw ContentError.digestMismatch(expected: digest.hex, actual: actual.hex) }
        let destination = finalPath(digest)
        // fsync and rename can block for a while on a busy disk: keep them off the event loops.
        try await NIOThreadPool.singleton.runIfActive {
            guard fsync(descriptor) == 0 else { throw ContentError.storage("fsync of \(temporary) failed") }
            try FileSystem.createDirectory(FileSystem.parent(of: destination))
            try FileSystem.rename(temporary, to: destination)
            try FileSystem.syncDirectory(containing: destination)
        }
        keep = true
        file.close()
        return size
    }

    public func removeIncompleteUploads() throws {
        for name in try FileSystem.list(uploads) { try FileSystem.remove("\(uploads)/\(name)") }
    }
}
