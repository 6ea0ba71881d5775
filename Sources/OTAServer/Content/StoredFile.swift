import OTACore

/// Where the bytes of one payload file are: a blob stored whole, or the blobs of its
/// content-defined chunks in order (a file published as chunks is never stored whole).
struct StoredFile: Sendable {
    /// A run of the file's bytes: a whole blob.
    struct Segment: Sendable {
        let blob: SHA256Digest
        /// Where the segment starts in the file.
        let fileOffset: UInt64
        let length: UInt64
    }

    let size: UInt64
    let segments: [Segment]

    /// The file `digest` stored whole.
    static func whole(_ digest: SHA256Digest, size: UInt64) -> StoredFile {
        StoredFile(size: size, segments: [.init(blob: digest, fileOffset: 0, length: size)])
    }

    /// A file stored as its chunks.
    static func chunked(_ chunks: [Chunk], size: UInt64) -> StoredFile {
        StoredFile(size: size, segments: chunks.map { .init(blob: $0.sha256, fileOffset: $0.offset, length: $0.length) })
    }

    /// The blob holding all of the file, when it is stored whole.
    var wholeBlob: SHA256Digest? { segments.count == 1 && segments[0].length == size ? segments[0].blob : nil }

    /// The pieces of blobs that hold `range` of the file, in order.
    func slices(of range: ClosedRange<UInt64>) -> [BlobPiece] {
        let end = range.upperBound + 1
        // The first segment that ends after the range's start (segments are in file order).
        var low = 0, high = segments.count
        while low < high {
            let middle = (low + high) / 2
            if segments[middle].fileOffset + segments[middle].length <= range.lowerBound { low = middle + 1 } else { high = middle }
        }
        var result: [BlobPiece] = []
        var index = low
        while index < segments.count, segments[index].fileOffset < end {
            let segment = segments[index]
            let start = max(range.lowerBound, segment.fileOffset)
            let stop = min(end, segment.fileOffset + segment.length)
            result.append(BlobPiece(blob: segment.blob, offset: start - segment.fileOffset, length: stop - start))
            index += 1
        }
        return result
    }

    /// Reads of at most this many bytes when a whole file is checked.
    static let checkReadSize: UInt64 = 4 << 20

    /// The SHA-256 of the bytes the segments hold together (publishing checks that a file's
    /// chunks really make the file its signed manifest names).
    func digest(in content: any ContentStore) async throws -> SHA256Digest {
        let hasher = SHA256Hasher()
        var offset: UInt64 = 0
        while offset < size {
            let length = min(Self.checkReadSize, size - offset)
            let buffer = try await content.read(slices(of: offset...(offset + length - 1)))
            guard buffer.readableBytes == Int(length) else { throw ContentError.storage("the chunks of a file hold fewer bytes than recorded") }
            buffer.withUnsafeReadableBytes { hasher.update($0) }
            offset += length
        }
        return hasher.finalize()
    }

    /// The SHA-1 and MD5 of the file, for DDI clients that check only those. Also checks the
    /// SHA-256 as it goes: a store that returns other bytes is an error, not a hash.
    func legacyDigests(in content: any ContentStore, expecting expected: SHA256Digest) async throws -> LegacyDigests {
        let hasher = SHA256Hasher()
        let legacy = LegacyDigests.Hasher()
        var offset: UInt64 = 0
        while offset < size {
            let length = min(Self.checkReadSize, size - offset)
            let buffer = try await content.read(slices(of: offset...(offset + length - 1)))
            guard buffer.readableBytes == Int(length) else { throw ContentError.storage("the stored file holds fewer bytes than recorded") }
            buffer.withUnsafeReadableBytes { bytes in
                hasher.update(bytes)
                legacy.update(bytes)
            }
            offset += length
        }
        guard hasher.finalize() == expected else { throw ContentError.storage("the stored bytes of \(expected.short) do not match its SHA-256") }
        return legacy.finish()
    }

    /// The index of the first of `chunks` whose bytes in this file do not match its SHA-256.
    func firstMismatch(_ chunks: [Chunk], in content: any ContentStore) async throws -> Int? {
        var index = 0
        while index < chunks.count {
            // As many whole chunks as fit in one read (at least one).
            var last = index
            while last + 1 < chunks.count, chunks[last + 1].end - chunks[index].offset <= Self.checkReadSize { last += 1 }
            let start = chunks[index].offset, end = chunks[last].end
            guard end <= size, end > start else { return index }
            let buffer = try await content.read(slices(of: start...(end - 1)))
            guard buffer.readableBytes == Int(end - start) else { return index }
            let mismatch: Int? = buffer.withUnsafeReadableBytes { bytes in
                for position in index...last {
                    let chunk = chunks[position]
                    let from = Int(chunk.offset - start)
                    if SHA256Digest.of(UnsafeRawBufferPointer(rebasing: bytes[from..<(from + Int(chunk.length))])) != chunk.sha256 { return position }
                }
                return nil
            }
            if let mismatch { return mismatch }
            index = last + 1
        }
        return nil
    }
}
