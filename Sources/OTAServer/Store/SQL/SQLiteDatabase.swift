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
        configuration.prepareDatabase { db in
            // Durable on commit, without an fsync of the WAL for every transaction's pages twice.
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
        }
        let pool: DatabasePool
        do { pool = try DatabasePool(path: path, configuration: configuration) } catch {
            throw OpenError.cannotOpen(path: path, reason: String(describing: error))
        }
        try migrate(pool)
        return SQLiteDatabase(pool: pool)
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

/// The registry in SQLite through GRDB: a pool of readers beside one writer (WAL).
struct SQLiteDatabase: SQLDatabase {
    let pool: DatabasePool
    var dialect: SQLDialect { .sqlite }

    func read<T: Sendable>(_ body: @escaping @Sendable (any SQLTransaction) throws -> T) async throws -> T {
        try await pool.read { db in try body(SQLiteTransaction(db: db)) }
    }

    func write<T: Sendable>(_ body: @escaping @Sendable (any SQLTransaction) throws -> T) async throws -> T {
        try await pool.write { db in try body(SQLiteTransaction(db: db)) }
    }

    func readBlocking<T>(_ body: (any SQLTransaction) throws -> T) throws -> T {
        try pool.read { db in try body(SQLiteTransaction(db: db)) }
    }

    func writeBlocking<T>(_ body: (any SQLTransaction) throws -> T) throws -> T {
        try pool.write { db in try body(SQLiteTransaction(db: db)) }
    }

    /// A SQLite registry is one file on one machine, served by one instance: it leads.
    func holdsLeadership() async -> Bool { true }
}

/// A GRDB transaction. Every statement is prepared once per connection and kept: the stores'
/// SQL is a fixed set of strings, and preparing dominates the cost of the small queries on
/// hot paths.
struct SQLiteTransaction: SQLTransaction {
    let db: Database
    var dialect: SQLDialect { .sqlite }

    func execute(_ sql: String, _ arguments: [any SQLBindable]) throws -> Int {
        try db.cachedStatement(sql: sql).execute(arguments: Self.arguments(arguments))
        return db.changesCount
    }

    func rows(_ sql: String, _ arguments: [any SQLBindable]) throws -> [SQLRow] {
        try Row.fetchAll(db.cachedStatement(sql: sql), arguments: Self.arguments(arguments)).map(Self.row)
    }

    func forEachRow(_ sql: String, _ arguments: [any SQLBindable], _ body: (SQLRow) throws -> Void) throws {
        let cursor = try Row.fetchCursor(db.cachedStatement(sql: sql), arguments: Self.arguments(arguments))
        while let row = try cursor.next() { try body(Self.row(row)) }
    }

    static func arguments(_ values: [any SQLBindable]) -> StatementArguments {
        StatementArguments(values.map { value -> DatabaseValue in
            switch value.sqlValue {
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
    static func encode<T: Encodable>(_ value: T) -> String {
        String(decoding: (try? StrictJSON.encode(value)) ?? Data("null".utf8), as: UTF8.self)
    }

    /// For columns whose JSON came from a device: a row that does not decode is skipped, not fatal.
    static func decode<T: Decodable>(_ type: T.Type, from text: String) throws -> T {
        try StrictJSON.decode(T.self, from: Array(text.utf8), what: "stored report")
    }
}
