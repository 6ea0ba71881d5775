/// One holder at a time, served in order, with a deadline for each waiter: the write
/// transaction of a SQLite registry (one writer per database, as SQLite itself allows).
actor AsyncGate {
    private var busy = false
    private var waiters: [(id: UInt64, continuation: CheckedContinuation<Void, any Error>)] = []
    private var nextID: UInt64 = 0

    /// Waits for the gate, at most `timeoutSeconds` (then throws `SQLUnavailable`).
    func enter(timeoutSeconds: Double) async throws {
        guard busy else {
            busy = true
            return
        }
        nextID += 1
        let id = nextID
        let timer = Task { [weak self] in
            try await Task.sleep(for: .milliseconds(Int(timeoutSeconds * 1000)))
            await self?.expire(id)
        }
        defer { timer.cancel() }
        try await withCheckedThrowingContinuation { continuation in waiters.append((id, continuation)) }
    }

    func leave() {
        if waiters.isEmpty {
            busy = false
        } else {
            waiters.removeFirst().continuation.resume()
        }
    }

    private func expire(_ id: UInt64) {
        guard let index = waiters.firstIndex(where: { $0.id == id }) else { return }
        waiters.remove(at: index).continuation.resume(throwing: SQLUnavailable(reason: "the registry database is busy with another write"))
    }

    /// Runs `body` holding the gate.
    func run<T: Sendable>(timeoutSeconds: Double, _ body: @Sendable () async throws -> T) async throws -> T {
        try await enter(timeoutSeconds: timeoutSeconds)
        do {
            let result = try await body()
            leave()
            return result
        } catch {
            leave()
            throw error
        }
    }
}
