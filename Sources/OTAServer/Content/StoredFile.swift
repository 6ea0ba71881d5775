import OTACore

/// Where the bytes of one payload file are: a blob stored whole, or the blobs of its
/// content-defined chunks in order (a file published as chunks is never stored whole).
struct StoredFile: Sendable {
    /// A run of the file's bytes inside one stored blob.
    struct Segment: Sendable {
        let path: String
        /// Where the segment starts in the file.
        let fileOffset: UInt64
        let length: UInt64
    }

    let size: UInt64
    let segments: [Segment]

    /// The pieces of blobs that hold `range` of the file, in order: (blob path, offset in
    /// the blob, length).
    func slices(of range: ClosedRange<UInt64>) -> [(path: String, offset: UInt64, length: UInt64)] {
        let end = range.upperBound + 1
        // The first segment that ends after the range's start (segments are in file order).
        var low = 0, high = segments.count
        while low < high {
            let middle = (low + high) / 2
            if segments[middle].fileOffset + segments[middle].length <= range.lowerBound { low = middle + 1 } else { high = middle }
        }
        var result: [(String, UInt64, UInt64)] = []
        var index = low
        while index < segments.count, segments[index].fileOffset < end {
            let segment = segments[index]
            let start = max(range.lowerBound, segment.fileOffset)
            let stop = min(end, segment.fileOffset + segment.length)
            result.append((segment.path, start - segment.fileOffset, stop - start))
            index += 1
        }
        return result
    }

    /// The SHA-256 of the bytes the segments hold together (publishing checks that a file's
    /// chunks really make the file its signed manifest names).
    func digest() throws -> SHA256Digest {
        let hasher = SHA256Hasher()
        for segment in segments {
            let file = try File.open(segment.path, .readOnly)
            var read: UInt64 = 0
            try file.forEachChunk { bytes in
                read += UInt64(bytes.count)
                hasher.update(bytes)
            }
            guard read == segment.length else { throw ContentError.storage("\(segment.path) holds \(read) bytes, not \(segment.length)") }
        }
        return hasher.finalize()
    }
}
