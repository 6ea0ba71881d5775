import NIOCore
import OTACore
#if canImport(Glibc)
import Glibc
#endif

/// Where uploads land first: a private folder of `.part` files, hashed on the way in. A
/// store takes a spooled file only once its bytes match their name.
struct UploadSpool: Sendable {
    let directory: String

    init(directory: String) throws {
        self.directory = directory
        try FileSystem.createDirectory(directory, permissions: 0o700)
    }

    /// An upload that matched its digest. The caller moves the file away or it is deleted
    /// when the spooled upload goes away. Used by one request at a time, which may hand it
    /// to a thread pool and wait.
    final class Spooled: @unchecked Sendable {
        let path: String
        let size: UInt64
        let file: File
        var kept = false

        init(path: String, size: UInt64, file: consuming File) {
            self.path = path
            self.size = size
            self.file = file
        }

        deinit { if !kept { unlink(path) } }
    }

    /// Streams `body` into a new file; throws (keeping nothing) when it is larger than
    /// `maximumSize` or does not hash to `digest`.
    func receive(_ digest: SHA256Digest, body: some AsyncSequence<ByteBuffer, any Error>, maximumSize: UInt64) async throws -> Spooled {
        let path = "\(directory)/\(digest.hex).\(Hex.encode(SecureRandom.bytes(6))).part"
        let file = try File.open(path, .createNew(permissions: 0o644))
        var completed = false
        defer { if !completed { unlink(path) } }
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
        completed = true
        return Spooled(path: path, size: size, file: file)
    }

    func removeAll() throws {
        for name in try FileSystem.list(directory) { try FileSystem.remove("\(directory)/\(name)") }
    }
}
