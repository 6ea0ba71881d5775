import OTACore
@testable import OTAServer
import Testing

/// How a `ranges` request is read from the content store: pure, in process.
@Suite("Reading ranges from the content store")
struct RangesPlanTests {
    static func chunked(_ count: Int, size: UInt64 = 65_536) -> StoredFile {
        let chunks = (0..<count).map { Chunk(offset: UInt64($0) * size, length: size, sha256: SHA256Digest.of(Array("chunk \($0)".utf8))) }
        return StoredFile.chunked(chunks, size: UInt64(count) * size)
    }

    @Test("Nearby ranges of one stored object are one read; the answer is every byte asked, in order")
    func merged() {
        let file = StoredFile.whole(SHA256Digest.of([1]), size: 10 << 20)
        let plan = RangesPlan([0...9, 100...199, 4096...4099], of: file)
        #expect(plan.reads.count == 1)
        #expect(plan.returnedBytes == 10 + 100 + 4)
        #expect(plan.reads[0].sent.map(\.offset) == [0, 100, 4096] && plan.reads[0].sent.map(\.length) == [10, 100, 4])
    }

    @Test("Ranges across more stored objects than one request may read are answered in part: a prefix of the bytes")
    func prefix() {
        let file = Self.chunked(100)
        let plan = RangesPlan((0..<100).map { UInt64($0) * 65_536...UInt64($0) * 65_536 }, of: file)
        #expect(plan.reads.count == 16)
        #expect(plan.returnedBytes == 16)
        #expect(plan.reads.map(\.piece.blob) == (0..<16).map { SHA256Digest.of(Array("chunk \($0)".utf8)) })
    }

    @Test("A long range is read in pieces of at most 1 MiB, and stops at 16 of them")
    func longRange() {
        let file = StoredFile.whole(SHA256Digest.of([2]), size: 64 << 20)
        let plan = RangesPlan([0...(40 << 20)], of: file)
        #expect(plan.reads.count == 16 && plan.reads.allSatisfy { $0.piece.length <= 1 << 20 })
        #expect(plan.returnedBytes == 16 << 20)
    }

    @Test("Whatever is asked, at most 16 reads, and at most twice the bytes returned plus 1 MiB read")
    func bounds() {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<300 {
            let chunked = Bool.random(using: &generator)
            let file = chunked ? Self.chunked(200, size: UInt64.random(in: 1...70_000, using: &generator))
                               : StoredFile.whole(SHA256Digest.of([3]), size: UInt64.random(in: 1...(20 << 20), using: &generator))
            var ranges: [ClosedRange<UInt64>] = []
            var next: UInt64 = 0
            while ranges.count < 4096, next < file.size {
                let start = next + UInt64.random(in: 0...200_000, using: &generator)
                guard start < file.size else { break }
                let end = min(file.size - 1, start + UInt64.random(in: 0...300_000, using: &generator))
                ranges.append(start...end)
                next = end + 1
            }
            guard !ranges.isEmpty else { continue }
            let plan = RangesPlan(ranges, of: file)
            #expect(plan.reads.count <= 16 && plan.returnedBytes > 0)
            #expect(plan.readBytes <= 2 * plan.returnedBytes + (1 << 20))
            #expect(plan.reads.allSatisfy { $0.piece.length <= 1 << 20 })
            #expect(plan.returnedBytes == plan.reads.reduce(0) { $0 + $1.sent.reduce(0) { $0 + $1.length } })
            // The bytes returned are the first ones asked for, in order.
            let asked = ranges.reduce(UInt64(0)) { $0 + UInt64($1.count) }
            #expect(plan.returnedBytes <= asked)
        }
    }
}
