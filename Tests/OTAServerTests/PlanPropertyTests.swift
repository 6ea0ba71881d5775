import OTACore
@testable import OTAServer
import PropertyBased
import Testing

/// Properties of the server's pure decisions on generated inputs: the ranges plan a device's
/// chunk request gets, and the rollout policy.
@Suite("Properties of the server's plans")
struct PlanPropertyTests {
    /// A file of `chunks` chunk lengths, and ranges inside it picked from `picks`.
    static func file(_ lengths: [Int]) -> StoredFile {
        var offset: UInt64 = 0
        let chunks = lengths.enumerated().map { index, length -> Chunk in
            defer { offset += UInt64(length) }
            return Chunk(offset: offset, length: UInt64(length), sha256: SHA256Digest.of(Array("chunk \(index)".utf8)))
        }
        return StoredFile.chunked(chunks, size: offset)
    }

    @Test("A ranges answer is a prefix of the bytes asked for, in at most 16 store reads that each return what they read, with bounded waste")
    func rangesPlan() async {
        let lengths = Gen.int(in: 1...300_000).array(of: 1...60)
        let picks = Gen.int(in: 0...1000).array(of: 1...200)
        await propertyCheck(input: lengths, picks) { lengths, picks in
            let file = Self.file(lengths)
            // Ranges in order and apart, from the picks (gaps and lengths in thousandths of the file).
            var ranges: [ClosedRange<UInt64>] = []
            var next: UInt64 = 0
            for pair in stride(from: 0, to: picks.count - 1, by: 2) {
                let start = next + UInt64(picks[pair]) * file.size / 20_000
                let length = max(1, UInt64(picks[pair + 1]) * file.size / 5_000)
                guard start < file.size else { break }
                let end = min(file.size - 1, start + length - 1)
                ranges.append(start...end)
                next = end + 1
            }
            guard !ranges.isEmpty else { return }
            let plan = RangesPlan(ranges, of: file)
            let asked = ranges.reduce(UInt64(0)) { $0 + UInt64($1.count) }
            #expect(plan.reads.count <= RangesPlan.maximumReads)
            #expect(plan.returnedBytes <= asked && plan.returnedBytes > 0)
            #expect(plan.reads.allSatisfy { $0.piece.length <= RangesPlan.maximumReadBytes })
            #expect(plan.readBytes <= 2 * plan.returnedBytes + RangesPlan.slackBytes)
            // What is sent, read by read, is the requested bytes back to back, from the start.
            let sent = plan.reads.flatMap { read in read.sent.map { (read.piece.blob, read.piece.offset + $0.offset, $0.length) } }
            var expected: [(SHA256Digest, UInt64, UInt64)] = []
            for range in ranges { for slice in file.slices(of: range) { expected.append((slice.blob, slice.offset, slice.length)) } }
            #expect(Self.isPrefix(sent, of: expected), "the answer is not the requested bytes from the start")
        }
    }

    /// Whether the bytes `pieces` name (blob, offset, length) are the first bytes `whole` names.
    static func isPrefix(_ pieces: [(SHA256Digest, UInt64, UInt64)], of whole: [(SHA256Digest, UInt64, UInt64)]) -> Bool {
        var expected = whole[...]
        for var piece in pieces {
            while piece.2 > 0 {
                guard var next = expected.first, next.0 == piece.0, next.1 == piece.1 else { return false }
                let step = min(piece.2, next.2)
                piece.1 += step
                piece.2 -= step
                next.1 += step
                next.2 -= step
                if next.2 == 0 { expected = expected.dropFirst() } else { expected[expected.startIndex] = next }
            }
        }
        return true
    }

    @Test("The rollout policy never advances past the last phase, and pauses once failures reach the threshold")
    func rolloutPolicy() async {
        let counts = zip(Gen.int(in: 0...200), Gen.int(in: 0...200), Gen.int(in: 0...200))
        await propertyCheck(input: Gen.int(in: 0...3), counts, Gen.int(in: 1...50), Gen.int(in: 0...10_000)) { current, counts, threshold, elapsed in
            var counted = AdminAPI.StateCounts()
            (counted.succeeded, counted.failed, counted.pending) = counts
            let plan = DeploymentPlan(id: "dep_p", seq: 1, bundleID: 1, bundleName: "m", target: .all,
                                      phases: [.percent(1), .percent(10), .percent(50), .percent(100)], currentPhase: current,
                                      phaseStartedEpoch: 0, status: .active, pausedReason: nil, autoAdvance: true, soakSeconds: 60,
                                      successRatio: 0.9, failureThresholdCount: threshold, failureThresholdPercent: nil, failureMinFinished: 1,
                                      rateLimitPerMinute: nil, soakStartedEpoch: 0, failureBaseline: 0, finishedBaseline: 0,
                                      phaseSecret: nil, createdAt: .earliest, createdBy: "")
            let decision = RolloutPolicy.decide(plan, counts: [current: counted], now: Int64(elapsed))
            if case .advance(let to, _) = decision { #expect(to == current + 1 && to <= 3) }
            if counted.failed >= threshold {
                guard case .pause = decision else { Issue.record("\(counted.failed) failures, threshold \(threshold): \(decision)"); return }
            }
        }
    }
}
