#if canImport(Glibc)
import Glibc
#endif

/// Where a `TarReader` gets its bytes: a file on disk, or memory (tests and the fuzzer).
public protocol TarInput {
    /// Reads up to `buffer.count` bytes; 0 means end of input.
    mutating func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int
    /// Skips up to `count` bytes and returns how many were skipped (fewer only at the end).
    mutating func skip(_ count: UInt64) throws -> UInt64
}

public struct MemoryTarInput: TarInput {
    public let bytes: [UInt8]
    public private(set) var position = 0

    public init(_ bytes: [UInt8]) { self.bytes = bytes }

    public mutating func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let count = min(buffer.count, bytes.count - position)
        if count > 0 {
            bytes.withUnsafeBytes { source in
                buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: source[position..<position + count]))
            }
        }
        position += count
        return count
    }

    public mutating func skip(_ count: UInt64) throws -> UInt64 {
        let skipped = Int(min(count, UInt64(bytes.count - position)))
        position += skipped
        return UInt64(skipped)
    }
}

/// Reads a file with `pread` from a moving offset; skipping is free.
public final class FileTarInput: TarInput {
    private let file: File
    public let size: UInt64
    public private(set) var offset: UInt64 = 0

    public init(path: String) throws {
        file = try File.open(path, .readOnly)
        size = try file.size()
    }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        while true {
            let count = pread(file.descriptor, buffer.baseAddress, buffer.count, off_t(offset))
            if count >= 0 {
                offset += UInt64(count)
                return count
            }
            if errno != EINTR { throw FileError("read", file.path) }
        }
    }

    public func skip(_ count: UInt64) throws -> UInt64 {
        let skipped = min(count, size - min(offset, size))
        offset += skipped
        return skipped
    }
}
