import Foundation
@testable import OTAServer
import Testing

/// `Deadline.answer`: a wait that ends at its deadline or when its caller is cancelled, even
/// when the work it waits on never ends (a query on a connection the database dropped).
@Suite("Answering deadlines")
struct AnswerDeadlineTests {
    /// Work that never ends by itself: it waits on a continuation nobody resumes until the
    /// test lets it go.
    final class Stuck: Sendable {
        private let waiter = FirstAnswer<Int>()
        func wait() async -> Int { await withCheckedContinuation { waiter.attach($0) } }
        func release() { waiter.give(0) }
    }

    @Test("The work's answer when it ends first")
    func workFirst() async {
        #expect(await Deadline.answer(within: 30, orElse: -1) { 7 } == 7)
    }

    @Test("The fallback at the deadline, when the work never ends")
    func deadlineFirst() async {
        let stuck = Stuck()
        defer { stuck.release() }
        let started = ContinuousClock.now
        #expect(await Deadline.answer(within: 0.2, orElse: -1) { await stuck.wait() } == -1)
        #expect(ContinuousClock.now - started < .seconds(10))
    }

    @Test("The fallback at once when the caller is cancelled, with no deadline at all")
    func cancelledCaller() async {
        let stuck = Stuck()
        defer { stuck.release() }
        let waiting = Task { await Deadline.answer(within: .infinity, orElse: -1) { await stuck.wait() } }
        waiting.cancel()
        #expect(await waiting.value == -1)
    }

    @Test("One answer only, whichever order the waiter and the answers come in")
    func firstAnswerWins() async {
        let early = FirstAnswer<Int>()
        early.give(1)
        early.give(2)
        #expect(await withCheckedContinuation { early.attach($0) } == 1)
        let late = FirstAnswer<Int>()
        async let value = withCheckedContinuation { late.attach($0) }
        late.give(3)
        late.give(4)
        #expect(await value == 3)
    }
}
