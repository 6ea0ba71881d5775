#if canImport(Glibc)
import Glibc
#endif

/// A file being rebuilt in place from its signed chunk list: each chunk is written at its own
/// offset once its bytes match its SHA-256, wherever they came from.
public final class ChunkedFile {
    public let chunks: [Chunk]
    public let size: UInt64
    private let file: File
    private let buffer: UnsafeMutableRawBufferPointer
    /// Which chunks hold their signed bytes.
    public private(set) var placed: [Bool]
    public private(set) var missingBytes: UInt64
    /// Where each distinct chunk occurs in the file (zeros, for one, occur many times).
    private let positions: [SHA256Digest: [Int]]

    /// A batch of missing chunks and the ranges of the file that hold them. Each chunk appears
    /// once even when its bytes occur several times in the file.
    public struct Batch: Sendable {
        public let indices: [Int]
        public let ranges: [DeviceAPI.RangesRequest.Range]
    }

    public struct Outcome: Sendable {
        public let receivedBytes: UInt64
        public let placedBytes: UInt64
        /// A chunk that arrived whole with other bytes than signed.
        public let corruptChunk: Int?
    }

    /// Opens (or creates, 0600) the file at `path`, sized to `size`. The chunk list must
    /// have passed `ChunkList.problem` for `size`.
    public init(path: String, size: UInt64, chunks: [Chunk]) throws {
        if !FileSystem.exists(path) { _ = try File.open(path, .createNew(permissions: 0o600)) }
        file = try File.open(path, .readWrite)
        if try file.size() != size { try file.truncate(to: size) }
        self.chunks = chunks
        self.size = size
        placed = Array(repeating: false, count: chunks.count)
        missingBytes = size
        positions = Dictionary(grouping: chunks.indices, by: { chunks[$0].sha256 })
        buffer = .allocate(byteCount: Int(chunks.map(\.length).max() ?? 0), alignment: 16)
    }

    deinit { buffer.deallocate() }

    /// After a restart: marks the chunks the file already holds.
    public func findPlaced() throws {
        for index in chunks.indices where !placed[index] {
            let chunk = chunks[index]
            let bytes = try read(file, at: chunk.offset, length: chunk.length)
            if bytes.count == Int(chunk.length) && SHA256Digest.of(bytes) == chunk.sha256 {
                placed[index] = true
                missingBytes -= chunk.length
            }
        }
    }

    /// Copies every missing chunk that `seeds` (or this file, earlier) already hold. A seed is
    /// cut with the same chunker that made the list, so unchanged stretches give equal chunks.
    public func copyHeld(from seeds: [String]) throws {
        var wanted: [SHA256Digest: UInt64] = [:]
        for (chunk, done) in zip(chunks, placed) where !done { wanted[chunk.sha256] = chunk.length }
        for (chunk, done) in zip(chunks, placed) where done && wanted[chunk.sha256] != nil {
            try copy(chunk.sha256, from: file, at: chunk.offset, length: chunk.length)
            wanted[chunk.sha256] = nil
        }
        for seed in seeds where !wanted.isEmpty {
            guard let source = try? File.open(seed, .readOnly),
                  let found = try? ContentDefinedChunker().chunks(ofFile: seed) else { continue }
            for chunk in found where wanted[chunk.sha256] == chunk.length {
                if try copy(chunk.sha256, from: source, at: chunk.offset, length: chunk.length) { wanted[chunk.sha256] = nil }
            }
        }
    }

    /// The next missing chunks to fetch: up to `maximumBytes` and `maximumRanges` ranges, with
    /// neighbouring chunks merged into one range.
    /// `maximumChunks`: the server stores each chunk as a blob of its own and reads at most
    /// so many per request, so a batch asks for no more.
    public func nextBatch(maximumBytes: UInt64, maximumRanges: Int, maximumChunks: Int = .max) -> Batch? {
        var indices: [Int] = []
        var ranges: [DeviceAPI.RangesRequest.Range] = []
        var digests = Set<SHA256Digest>()
        var bytes: UInt64 = 0
        for index in chunks.indices where !placed[index] && bytes < maximumBytes && indices.count < maximumChunks {
            let chunk = chunks[index]
            guard digests.insert(chunk.sha256).inserted else { continue }
            if let last = ranges.last, last.offset + last.length == chunk.offset {
                ranges[ranges.count - 1].length += chunk.length
            } else {
                guard ranges.count < maximumRanges else { break }
                ranges.append(.init(offset: chunk.offset, length: chunk.length))
            }
            indices.append(index)
            bytes += chunk.length
        }
        return indices.isEmpty ? nil : Batch(indices: indices, ranges: ranges)
    }

    /// Places the chunks of `batch` found complete and intact in `answer` (the chunks back to
    /// back, as far as the transfer got), stopping at the first corrupt one.
    public func place(_ batch: Batch, from answer: String) throws -> Outcome {
        let received = FileSystem.fileSize(answer) ?? 0
        guard received > 0, let source = try? File.open(answer, .readOnly) else {
            return Outcome(receivedBytes: received, placedBytes: 0, corruptChunk: nil)
        }
        var offset: UInt64 = 0
        var placedBytes: UInt64 = 0
        for index in batch.indices {
            let chunk = chunks[index]
            guard received - offset >= chunk.length else { break }
            let before = missingBytes
            guard try copy(chunk.sha256, from: source, at: offset, length: chunk.length) else {
                return Outcome(receivedBytes: received, placedBytes: placedBytes, corruptChunk: index)
            }
            placedBytes += before - missingBytes
            offset += chunk.length
        }
        return Outcome(receivedBytes: received, placedBytes: placedBytes, corruptChunk: nil)
    }

    /// Makes the file durable and returns its SHA-256 (every chunk placed).
    public func finish() throws -> SHA256Digest {
        precondition(!placed.contains(false), "finish() before every chunk is placed")
        try file.sync()
        guard try file.size() == size else { throw FileError("rebuild (it is not \(size) bytes)", file.path, code: EIO) }
        let hasher = SHA256Hasher()
        for chunk in chunks {
            let bytes = try read(file, at: chunk.offset, length: chunk.length)
            hasher.update(bytes)
        }
        return hasher.finalize()
    }

    /// Reads `length` bytes of `source` at `offset`; if they hash to `digest`, writes them at
    /// every missing chunk with that digest. False when they do not match.
    @discardableResult
    private func copy(_ digest: SHA256Digest, from source: borrowing File, at offset: UInt64, length: UInt64) throws -> Bool {
        let bytes = try read(source, at: offset, length: length)
        guard bytes.count == Int(length), SHA256Digest.of(bytes) == digest else { return false }
        for index in positions[digest] ?? [] where !placed[index] && chunks[index].length == length {
            try file.write(bytes, at: chunks[index].offset)
            placed[index] = true
            missingBytes -= chunks[index].length
        }
        return true
    }

    private func read(_ source: borrowing File, at offset: UInt64, length: UInt64) throws -> UnsafeRawBufferPointer {
        let count = try source.read(at: offset, into: UnsafeMutableRawBufferPointer(rebasing: buffer[..<Int(length)]))
        return UnsafeRawBufferPointer(rebasing: buffer[..<count])
    }
}
