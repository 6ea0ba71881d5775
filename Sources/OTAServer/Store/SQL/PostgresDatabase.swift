import Foundation
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import OTACore
import PostgresNIO

/// The registry in PostgreSQL, through postgres-nio. Transactions run on threads of their own
/// (one per pooled connection) and wait for each query there, so the stores keep the same
/// synchronous transactions as with SQLite and no event loop ever blocks.
///
/// Writes take one transaction-scoped advisory lock: like SQLite's single writer, write
/// transactions run one at a time across every instance, so a decision read inside one (an
/// admission limit, a counter, "is this key taken") still holds when it commits. Reads run
/// concurrently on a consistent snapshot.
final class PostgresDatabase: SQLDatabase, @unchecked Sendable {
    let location: PostgresLocation
    let logger: Logger
    /// How long a write waits for the write lock before its request is answered 503.
    let lockTimeoutSeconds: Double
    var dialect: SQLDialect { .postgres }

    private let threads: NIOThreadPool
    private let tlsContext: NIOSSLContext?
    // Guards `idle` and `nextID` (touched from the transaction threads).
    private let lock = NSLock()
    private var idle: [PostgresConnection] = []
    private var nextID = 0

    /// The key of the advisory lock that serialises writes ("ota" in ASCII).
    static let writeLockKey: Int64 = 0x6f7461
    /// The key of the lock the leading instance holds ("otas").
    static let leaderLockKey: Int64 = 0x6f746173
    /// The connection holding the leader lock (the lock ends with it).
    private var leaderConnection: PostgresConnection?

    init(location: PostgresLocation, lockTimeoutSeconds: Double, logger: Logger) throws {
        self.location = location
        self.lockTimeoutSeconds = lockTimeoutSeconds
        self.logger = logger
        switch location.tls {
        case .disable:
            tlsContext = nil
        case .require, .verifyFull:
            var configuration = TLSConfiguration.makeClientConfiguration()
            configuration.certificateVerification = location.tls == .verifyFull ? .fullVerification : .noHostnameVerification
            tlsContext = try NIOSSLContext(configuration: configuration)
        }
        threads = NIOThreadPool(numberOfThreads: location.poolSize)
        threads.start()
    }

    deinit {
        // postgres-nio insists that a connection is closed before it goes away.
        for connection in idle + [leaderConnection].compactMap({ $0 }) { Self.close(connection) }
        threads.shutdownGracefully { _ in }
    }

    // MARK: SQLDatabase

    func read<T: Sendable>(_ body: @escaping @Sendable (any SQLTransaction) throws -> T) async throws -> T {
        try await threads.runIfActive { [self] in try readBlocking(body) }
    }

    func write<T: Sendable>(_ body: @escaping @Sendable (any SQLTransaction) throws -> T) async throws -> T {
        try await threads.runIfActive { [self] in try writeBlocking(body) }
    }

    func readBlocking<T>(_ body: (any SQLTransaction) throws -> T) throws -> T {
        try transaction(begin: "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", body)
    }

    func writeBlocking<T>(_ body: (any SQLTransaction) throws -> T) throws -> T {
        try transaction(begin: "BEGIN", lockFirst: true, body)
    }

    // MARK: Transactions

    private func transaction<T>(begin: String, lockFirst: Bool = false, _ body: (any SQLTransaction) throws -> T) throws -> T {
        let connection = try take()
        let transaction = PostgresTransaction(connection: connection, logger: logger)
        var healthy = true
        defer { give(connection, healthy: healthy && !connection.isClosed) }
        do {
            try transaction.execute(begin)
            if lockFirst {
                try transaction.execute("SET LOCAL lock_timeout = '\(Int(lockTimeoutSeconds * 1000))ms'")
                try transaction.execute("SELECT pg_advisory_xact_lock(\(Self.writeLockKey))")
            }
            let result = try body(transaction)
            try transaction.execute("COMMIT")
            return result
        } catch {
            if (try? transaction.execute("ROLLBACK")) == nil { healthy = false }
            throw Self.mapped(error, location: location)
        }
    }

    private func take() throws -> PostgresConnection {
        lock.lock()
        let reused = idle.popLast()
        nextID += 1
        let id = nextID
        lock.unlock()
        if let reused, !reused.isClosed { return reused }
        let tls: PostgresConnection.Configuration.TLS = tlsContext.map { .require($0) } ?? .disable
        var configuration = PostgresConnection.Configuration(host: location.host, port: location.port, username: location.user,
                                                             password: location.password, database: location.database, tls: tls)
        configuration.options.connectTimeout = .seconds(Int64(location.connectTimeoutSeconds))
        // Nothing waits on the database without a deadline: a statement the server takes
        // longer than this over is cancelled (and answered 503), and so is a session that sits
        // idle inside a transaction.
        // The server probes the connection too, so that a session whose instance vanished
        // (its machine lost, no reset sent) ends within half a minute, and with it the leader
        // lock it held.
        configuration.options.additionalStartupParameters = [
            ("statement_timeout", "60s"), ("idle_in_transaction_session_timeout", "120s"),
            ("tcp_keepalives_idle", "10"), ("tcp_keepalives_interval", "5"), ("tcp_keepalives_count", "3"),
        ]
        do {
            return try PostgresConnection.connect(on: MultiThreadedEventLoopGroup.singleton.any(), configuration: configuration,
                                                  id: id, logger: logger).wait()
        } catch {
            throw SQLUnavailable(reason: "cannot connect to the database at \(location.redacted): \(Self.mapped(error, location: location))")
        }
    }

    private func give(_ connection: PostgresConnection, healthy: Bool) {
        guard healthy else {
            Self.close(connection)
            return
        }
        lock.lock()
        idle.append(connection)
        lock.unlock()
    }

    /// Whether this instance leads the instances sharing the database: it holds a session
    /// advisory lock on a connection of its own. Taken when free; when the leader dies its
    /// connection ends, PostgreSQL frees the lock, and the next instance to ask takes it.
    func holdsLeadership() async -> Bool {
        (try? await threads.runIfActive { [self] in leads() }) ?? false
    }

    private func leads() -> Bool {
        lock.lock()
        let held = leaderConnection
        lock.unlock()
        if let held {
            if !held.isClosed, (try? PostgresTransaction(connection: held, logger: logger).value(Int.self, "SELECT 1")) == 1 { return true }
            logger.warning("lost the leader lock's connection to the database; another instance may lead now")
            lock.lock()
            leaderConnection = nil
            lock.unlock()
            Self.close(held)
        }
        guard let connection = try? take() else { return false }
        guard (try? PostgresTransaction(connection: connection, logger: logger).value(Bool.self, "SELECT pg_try_advisory_lock(\(Self.leaderLockKey))")) == true else {
            give(connection, healthy: !connection.isClosed)
            return false
        }
        lock.lock()
        leaderConnection = connection
        lock.unlock()
        logger.info("this instance now leads the background work (rollout timers, trust renewal)")
        return true
    }

    private static func close(_ connection: PostgresConnection) {
        let closing: EventLoopFuture<Void> = connection.close()
        _ = try? closing.wait()
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

    /// Runs a migration script (several statements) in a transaction of its own, holding the
    /// write lock for as long as it takes, so instances starting together migrate once.
    func migrate(_ migrations: [(name: String, sql: String)], known: [String]) throws {
        let connection = try take()
        defer { give(connection, healthy: !connection.isClosed) }
        let transaction = PostgresTransaction(connection: connection, logger: logger)
        do {
            try transaction.execute("BEGIN")
            try transaction.execute("SELECT pg_advisory_xact_lock(\(Self.writeLockKey))")
            try transaction.execute("CREATE TABLE IF NOT EXISTS schema_migrations (identifier TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
            let applied = Set(try transaction.values(String.self, "SELECT identifier FROM schema_migrations"))
            let unknown = applied.subtracting(known).sorted()
            guard unknown.isEmpty else {
                _ = try? transaction.execute("ROLLBACK")
                throw RegistryDatabase.OpenError.unknownMigrations(unknown)
            }
            for migration in migrations where !applied.contains(migration.name) {
                for statement in Self.statements(of: migration.sql) { try transaction.execute(statement) }
                try transaction.execute("INSERT INTO schema_migrations (identifier, applied_at) VALUES (?, ?)", [migration.name, Timestamp.now()])
            }
            try transaction.execute("COMMIT")
        } catch let error as RegistryDatabase.OpenError {
            throw error
        } catch {
            _ = try? transaction.execute("ROLLBACK")
            throw Self.mapped(error, location: location)
        }
    }

    /// The statements of a migration script, split at the semicolons that end them (not
    /// those in quotes, in `$$` function bodies or in comments). Each is sent on its own:
    /// a prepared statement holds one.
    static func statements(of script: String) -> [String] {
        var statements: [String] = []
        var current = ""
        var quoted = false, dollar = false, comment = false
        let characters = Array(script)
        var index = 0
        while index < characters.count {
            let character = characters[index]
            let next = index + 1 < characters.count ? characters[index + 1] : " "
            if comment {
                if character == "\n" { comment = false; current.append(character) }
            } else if !quoted && !dollar && character == "-" && next == "-" {
                comment = true
            } else if !quoted && character == "$" && next == "$" {
                dollar.toggle()
                current += "$$"
                index += 1
            } else {
                if character == "'" && !dollar { quoted.toggle() }
                if character == ";" && !quoted && !dollar {
                    let statement = current.trimmingCharacters(in: .whitespacesAndNewlines)
                    if !statement.isEmpty { statements.append(statement) }
                    current = ""
                } else {
                    current.append(character)
                }
            }
            index += 1
        }
        let last = current.trimmingCharacters(in: .whitespacesAndNewlines)
        if !last.isEmpty { statements.append(last) }
        return statements
    }
}

/// The database cannot serve just now (unreachable, restarting, locked past the timeout);
/// nothing was changed, and the request may be retried.
struct SQLUnavailable: Error, CustomStringConvertible {
    let reason: String
    var description: String { reason }
}

/// A statement PostgreSQL refused for another reason than availability (a constraint, a bug).
struct SQLFailure: Error, CustomStringConvertible {
    let reason: String
    var description: String { "the database refused a statement: \(reason)" }
}

/// One PostgreSQL transaction in progress on one connection.
struct PostgresTransaction: SQLTransaction {
    let connection: PostgresConnection
    let logger: Logger
    var dialect: SQLDialect { .postgres }

    func execute(_ sql: String, _ arguments: [any SQLBindable]) throws -> Int {
        try connection.query(Self.query(sql, arguments), logger: logger).wait().metadata.rows ?? 0
    }

    func rows(_ sql: String, _ arguments: [any SQLBindable]) throws -> [SQLRow] {
        try connection.query(Self.query(sql, arguments), logger: logger).wait().rows.map(Self.row)
    }

    func forEachRow(_ sql: String, _ arguments: [any SQLBindable], _ body: (SQLRow) throws -> Void) throws {
        for row in try rows(sql, arguments) { try body(row) }
    }

    /// The stores' `?` placeholders as PostgreSQL's `$1, $2, …` (none are inside the quoted
    /// literals the SQL holds), with each value bound by its type.
    static func query(_ sql: String, _ arguments: [any SQLBindable]) -> PostgresQuery {
        var text = ""
        text.reserveCapacity(sql.utf8.count + 16)
        var number = 0
        var quoted = false
        for character in sql {
            if character == "'" { quoted.toggle() }
            if character == "?", !quoted {
                number += 1
                text += "$\(number)"
            } else {
                text.append(character)
            }
        }
        var bindings = PostgresBindings(capacity: arguments.count)
        for argument in arguments {
            switch argument.sqlValue {
            case .null: bindings.appendNull()
            case .integer(let value): bindings.append(value)
            case .real(let value): bindings.append(value)
            case .text(let value): bindings.append(value)
            case .blob(let value): bindings.append(ByteBuffer(bytes: value))
            }
        }
        return PostgresQuery(unsafeSQL: text, binds: bindings)
    }

    static func row(_ row: PostgresRow) -> SQLRow {
        var names: [String] = []
        var values: [SQLValue] = []
        for cell in row {
            names.append(cell.columnName)
            values.append(value(cell))
        }
        return SQLRow(names: names, values: values)
    }

    static func value(_ cell: PostgresCell) -> SQLValue {
        guard cell.bytes != nil else { return .null }
        do {
            switch cell.dataType {
            case .int2: return .integer(Int64(try cell.decode(Int16.self)))
            case .int4: return .integer(Int64(try cell.decode(Int32.self)))
            case .int8: return .integer(try cell.decode(Int64.self))
            case .float4: return .real(Double(try cell.decode(Float.self)))
            case .float8: return .real(try cell.decode(Double.self))
            case .bool: return .integer(try cell.decode(Bool.self) ? 1 : 0)
            case .bytea: return .blob(Array(try cell.decode(ByteBuffer.self).readableBytesView))
            case .numeric: return .text((try cell.decode(Decimal.self)).description)
            default: return .text(try cell.decode(String.self))
            }
        } catch {
            fatalError("column \(cell.columnName) of type \(cell.dataType) does not decode: \(error)")
        }
    }
}
