import Logging
import NIOCore
import NIOPosix
import PostgresNIO

/// Which of the instances sharing a PostgreSQL registry leads the work that must run once
/// (rollout timers, trust renewal, pruning): the one holding a session advisory lock on a
/// connection of its own, outside the pool. When the leader dies its connection ends,
/// PostgreSQL frees the lock, and the next instance to ask takes it.
actor PostgresLeadership {
    /// The key of the lock ("otas" in ASCII).
    static let lockKey: Int64 = 0x6f746173

    private let location: PostgresLocation
    private let logger: Logger
    private var connection: PostgresConnection?
    private var leads = false
    private var closed = false
    /// The check under way: callers that ask meanwhile share it. An actor is re-entered at
    /// each `await`, and two checks connecting at once would leave one connection, holding
    /// the lock, that nobody closes.
    private var checking: Task<Bool, Never>?

    init(location: PostgresLocation, logger: Logger) {
        self.location = location
        self.logger = logger
    }

    /// Whether this instance leads now, taking the lock when it is free.
    func holds() async -> Bool {
        if let checking { return await checking.value }
        let check = Task { await self.check() }
        checking = check
        let answer = await check.value
        checking = nil
        return answer
    }

    private func check() async -> Bool {
        guard !closed else { return false }
        do {
            let connection = try await connected()
            if leads {
                // The lock lives as long as the session: a session that answers still holds it.
                for try await _ in try await connection.query("SELECT 1", logger: logger) {}
                return true
            }
            var taken = false
            for try await (value) in try await connection.query("SELECT pg_try_advisory_lock(\(Self.lockKey))", logger: logger).decode(Bool.self) {
                taken = value
            }
            if taken {
                leads = true
                logger.info("this instance now leads the background work (rollout timers, trust renewal)")
            }
            return taken
        } catch {
            if leads { logger.warning("lost the leader lock's connection to the database; another instance may lead now: \(error)") }
            leads = false
            let lost = connection
            connection = nil
            if let lost { try? await lost.close() }
            return false
        }
    }

    private func connected() async throws -> PostgresConnection {
        if let connection, !connection.isClosed { return connection }
        leads = false
        let fresh = try await Deadline.within(seconds: Double(location.connectTimeoutSeconds), what: "the database at \(location.redacted)") { [location, logger] in
            try await PostgresConnection.connect(on: MultiThreadedEventLoopGroup.singleton.any(),
                                                 configuration: try PostgresDatabase.connectionConfiguration(location),
                                                 id: 1, logger: logger)
        }
        connection = fresh
        return fresh
    }

    /// Gives up the lock (with the connection) for another instance to take.
    func close() async {
        closed = true
        _ = await checking?.value
        leads = false
        if let connection { try? await connection.close() }
        connection = nil
    }
}
