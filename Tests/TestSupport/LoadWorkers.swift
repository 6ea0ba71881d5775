import Foundation

/// Threads that repeat a request until stopped: load against a real server while the test
/// does something to it. The test waits for a number of finished rounds, not for a time, so
/// the load is under way however busy the machine is.
public final class LoadWorkers: @unchecked Sendable {
    private let lock = NSLock()
    private var rounds = 0
    private var running = 0
    private var stopped = false

    /// Starts `count` threads, each calling `round(worker, n)` with n = 0, 1, 2... until `stop()`.
    /// A round's errors are the load's business (the server may be gone): they are ignored.
    public init(count: Int, round: @escaping @Sendable (_ worker: Int, _ n: Int) throws -> Void) {
        running = count
        for worker in 0..<count {
            Thread { [self] in
                var n = 0
                while !isStopped {
                    try? round(worker, n)  // a refused or cut request is part of the load
                    n += 1
                    lock.withLock { rounds += 1 }
                }
                lock.withLock { running -= 1 }
            }.start()
        }
    }

    private var isStopped: Bool { lock.withLock { stopped } }

    /// Rounds finished so far by all threads together.
    public var finishedRounds: Int { lock.withLock { rounds } }

    /// Returns once the threads finished `count` more rounds together.
    public func waitForRounds(_ count: Int, timeout: Double = 60) throws {
        let target = finishedRounds + count
        try eventually(timeout: timeout, "\(count) rounds of load") { self.finishedRounds >= target }
    }

    /// Stops the threads and returns once each has ended its round.
    public func stop(timeout: Double = 60) throws {
        lock.withLock { stopped = true }
        try eventually(timeout: timeout, "the load threads to end") { self.lock.withLock { self.running == 0 } }
    }
}
