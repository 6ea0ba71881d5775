import GRDB
import OTACore

/// Opens the registry's SQLite database (WAL, through GRDB) and brings its schema up to date
/// from the migrations compiled into this binary (`migrations/*.sql`).
public enum RegistryDatabase {
    public enum OpenError: Error, CustomStringConvertible {
        case unknownMigrations([String])
        case cannotOpen(path: String, reason: String)

        public var description: String {
            switch self {
            case .unknownMigrations(let names):
                return "the database has migration\(names.count == 1 ? "" : "s") \(names.joined(separator: ", ")) that this ota-server does not know; it was written by a newer version. Run that version, or restore a backup"
            case .cannotOpen(let path, let reason):
                return "cannot open the database \(path): \(reason)"
            }
        }
    }

    /// The migrations this binary carries, by name, in order.
    public static var knownMigrations: [String] { EmbeddedResources.migrations.map(\.name) }

    /// `busyTimeout`: how long a write waits for another writer's lock before the request is
    /// answered 503 (see `unavailability`).
    static func open(path: String, busyTimeout: Double = 10) throws -> SQLiteDatabase {
        var configuration = Configuration()
        configuration.busyMode = .timeout(busyTimeout)
        // A write transaction spans several accesses of GRDB's writer (`SQLiteDatabase.write`).
        configuration.allowsUnsafeTransactions = true
        configuration.prepareDatabase { db in
            // Durable on commit, without an fsync of the WAL for every transaction's pages twice.
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
        }
        let pool: DatabasePool
        do { pool = try DatabasePool(path: path, configuration: configuration) } catch {
            throw OpenError.cannotOpen(path: path, reason: String(describing: error))
        }
        try migrate(pool)
        return SQLiteDatabase(pool: pool, busyTimeout: busyTimeout)
    }

    static func migrate(_ pool: DatabasePool) throws {
        var migrator = DatabaseMigrator()
        for migration in EmbeddedResources.migrations {
            migrator.registerMigration(migration.name) { db in try db.execute(sql: migration.sql) }
        }
        let unknown = try pool.read { db -> [String] in
            guard try db.tableExists("grdb_migrations") else { return [] }
            return try migrator.appliedIdentifiers(db).subtracting(knownMigrations).sorted()
        }
        guard unknown.isEmpty else { throw OpenError.unknownMigrations(unknown) }
        try migrator.migrate(pool)
    }
}

extension RegistryDatabase {
    /// Why `error` means the database cannot serve just now (a lock held past the busy
    /// timeout, a full disk, an I/O error), or nil for any other error. The transaction was
    /// rolled back, so the request may simply be retried.
    static func unavailability(_ error: any Error) -> String? {
        if let error = error as? SQLUnavailable { return error.reason }
        guard let error = error as? DatabaseError else { return nil }
        switch error.resultCode {
        case .SQLITE_BUSY, .SQLITE_LOCKED: return "the registry database is locked by another writer"
        case .SQLITE_FULL: return "the registry database's disk is full"
        case .SQLITE_IOERR, .SQLITE_CANTOPEN: return "the registry database cannot be read or written (\(error.resultCode))"
        default: return nil
        }
    }
}

/// The registry in SQLite through GRDB: a pool of readers beside one writer (WAL). A write
/// transaction holds the `AsyncGate` from `BEGIN IMMEDIATE` to `COMMIT`, and runs each of its
/// statements on GRDB's writer as it comes, so the stores' transactions are the same async
/// code for both backends. A read runs each statement on a reader, seeing what was committed.
struct SQLiteDatabase: SQLDatabase {
    let pool: DatabasePool
    let gate = AsyncGate()
    /// How long a write waits for another to finish before its request is answered 503.
    let busyTimeout: Double
    var dialect: SQLDialect { .sqlite }

    func read<T: Sendable>(_ body: @escaping @Sendable (any SQLTransaction) async throws -> T) async throws -> T {
        try await body(SQLiteTransaction(access: .read(pool)))
    }

    /// SQLite has one writer: every write excludes every other, whatever its scope.
    func write<T: Sendable>(excluding scope: WriteScope, _ body: @escaping @Sendable (any SQLTransaction) async throws -> T) async throws -> T {
        try await gate.run(timeoutSeconds: busyTimeout) {
            try await pool.writeWithoutTransaction { db in try db.execute(sql: "BEGIN IMMEDIATE") }
            do {
                let result = try await body(SQLiteTransaction(access: .write(pool)))
                try await pool.writeWithoutTransaction { db in try db.execute(sql: "COMMIT") }
                return result
            } catch {
                // Nothing of the transaction stays; a rollback that fails leaves SQLite to end it.
                do { try await pool.writeWithoutTransaction { db in if !db.isInsideTransaction { return }; try db.execute(sql: "ROLLBACK") } } catch {}
                throw error
            }
        }
    }

    /// The whole transaction in one access of GRDB's writer. Each access is a hop to GRDB's
    /// queue and back: under `bench/checkin.sh`'s signed load (release build), the check-in
    /// flush of about 6,000 devices took 0.14 to 0.25 s one statement an access and 0.04 to
    /// 0.10 s in one, and SQLite's share of the server's CPU fell from 16 % to under 3 %.
    func write(statements: [SQLQuery], excluding scope: WriteScope) async throws {
        let prepared = statements.map { ($0, $0.sql { _ in "?" }, SQLiteTransaction.arguments($0.values)) }
        try await gate.run(timeoutSeconds: busyTimeout) {
            try await pool.writeWithoutTransaction { db in
                try db.execute(sql: "BEGIN IMMEDIATE")
                do {
                    for (query, sql, arguments) in prepared { try SQLiteTransaction.statement(db, query, sql).execute(arguments: arguments) }
                    try db.execute(sql: "COMMIT")
                } catch {
                    // Nothing of the transaction stays; a rollback that fails leaves SQLite to end it.
                    if db.isInsideTransaction { try? db.execute(sql: "ROLLBACK") }
                    throw error
                }
            }
        }
    }

    /// A SQLite registry is one file on one machine, served by one instance: it leads.
    func holdsLeadership() async -> Bool { true }

    func close() async {
        do { try pool.close() } catch {
            // Statements still open (a request cut short): the pool closes when released.
        }
    }
}

/// A statement on GRDB. Every statement is prepared once per connection and kept: the stores'
/// SQL is a fixed set of strings, and preparing dominates the cost of the small queries.
struct SQLiteTransaction: SQLTransaction {
    enum Access: Sendable {
        case read(DatabasePool)
        case write(DatabasePool)
    }

    let access: Access
    var dialect: SQLDialect { .sqlite }

    private func run<T: Sendable>(_ work: @Sendable @escaping (Database) throws -> T) async throws -> T {
        switch access {
        case .read(let pool): return try await pool.read(work)
        case .write(let pool): return try await pool.writeWithoutTransaction(work)
        }
    }

    @discardableResult
    /// A statement of a fixed text is prepared once and kept; one whose text grows with its
    /// values (`list:`, `rows:`) is prepared for this use only: GRDB's cache never forgets,
    /// and devices choose how many values they send.
    static func statement(_ db: Database, _ query: SQLQuery, _ sql: String) throws -> Statement {
        query.hasVariableShape ? try db.makeStatement(sql: sql) : try db.cachedStatement(sql: sql)
    }

    func execute(_ query: SQLQuery) async throws -> Int {
        let (sql, arguments) = (query.sql { _ in "?" }, Self.arguments(query.values))
        return try await run { db in
            try Self.statement(db, query, sql).execute(arguments: arguments)
            return db.changesCount
        }
    }

    func rows(_ query: SQLQuery) async throws -> [SQLRow] {
        let (sql, arguments) = (query.sql { _ in "?" }, Self.arguments(query.values))
        return try await run { db in try Row.fetchAll(Self.statement(db, query, sql), arguments: arguments).map(Self.row) }
    }

    func forEachRow(_ query: SQLQuery, _ body: (SQLRow) async throws -> Void) async throws {
        // GRDB reads on its own queue and `body` may not go there: the rows (of a start-up
        // load, at most a fleet's devices) are collected first.
        for row in try await rows(query) { try await body(row) }
    }

    static func arguments(_ values: [SQLValue]) -> StatementArguments {
        StatementArguments(values.map { value -> DatabaseValue in
            switch value {
            case .null: return .null
            case .integer(let number): return number.databaseValue
            case .real(let number): return number.databaseValue
            case .text(let text): return text.databaseValue
            case .blob(let bytes): return Data(bytes).databaseValue
            }
        })
    }

    static func row(_ row: Row) -> SQLRow {
        SQLRow(names: Array(row.columnNames), values: row.databaseValues.map { value in
            switch value.storage {
            case .null: return .null
            case .int64(let number): return .integer(number)
            case .double(let number): return .real(number)
            case .string(let text): return .text(text)
            case .blob(let data): return .blob(Array(data))
            }
        })
    }
}


enum JSONColumn {
    /// The JSON text to store; a value that cannot be encoded is an error, never `null`.
    static func encode<T: Encodable>(_ value: T) throws -> String {
        String(decoding: try StrictJSON.encode(value), as: UTF8.self)
    }

    /// For columns whose JSON came from a device: a row that does not decode is skipped, not fatal.
    static func decode<T: Decodable>(_ type: T.Type, from text: String) throws -> T {
        try StrictJSON.decode(T.self, from: Array(text.utf8), what: "stored report")
    }
}
