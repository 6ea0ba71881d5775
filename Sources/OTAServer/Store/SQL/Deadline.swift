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
