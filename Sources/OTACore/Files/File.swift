#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

public struct FileError: Error, CustomStringConvertible, Equatable, Sendable {
    public let path: String
    public let operation: String
    public let code: Int32

    public init(_ operation: String, _ path: String, code: Int32 = errno) {
        self.operation = operation
        self.path = path
        self.code = code
    }

    public var description: String {
        "cannot \(operation) \(path): \(String(cString: strerror(code)))"
    }

    public var isNotFound: Bool { code == ENOENT }
}

/// A file descriptor with the handful of operations the updater needs, each turning `errno`
/// into a `FileError` that names the file. It closes when it goes out of scope, or earlier with `close()`.
public struct File: ~Copyable {
    public let descriptor: Int32
    public let path: String

    public enum Mode {
        case readOnly
        /// Read only, refusing a final symbolic link and never blocking on a pipe.
        case readOnlyNoFollow
        /// Create or truncate, with the given permission bits.
        case create(permissions: mode_t)
        /// Create; fail if the file exists (keys must never be overwritten silently).
        case createNew(permissions: mode_t)
        /// Open for appending, creating it if needed (resumable downloads).
        case append(permissions: mode_t)
        case readWrite
    }

    public static func open(_ path: String, _ mode: Mode) throws -> File {
        let flags: Int32
        var permissions: mode_t = 0
        switch mode {
        case .readOnly: flags = O_RDONLY
        case .readOnlyNoFollow: flags = O_RDONLY | O_NOFOLLOW | O_NONBLOCK
        case .create(let p): flags = O_WRONLY | O_CREAT | O_TRUNC; permissions = p
        case .createNew(let p): flags = O_WRONLY | O_CREAT | O_EXCL; permissions = p
        case .append(let p): flags = O_WRONLY | O_CREAT | O_APPEND; permissions = p
        case .readWrite: flags = O_RDWR
        }
        let fd = Glibc.open(path, flags | O_CLOEXEC, permissions)
        guard fd >= 0 else { throw FileError("open", path) }
        return File(descriptor: fd, path: path)
    }

    private init(descriptor: Int32, path: String) {
        self.descriptor = descriptor
        self.path = path
    }

    /// Ends the file's lifetime; `deinit` closes the descriptor.
    public consuming func close() {}

    deinit { _ = Glibc.close(descriptor) }

    /// Reads up to `buffer.count` bytes; 0 means end of file.
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        while true {
            let count = Glibc.read(descriptor, buffer.baseAddress, buffer.count)
            if count >= 0 { return count }
            if errno != EINTR { throw FileError("read", path) }
        }
    }

    /// Reads exactly `buffer.count` bytes, or fewer only at end of file.
    public func readFully(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        var total = 0
        while total < buffer.count {
            let count = try read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[total...]))
            if count == 0 { break }
            total += count
        }
        return total
    }

    public func write(_ buffer: UnsafeRawBufferPointer) throws {
        var offset = 0
        while offset < buffer.count {
            let count = Glibc.write(descriptor, buffer.baseAddress! + offset, buffer.count - offset)
            if count < 0 {
                if errno == EINTR { continue }
                throw FileError("write", path)
            }
            offset += count
        }
    }

    public func write(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try write($0) }
    }

    /// Reads exactly `buffer.count` bytes at `offset` (without moving the file position), or
    /// fewer only at end of file.
    public func read(at offset: UInt64, into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        var total = 0
        while total < buffer.count {
            let count = pread(descriptor, buffer.baseAddress! + total, buffer.count - total, off_t(offset) + off_t(total))
            if count < 0 {
                if errno == EINTR { continue }
                throw FileError("read", path)
            }
            if count == 0 { break }
            total += count
        }
        return total
    }

    /// Writes all of `buffer` at `offset` (without moving the file position).
    public func write(_ buffer: UnsafeRawBufferPointer, at offset: UInt64) throws {
        var total = 0
        while total < buffer.count {
            let count = pwrite(descriptor, buffer.baseAddress! + total, buffer.count - total, off_t(offset) + off_t(total))
            if count < 0 {
                if errno == EINTR { continue }
                throw FileError("write", path)
            }
            total += count
        }
    }

    public func sync() throws {
        guard fsync(descriptor) == 0 else { throw FileError("fsync", path) }
    }

    public func size() throws -> UInt64 {
        var info = stat()
        guard fstat(descriptor, &info) == 0 else { throw FileError("stat", path) }
        return UInt64(info.st_size)
    }

    public func seek(to offset: UInt64) throws {
        guard lseek(descriptor, off_t(offset), SEEK_SET) >= 0 else { throw FileError("seek in", path) }
    }

    public func truncate(to length: UInt64) throws {
        guard ftruncate(descriptor, off_t(length)) == 0 else { throw FileError("truncate", path) }
    }

    /// Calls `body` with successive chunks of the rest of the file, in constant memory.
    public func forEachChunk(size: Int = 1 << 20, _ body: (UnsafeRawBufferPointer) throws -> Void) throws {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 16)
        defer { buffer.deallocate() }
        while true {
            let count = try read(into: buffer)
            if count == 0 { return }
            try body(UnsafeRawBufferPointer(rebasing: buffer[..<count]))
        }
    }

    /// Reads the rest of the file into memory, refusing files larger than `limit`.
    public func readAll(limit: Int) throws -> [UInt8] {
        var out: [UInt8] = []
        try forEachChunk(size: 64 * 1024) { chunk in
            guard out.count + chunk.count <= limit else { throw FileError("read (larger than \(limit) bytes)", path, code: EFBIG) }
            out.append(contentsOf: chunk)
        }
        return out
    }
}
