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

    /// Bumped when a check is given up: what that check learns later is not kept.
    private var generation = 0

    /// Whether this instance leads now, taking the lock when it is free. A check that does not
    /// end within the connect timeout and a few seconds (its connection dropped by a database
    /// that restarted, which no statement timeout ends) answers no: its connection is dropped,
    /// the lock with it, and the next check connects again.
    func holds() async -> Bool {
        if let checking { return await Self.bounded(checking, seconds: checkSeconds) ?? false }
        let check = Task { await self.check() }
        checking = check
        let answer = await Self.bounded(check, seconds: checkSeconds)
        checking = nil
        guard let answer else {
            logger.warning("the leader lock's check did not end within \(Int(checkSeconds)) s; connecting again at the next one")
            abandon()
            return false
        }
        return answer
    }

    private var checkSeconds: Double { Double(location.connectTimeoutSeconds) + 5 }

    private static func bounded(_ check: Task<Bool, Never>, seconds: Double) async -> Bool? {
        await Deadline.answer(within: seconds, orElse: nil) { await check.value }
    }

    /// Drops the state of a check that did not end; its connection is closed in the background.
    private func abandon() {
        generation += 1
        leads = false
        if let stale = connection {
            Task {
                do { try await stale.close() } catch {} // A connection already lost: gone either way.
            }
        }
        connection = nil
    }

    private func check() async -> Bool {
        guard !closed else { return false }
        let started = generation
        do {
            let connection = try await connected()
            guard generation == started else { return false }
            if leads {
                // The lock lives as long as the session: a session that answers still holds it.
                for try await _ in try await connection.query("SELECT 1", logger: logger) {}
                return true
            }
            var taken = false
            for try await (value) in try await connection.query("SELECT pg_try_advisory_lock(\(Self.lockKey))", logger: logger).decode(Bool.self) {
                taken = value
            }
            guard generation == started else { return false }
            if taken {
                leads = true
                logger.info("this instance now leads the background work (rollout timers, trust renewal)")
            }
            return taken
        } catch {
            guard generation == started else { return false }
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
        if let checking, await Self.bounded(checking, seconds: checkSeconds) == nil { abandon() }
        leads = false
        if let connection { try? await connection.close() }
        connection = nil
    }
}
