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
    public static func open(path: String, busyTimeout: Double = 10) throws -> DatabasePool {
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
        return pool
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
        guard let error = error as? DatabaseError else { return nil }
        switch error.resultCode {
        case .SQLITE_BUSY, .SQLITE_LOCKED: return "the registry database is locked by another writer"
        case .SQLITE_FULL: return "the registry database's disk is full"
        case .SQLITE_IOERR, .SQLITE_CANTOPEN: return "the registry database cannot be read or written (\(error.resultCode))"
        default: return nil
        }
    }
}

/// Row access with the column types the schema uses, failing loudly on a broken invariant.
extension Row {
    func string(_ column: String) -> String { self[column] }
    func optionalString(_ column: String) -> String? { self[column] }
    func int(_ column: String) -> Int { self[column] }
    func int64(_ column: String) -> Int64 { self[column] }

    /// A JSON column decoded into `T`.
    func json<T: Decodable>(_ column: String, as type: T.Type) -> T {
        let text: String = self[column]
        do { return try JSONDecoder().decode(T.self, from: Data(text.utf8)) } catch {
            fatalError("database column \(column) holds invalid JSON: \(error)")
        }
    }
}

extension Database {
    /// Rows from a prepared statement kept for reuse: for queries on hot paths (status pages
    /// polled by dashboards and scripts), where compiling the SQL each time would dominate.
    func cachedRows(_ sql: String, _ arguments: StatementArguments = []) throws -> [Row] {
        try Row.fetchAll(cachedStatement(sql: sql), arguments: arguments)
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
