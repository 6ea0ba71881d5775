import Hummingbird
import Prometheus
import OTACore

/// Streams byte ranges of a stored file (one blob or its chunks): reads of up to `readSize`,
/// each gathering as many blobs (chunks) as fit, written as slices of `writeSize` (no copy),
/// so that the socket copies find the bytes still in the CPU's cache. Counts the bytes
/// really written.
enum FileStreaming {
    static let readSize: UInt64 = 1 << 20
    static let writeSize = 64 * 1024

    static func body(_ file: StoredFile, ranges: [ClosedRange<UInt64>], content: any ContentStore, sent: Counter) -> ResponseBody {
        let total = ranges.reduce(0) { $0 + $1.count }
        return ResponseBody(contentLength: total) { writer in
            var batch: [BlobPiece] = []
            var batchBytes: UInt64 = 0
            for range in ranges {
                for slice in file.slices(of: range) {
                    var offset = slice.offset
                    var left = slice.length
                    while left > 0 {
                        let take = min(left, readSize - batchBytes)
                        batch.append(BlobPiece(blob: slice.blob, offset: offset, length: take))
                        batchBytes += take
                        offset += take
                        left -= take
                        if batchBytes == readSize {
                            try await write(batch, from: content, to: &writer, sent: sent)
                            batch = []
                            batchBytes = 0
                        }
                    }
                }
            }
            if batchBytes > 0 { try await write(batch, from: content, to: &writer, sent: sent) }
            try await writer.finish(nil)
        }
    }

    /// Reads the pieces into one buffer in one call to the store, then writes it.
    private static func write(_ pieces: [BlobPiece], from content: any ContentStore, to writer: inout some ResponseBodyWriter, sent: Counter) async throws {
        var remaining = try await content.read(pieces)
        let count = remaining.readableBytes
        while remaining.readableBytes > 0, let slice = remaining.readSlice(length: min(writeSize, remaining.readableBytes)) {
            try await writer.write(slice)
        }
        sent.increment(by: Int64(count))
    }
}
