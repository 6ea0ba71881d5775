import Synchronization

/// Runs work that must end by a deadline: past it, the work is cancelled and the caller gets
/// `SQLUnavailable`.
enum Deadline {
    static func within<T: Sendable>(seconds: Double, what: String, _ work: @Sendable @escaping () async throws -> T) async throws -> T {
        try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await work() }
            group.addTask {
                try await Task.sleep(for: .milliseconds(Int(seconds * 1000)))
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let result = first else {
                throw SQLUnavailable(reason: "\(what) did not answer within \(Int(seconds)) s")
            }
            return result
        }
    }
}

extension Deadline {
    /// The work's result, or `fallback` once `seconds` have passed or the caller is cancelled,
    /// whichever comes first, without waiting for the work to end. For waits on a connection
    /// the database may have dropped, which neither cancellation nor a statement timeout ends
    /// (seen after PostgreSQL restarted under a busy server: the server's shutdown waited on
    /// them for ever). The work goes on by itself; its result is then dropped.
    static func answer<T: Sendable>(within seconds: Double, orElse fallback: T, _ work: @escaping @Sendable () async -> T) async -> T {
        let first = FirstAnswer<T>()
        let timer = Task {
            guard seconds.isFinite else { return }  // No deadline: only cancellation answers early.
            do { try await Task.sleep(for: .milliseconds(Int(min(seconds, 86_400) * 1000))) } catch { return }
            first.give(fallback)
        }
        Task { first.give(await work()) }
        let value = await withTaskCancellationHandler {
            await withCheckedContinuation { first.attach($0) }
        } onCancel: {
            first.give(fallback)
        }
        timer.cancel()
        return value
    }
}

/// The first of several answers, to one waiter, whether the waiter or the answer comes first.
final class FirstAnswer<T: Sendable>: Sendable {
    private struct State {
        var waiter: CheckedContinuation<T, Never>?
        var value: T?
        var given = false
    }
    private let state = Mutex(State())

    func attach(_ waiter: CheckedContinuation<T, Never>) {
        let ready = state.withLock { state -> T? in
            if state.given { return state.value }
            state.waiter = waiter
            return nil
        }
        if let ready { waiter.resume(returning: ready) }
    }

    func give(_ value: T) {
        let waiter = state.withLock { state -> CheckedContinuation<T, Never>? in
            guard !state.given else { return nil }
            state.given = true
            guard let waiter = state.waiter else {
                state.value = value
                return nil
            }
            state.waiter = nil
            return waiter
        }
        waiter?.resume(returning: value)
    }
}
