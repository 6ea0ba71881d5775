import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOSSL
import OTACore
import PostgresNIO

/// The registry in PostgreSQL, through postgres-nio's `PostgresClient` (a pool of
/// connections, run as a task of its own for as long as the database is open). Nothing
/// blocks: every statement is awaited.
///
/// Writes take a transaction-scoped advisory lock for each member of their scope
/// (`WriteScope`): like SQLite's single writer, the writes of one scope run one at a time
/// across every instance, so a decision read inside one (an admission limit, a counter, "is
/// this key taken") still holds when it commits. Reads run
/// concurrently on a consistent snapshot. Every transaction has a deadline: a database that
/// does not answer makes a request a 503, never a wait without end.
final class PostgresDatabase: SQLDatabase, Sendable {
    let location: PostgresLocation
    let logger: Logger
    /// How long a write waits for the write lock before its request is answered 503.
    let lockTimeoutSeconds: Double
    var dialect: SQLDialect { .postgres }
    let client: PostgresClient
    private let runner: Task<Void, Never>
    let leadership: PostgresLeadership
    let changes: PostgresChangeListener

    /// The key of the advisory lock that serialises the registry's writes ("ota" in ASCII).
    static let writeLockKey: Int64 = 0x6f7461
    /// The key of the one that serialises the writes of what check-ins record ("otac").
    static let checkinRecordsLockKey: Int64 = 0x6f746163

    /// The statements that take the locks of a scope, always in the same order: the check-in
    /// records' first, so that a write of every scope waiting for a flush step does not hold
    /// the registry's lock meanwhile (joins would wait behind it, and so for the step).
    static func lockStatements(_ scope: WriteScope) -> [String] {
        [(WriteScope.checkinRecords, checkinRecordsLockKey), (.registry, writeLockKey)]
            .filter { scope.contains($0.0) }.map { "SELECT pg_advisory_xact_lock(\($0.1))" }
    }

    /// How long a transaction may take once it has its connection; past it the caller is
    /// answered 503 and the connection is closed. The server's own deadlines
    /// (`statement_timeout` below) end a slow statement first; this one ends a wait on a
    /// connection the database no longer answers on (a server that restarted under it), which
    /// would otherwise hold a request, and the server's shutdown after it, for ever. nil: none
    /// (a copy of a whole registry, `RegistryCopy`).
    let transactionDeadlineSeconds: Double?
    static let defaultTransactionDeadlineSeconds: Double = 75

    init(location: PostgresLocation, lockTimeoutSeconds: Double, transactionDeadlineSeconds: Double? = defaultTransactionDeadlineSeconds,
         logger: Logger) async throws {
        self.location = location
        self.lockTimeoutSeconds = lockTimeoutSeconds
        self.transactionDeadlineSeconds = transactionDeadlineSeconds
        self.logger = logger
        var configuration = PostgresClient.Configuration(host: location.host, port: location.port, username: location.user,
                                                         password: location.password, database: location.database,
                                                         tls: try Self.tls(location))
        configuration.options.connectTimeout = .seconds(Int64(location.connectTimeoutSeconds))
        configuration.options.maximumConnections = location.poolSize
        configuration.options.additionalStartupParameters = Self.sessionParameters
        client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        // The client's run loop must be started before the first lease; the runner says so
        // just before it enters it, so that nothing leases into a client not yet running.
        let (started, signal) = AsyncStream<Void>.makeStream()
        runner = Task { [client] in
            signal.finish()
            await client.run()
        }
        for await _ in started {}
        leadership = PostgresLeadership(location: location, logger: logger)
        changes = PostgresChangeListener(location: location, logger: logger)
    }

    /// Nothing waits on the database without a deadline: a statement the server takes longer
    /// than this over is cancelled (and answered 503), and so is a session that sits idle
    /// inside a transaction. The server probes the connection too, so that a session whose
    /// instance vanished (its machine lost, no reset sent) ends within half a minute, and with
    /// it the leader lock it held.
    static let sessionParameters = [
        ("statement_timeout", "60s"), ("idle_in_transaction_session_timeout", "120s"),
        ("tcp_keepalives_idle", "10"), ("tcp_keepalives_interval", "5"), ("tcp_keepalives_count", "3"),
    ]

    static func tls(_ location: PostgresLocation) throws -> PostgresClient.Configuration.TLS {
        switch location.tls {
        case .disable: return .disable
        case .require, .verifyFull:
            var configuration = TLSConfiguration.makeClientConfiguration()
            configuration.certificateVerification = location.tls == .verifyFull ? .fullVerification : .noHostnameVerification
            return .require(configuration)
        }
    }

    /// The settings of one connection outside the pool (the leader lock's, the change feed's).
    static func connectionConfiguration(_ location: PostgresLocation) throws -> PostgresConnection.Configuration {
        let tls: PostgresConnection.Configuration.TLS
        switch location.tls {
        case .disable: tls = .disable
        case .require, .verifyFull:
            var configuration = TLSConfiguration.makeClientConfiguration()
            configuration.certificateVerification = location.tls == .verifyFull ? .fullVerification : .noHostnameVerification
            tls = .require(try NIOSSLContext(configuration: configuration))
        }
        var configuration = PostgresConnection.Configuration(host: location.host, port: location.port, username: location.user,
                                                             password: location.password, database: location.database, tls: tls)
        configuration.options.connectTimeout = .seconds(Int64(location.connectTimeoutSeconds))
        configuration.options.additionalStartupParameters = sessionParameters
        return configuration
    }

    /// Stops the pool (its connections close) and gives up the leader lock.
    func close() async {
        changes.stop()
        runner.cancel()
        await leadership.close()
    }

    // MARK: SQLDatabase

    func read<T: Sendable>(_ body: @escaping @Sendable (any SQLTransaction) async throws -> T) async throws -> T {
        try await transaction(.read, body)
    }

    func write<T: Sendable>(excluding scope: WriteScope, _ body: @escaping @Sendable (any SQLTransaction) async throws -> T) async throws -> T {
        try await transaction(.write(scope), body)
    }

    /// The check-in flush's statements, pipelined on the transaction's connection.
    func write(statements: [SQLQuery], excluding scope: WriteScope) async throws {
        try await transaction(.write(scope)) { transaction in try await transaction.pipeline(statements) }
    }

    enum TransactionKind {
        case read
        case write(WriteScope)

        var isRead: Bool { if case .read = self { true } else { false } }
    }

    /// One statement outside any transaction: the session's autocommit gives it its own snapshot.
    func rows(_ query: SQLQuery) async throws -> [SQLRow] {
        do {
            return try await withConnection(deadlineSeconds: transactionDeadlineSeconds) { [logger] connection in
                try await PostgresTransaction(connection: connection, logger: logger).rows(query)
            }
        } catch {
            throw Self.mapped(error, location: location)
        }
    }

    func holdsLeadership() async -> Bool { await leadership.holds() }

    func changeNotifications() -> AsyncStream<Void>? { changes.start() }

    private func transaction<T: Sendable>(_ kind: TransactionKind, _ body: @escaping @Sendable (PostgresTransaction) async throws -> T) async throws -> T {
        do {
            return try await withConnection(deadlineSeconds: transactionDeadlineSeconds) { [self] connection in
                // A read begins with its first statement; a write holds its locks before its
                // body runs, and takes them with its start in one wait: each await of a write
                // waits for its turn on a busy server's threads, and a join waits for all of them.
                // `lock_timeout` bounds each wait for a lock (and for a row another write holds).
                let transaction = PostgresTransaction(connection: connection, logger: logger,
                                                      opening: kind.isRead ? ["BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"] : nil)
                do {
                    if case .write(let scope) = kind {
                        try await transaction.pipeline(sql: ["BEGIN", "SET LOCAL lock_timeout = '\(Int(lockTimeoutSeconds * 1000))ms'"] + Self.lockStatements(scope))
                    }
                    let result = try await body(transaction)
                    if transaction.isOpen { try await transaction.run("COMMIT") }
                    return result
                } catch {
                    if transaction.isOpen { await Self.rollBack(transaction, logger: logger) }
                    throw error
                }
            }
        } catch {
            throw Self.mapped(error, location: location)
        }
    }

    /// Rolls back; a connection that cannot roll back is closed, so that it never goes back
    /// to the pool inside a transaction.
    static func rollBack(_ transaction: PostgresTransaction, logger: Logger) async {
        do { try await transaction.run("ROLLBACK") } catch {
            logger.warning("rollback failed, closing the connection: \(error)")
            try? await transaction.connection.close() // Closing a connection that failed may fail too: it is gone either way.
        }
    }

    /// Errors that mean "the database is away for now" become `SQLUnavailable` (answered 503);
    /// the rest stay as they are.
    static func mapped(_ error: any Error, location: PostgresLocation) -> any Error {
        guard let error = error as? PSQLError else { return error }
        guard let state = error.serverInfo?[.sqlState] else {
            // No answer from the server at all: the connection failed or closed.
            return SQLUnavailable(reason: "the database at \(location.redacted) cannot be reached (\(error.code))")
        }
        // 08: connection exceptions; 53: out of resources; 57: shutting down or cancelled;
        // 55P03: lock_not_available (the write lock, past its timeout); 40: a serialization
        // failure or deadlock. Nothing was committed, so the request may be sent again.
        if state.hasPrefix("08") || state.hasPrefix("53") || state.hasPrefix("57") || state == "55P03" || state.hasPrefix("40") {
            return SQLUnavailable(reason: "the database at \(location.redacted) cannot serve now (\(state): \(error.serverInfo?[.message] ?? "no message"))")
        }
        return SQLFailure(reason: "\(state): \(error.serverInfo?[.message] ?? "no message")")
    }

    /// Runs the migration scripts this binary carries that the database lacks, in a
    /// transaction holding the write lock, so instances starting together migrate once. A
    /// prepared statement holds one command, so each script runs as the body of one anonymous
    /// PL/pgSQL block (`DO`): its statements run in order, and no SQL text is split here.
    func migrate(_ migrations: [(name: String, sql: String)], known: [String]) async throws {
        do {
            // Its statements have the session's statement_timeout; no deadline of the whole, as a
            // migration of a large registry may take minutes.
            try await withConnection(deadlineSeconds: nil) { [self] connection in
                let transaction = PostgresTransaction(connection: connection, logger: logger)
                try await transaction.run("BEGIN")
                do {
                    for lock in Self.lockStatements(.everything) { try await transaction.run(lock) }
                    try await transaction.run("CREATE TABLE IF NOT EXISTS schema_migrations (identifier TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
                    let applied = Set(try await transaction.values(String.self, "SELECT identifier FROM schema_migrations"))
                    let unknown = applied.subtracting(known).sorted()
                    guard unknown.isEmpty else { throw RegistryDatabase.OpenError.unknownMigrations(unknown) }
                    for migration in migrations where !applied.contains(migration.name) {
                        try await transaction.run(Self.block(migration.sql))
                        try await transaction.execute("INSERT INTO schema_migrations (identifier, applied_at) VALUES (\(migration.name), \(SystemClock().now))")
                    }
                    try await transaction.run("COMMIT")
                } catch {
                    await Self.rollBack(transaction, logger: logger)
                    throw error
                }
            }
        } catch let error as RegistryDatabase.OpenError {
            throw error
        } catch {
            throw Self.mapped(error, location: location)
        }
    }
}

extension PostgresDatabase {
    /// A migration script as one command. Its own function bodies use `$$`, a different
    /// quote tag, so they nest; the embedding tool refuses a script that uses this tag.
    static func block(_ script: String) -> String {
        "DO $migration$ BEGIN\n\(script)\nEND $migration$"
    }
}
