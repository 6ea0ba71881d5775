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
    private let spool: UploadSpool
    private var content: String { root + "/content" }

    public init(root: String) throws {
        self.root = root
        spool = try UploadSpool(directory: root + "/uploads")
        try FileSystem.createDirectory(root + "/content", permissions: 0o755)
    }

    /// The file holding blob `digest` (present or not).
    func path(of digest: SHA256Digest) -> String {
        "\(content)/\(digest.hex.prefix(2))/\(digest.hex)"
    }

    public func size(of digest: SHA256Digest) async throws -> UInt64? {
        let path = path(of: digest)
        return FileSystem.kind(of: path) == .regular ? FileSystem.fileSize(path) : nil
    }

    public func missing(_ digests: [SHA256Digest]) async throws -> [SHA256Digest] {
        // One stat per blob, up to 50,000 for a large chunked file: off the event loops.
        try await NIOThreadPool.singleton.runIfActive {
            digests.filter { FileSystem.kind(of: path(of: $0)) != .regular }
        }
    }

    public func directURL(of digest: SHA256Digest) -> String? { nil }

    public var redirectHosts: [String] { [] }

    public func put(_ digest: SHA256Digest, body: some AsyncSequence<ByteBuffer, any Error>, maximumSize: UInt64) async throws -> UInt64 {
        let spooled = try await spool.receive(digest, body: body, maximumSize: maximumSize)
        let destination = path(of: digest)
        // fsync and rename can block for a while on a busy disk: keep them off the event loops.
        try await NIOThreadPool.singleton.runIfActive {
            guard fsync(spooled.file.descriptor) == 0 else { throw ContentError.storage("fsync of \(spooled.path) failed") }
            try FileSystem.createDirectory(FileSystem.parent(of: destination))
            try FileSystem.rename(spooled.path, to: destination)
            spooled.kept = true
            try FileSystem.syncDirectory(containing: destination)
        }
        return spooled.size
    }

    public func read(_ pieces: [BlobPiece]) async throws -> ByteBuffer {
        let count = Int(pieces.reduce(0) { $0 + $1.length })
        // One trip to the thread pool for all pieces: a slow disk never blocks an event loop.
        return try await NIOThreadPool.singleton.runIfActive {
            var buffer = ByteBufferAllocator().buffer(capacity: count)
            var openBlob: SHA256Digest?
            var descriptor: Int32 = -1
            defer { if descriptor >= 0 { close(descriptor) } }
            for piece in pieces {
                if piece.blob != openBlob {
                    if descriptor >= 0 { close(descriptor) }
                    descriptor = open(path(of: piece.blob), O_RDONLY | O_CLOEXEC)
                    openBlob = piece.blob
                    guard descriptor >= 0 else { throw ContentError.storage("blob \(piece.blob.short) disappeared from \(content)") }
                }
                let length = Int(piece.length)
                let read = buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: length) { pointer in
                    max(0, pread(descriptor, pointer.baseAddress, length, off_t(piece.offset)))
                }
                guard read == length else { throw ContentError.storage("blob \(piece.blob.short) is shorter than recorded") }
            }
            return buffer
        }
    }

    public func removeIncompleteUploads() throws { try spool.removeAll() }
}
