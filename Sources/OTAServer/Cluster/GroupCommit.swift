import Synchronization

/// Writes that callers wait for, committed together: while one transaction runs, everything
/// submitted meanwhile queues and goes into the next one. One caller alone pays one
/// transaction; a thousand concurrent callers pay a handful. `write` gets the queued items
/// and returns one result per item, in order; if it throws, every caller in it gets the error.
final class GroupCommit<Item: Sendable, Result: Sendable>: Sendable {
    typealias Waiter = CheckedContinuation<Result, any Error>
    private struct Queue: Sendable {
        var items: [(Item, Waiter)] = []
        var writing = false
    }

    private let queue = Mutex(Queue())
    private let write: @Sendable ([Item]) async throws -> [Result]
    private let maximumBatch: Int

    init(maximumBatch: Int = 2_000, write: @escaping @Sendable ([Item]) async throws -> [Result]) {
        self.maximumBatch = maximumBatch
        self.write = write
    }

    func submit(_ item: Item) async throws -> Result {
        try await withCheckedThrowingContinuation { (waiter: Waiter) in
            let startsWriter = queue.withLock { queue -> Bool in
                queue.items.append((item, waiter))
                guard !queue.writing else { return false }
                queue.writing = true
                return true
            }
            if startsWriter { Task { await self.drain() } }
        }
    }

    /// Writes batches until the queue is empty; exactly one drain runs at a time.
    private func drain() async {
        while true {
            let batch = queue.withLock { queue -> [(Item, Waiter)] in
                let taken = Array(queue.items.prefix(maximumBatch))
                queue.items.removeFirst(taken.count)
                if taken.isEmpty { queue.writing = false }
                return taken
            }
            guard !batch.isEmpty else { return }
            do {
                let results = try await write(batch.map(\.0))
                precondition(results.count == batch.count, "a group commit returns one result per item")
                for ((_, waiter), result) in zip(batch, results) { waiter.resume(returning: result) }
            } catch {
                for (_, waiter) in batch { waiter.resume(throwing: error) }
            }
        }
    }
}
