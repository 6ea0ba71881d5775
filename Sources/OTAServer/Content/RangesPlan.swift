import OTACore

/// How the server reads the bytes of a `ranges` request from its content store, so that a
/// request costs what it returns: nearby pieces of one blob are merged into one read, at most
/// `maximumReads` reads are made, each at most `maximumReadBytes`, and the bytes read beyond
/// those returned stay under `returned + slackBytes` (so read ≤ 2 × returned + 1 MiB).
///
/// The answer is the longest prefix of the requested bytes (the ranges back to back) that
/// fits: a device keeps every complete chunk that arrived and asks again for the rest, so a
/// request that asks for too much is answered in part, never refused outright.
struct RangesPlan: Equatable {
    static let maximumReads = DeviceAPI.RangesRequest.storeReadsPerRequest
    static let maximumReadBytes: UInt64 = 1 << 20
    static let slackBytes: UInt64 = 1 << 20

    /// One store request, and the parts of it that go into the answer, in answer order.
    struct Read: Equatable {
        var piece: BlobPiece
        /// Offsets within `piece` and lengths of the bytes sent.
        var sent: [(offset: UInt64, length: UInt64)]

        static func == (a: Read, b: Read) -> Bool {
            a.piece == b.piece && a.sent.map(\.offset) == b.sent.map(\.offset) && a.sent.map(\.length) == b.sent.map(\.length)
        }
    }

    var reads: [Read] = []
    /// Bytes of the answer: a prefix of the requested bytes.
    var returnedBytes: UInt64 = 0
    var readBytes: UInt64 { reads.reduce(0) { $0 + $1.piece.length } }

    /// Plans `ranges` (in order, apart, inside the file) of `file`.
    init(_ ranges: [ClosedRange<UInt64>], of file: StoredFile) {
        var wasted: UInt64 = 0
        planning: for range in ranges {
            for slice in file.slices(of: range) {
                var offset = slice.offset
                var left = slice.length
                while left > 0 {
                    if var last = reads.last, last.piece.blob == slice.blob, offset >= last.piece.offset + last.piece.length {
                        // The same blob, further on: extend the read over the gap if it stays
                        // within the read's size and the waste budget.
                        let gap = offset - (last.piece.offset + last.piece.length)
                        let room = Self.maximumReadBytes - min(Self.maximumReadBytes, last.piece.length + gap)
                        if room > 0, wasted + gap <= returnedBytes + Self.slackBytes {
                            let take = min(left, room)
                            last.sent.append((offset - last.piece.offset, take))
                            last.piece = BlobPiece(blob: last.piece.blob, offset: last.piece.offset, length: last.piece.length + gap + take)
                            reads[reads.count - 1] = last
                            wasted += gap
                            returnedBytes += take
                            offset += take
                            left -= take
                            continue
                        }
                    }
                    guard reads.count < Self.maximumReads else { break planning }
                    let take = min(left, Self.maximumReadBytes)
                    reads.append(Read(piece: BlobPiece(blob: slice.blob, offset: offset, length: take), sent: [(0, take)]))
                    returnedBytes += take
                    offset += take
                    left -= take
                }
            }
        }
    }
}
