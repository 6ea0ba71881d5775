import Foundation
import OTACore

/// The registry's storage seam: a database the stores run transactions on, asynchronously.
/// The stores write their SQL once, in the dialect both backends read (`ON CONFLICT`,
/// `RETURNING`, `IS DISTINCT FROM`), as `SQLQuery` values whose parameters are bound where
/// they are written; what differs is asked of `SQLDialect`.
protocol SQLDatabase: Sendable {
    var dialect: SQLDialect { get }
    /// A read-only transaction (PostgreSQL: one consistent snapshot; SQLite: each statement
    /// sees the latest committed state).
    func read<T: Sendable>(_ body: @escaping @Sendable (any SQLTransaction) async throws -> T) async throws -> T
    /// A read-write transaction, committed when `body` returns and rolled back when it throws.
    /// It runs alone among the writes whose scope shares one of its own (across instances,
    /// with PostgreSQL); `write(_:)` is a write of every scope.
    func write<T: Sendable>(excluding scope: WriteScope, _ body: @escaping @Sendable (any SQLTransaction) async throws -> T) async throws -> T
    /// Whether this instance leads the instances sharing the database, and so runs the work
    /// that must run once (rollout timers, trust renewal, pruning the change feed).
    func holdsLeadership() async -> Bool
    /// Ends every connection (at shutdown, when nothing uses the database any more).
    func close() async
    /// Wake-ups when another instance commits a change, or nil when the database has no
    /// such signal (SQLite: one instance alone). Starts listening.
    func changeNotifications() -> AsyncStream<Void>?
    /// Statements that need nothing from one another, run in order in one read-write
    /// transaction (the check-in flush). SQLite runs them in one access of its writer.
    func write(statements: [SQLQuery], excluding scope: WriteScope) async throws
    /// The rows of one read statement, on its own snapshot: a read with nothing else to be
    /// consistent with (an admin token's lookup, on every admin request) needs no transaction
    /// around it, which on PostgreSQL is a wait for BEGIN and one for COMMIT fewer.
    func rows(_ query: SQLQuery) async throws -> [SQLRow]
}

extension SQLDatabase {
    func changeNotifications() -> AsyncStream<Void>? { nil }

    /// A write that runs alone among all writes: the default, and what every write is unless
    /// it states a narrower scope and why.
    func write<T: Sendable>(_ body: @escaping @Sendable (any SQLTransaction) async throws -> T) async throws -> T {
        try await write(excluding: .everything, body)
    }

    func write(statements: [SQLQuery], excluding scope: WriteScope) async throws {
        try await write(excluding: scope) { db in
            for statement in statements { try await db.execute(statement) }
        }
    }

    func rows(_ query: SQLQuery) async throws -> [SQLRow] {
        try await read { db in try await db.rows(query) }
    }

    /// The first row of one read statement, on its own snapshot (`rows(_:)`).
    func row(_ query: SQLQuery) async throws -> SQLRow? { try await rows(query).first }
}

/// What a write transaction keeps other writers out of while it runs. Two writes run one after
/// the other when their scopes share a member (PostgreSQL: one transaction-scoped advisory lock
/// a member, always taken in the same order, the check-in records' first, so that two writes
/// never wait on each other's lock); SQLite has one writer, and there every write excludes
/// every other. An empty scope excludes no other write (none uses it: even an insert that is
/// its own decision may delete rows another write deletes too, in another order).
///
/// Why two: during a rollout, devices join deployments while the check-in flush writes what
/// devices reported, and with one lock a join waited for the flush step in progress (on
/// PostgreSQL, a tenth of joins answered two to three times later than before the flush was
/// split into steps). The two touch different rows.
struct WriteScope: OptionSet, Sendable {
    let rawValue: Int

    /// The registry's decisions and its change feed: a decision read inside the write (an
    /// admission limit, "is this name taken") still holds when it commits, and the feed's rows
    /// commit in the order of their numbers, which is how instances read it without a gap.
    static let registry = WriteScope(rawValue: 1 << 0)
    /// What check-ins record about devices, written by the flush: last seen, attributes, trust
    /// reports and installed lists (and the installed counts their triggers keep, which read
    /// `bundles`). A write that changes, locks or deletes rows of `devices`, `installed` or
    /// `bundles` must hold it too: the flush updates hundreds of devices' rows in one
    /// statement, in no set order, and two such writes running together could each wait for
    /// the other's rows; a bundle published beside a flush would be counted wrong.
    static let checkinRecords = WriteScope(rawValue: 1 << 1)

    static let everything: WriteScope = [.registry, .checkinRecords]
}

/// One transaction in progress.
protocol SQLTransaction: Sendable {
    var dialect: SQLDialect { get }
    /// Runs a statement and returns how many rows it changed.
    @discardableResult
    func execute(_ query: SQLQuery) async throws -> Int
    /// The rows of a query.
    func rows(_ query: SQLQuery) async throws -> [SQLRow]
    /// The rows of a large query, one at a time as they arrive, without holding them all.
    func forEachRow(_ query: SQLQuery, _ body: (SQLRow) async throws -> Void) async throws
    /// The rows of several queries that need nothing from one another, in order (PostgreSQL
    /// pipelines them: one wait instead of one per query).
    func rows(all queries: [SQLQuery]) async throws -> [[SQLRow]]
}

extension SQLTransaction {
    func rows(all queries: [SQLQuery]) async throws -> [[SQLRow]] {
        var results: [[SQLRow]] = []
        for query in queries { results.append(try await rows(query)) }
        return results
    }

    /// The first row of a query, if any.
    func row(_ query: SQLQuery) async throws -> SQLRow? { try await rows(query).first }

    /// The first column of the first row, if there is a row and it is not NULL.
    func value<T: SQLColumn>(_ type: T.Type, _ query: SQLQuery) async throws -> T? {
        guard let row = try await row(query), let first = row.values.first, first != .null else { return nil }
        return try T.decode(first, column: row.names.first ?? "?")
    }

    /// The first column of every row.
    func values<T: SQLColumn>(_ type: T.Type, _ query: SQLQuery) async throws -> [T] {
        try await rows(query).map { row in try T.decode(row.values.first ?? .null, column: row.names.first ?? "?") }
    }
}

/// Statements that carry many rows at once (`INSERT … SELECT … FROM (VALUES …) AS v`): a round
/// trip per few hundred rows instead of per row.
enum SQLRows {
    /// The slice sizes. Every full slice of a statement gives it the same text, so SQLite keeps
    /// it prepared (`SQLQuery.hasVariableShape`); only a last, shorter slice is prepared, run
    /// and dropped. Preparing a 400-row statement at every flush cost the check-in path a
    /// tenth of its CPU (`bench/scale.sh`, SQLite), and keeping every count prepared would
    /// let the cache grow without bound.
    enum Size: Int, CaseIterable {
        case small = 100
        case standard = 400
        case large = 2_000
    }

    /// `items` in slices small enough for one statement's parameters.
    static func chunks<T>(_ items: [T], size: Size = .standard) -> [[T]] {
        stride(from: 0, to: items.count, by: size.rawValue).map { Array(items[$0..<min($0 + size.rawValue, items.count)]) }
    }
}

/// What the two SQL dialects spell differently.
enum SQLDialect: Sendable {
    case sqlite
    case postgres

    /// The text at top-level `key` of the JSON held in `column` (NULL when absent).
    func jsonText(_ column: String, _ key: String) -> SQLQuery {
        switch self {
        case .sqlite: return "json_extract(\(raw: column), '$.\(raw: key)')"
        case .postgres: return "((\(raw: column))::jsonb ->> '\(raw: key)')"
        }
    }

    /// A number at top-level `key` of the JSON held in `column`.
    func jsonNumber(_ column: String, _ key: String) -> SQLQuery {
        switch self {
        case .sqlite: return "json_extract(\(raw: column), '$.\(raw: key)')"
        case .postgres: return "((\(raw: column))::jsonb ->> '\(raw: key)')::numeric"
        }
    }
}

/// A value as the database holds it.
enum SQLValue: Sendable, Equatable {
    case null
    case integer(Int64)
    case real(Double)
    case text(String)
    case blob([UInt8])
}

/// A Swift value that can be bound to a placeholder.
protocol SQLBindable {
    var sqlValue: SQLValue { get }
}

/// A Swift value that can be read from a column.
protocol SQLColumn {
    static func decode(_ value: SQLValue, column: String) throws -> Self
}

struct SQLDecodingError: Error, CustomStringConvertible {
    let description: String
}

/// One row of a result, by column name. Reading a column is checked: a column the query
/// does not have, a NULL or a type the schema does not promise is a `SQLDecodingError`
/// (logged, and a 500 for a request), never a crash.
struct SQLRow: Sendable {
    let names: [String]
    let values: [SQLValue]

    init(names: [String], values: [SQLValue]) {
        self.names = names
        self.values = values
    }

    func value(_ column: String) throws -> SQLValue {
        guard let index = names.firstIndex(of: column) else {
            throw SQLDecodingError(description: "the query has no column \(column) (it has \(names.joined(separator: ", ")))")
        }
        return values[index]
    }

    /// The column as `T`.
    subscript<T: SQLColumn>(_ column: String) -> T {
        get throws { try T.decode(value(column), column: column) }
    }

    func string(_ column: String) throws -> String { try self[column] }
    func optionalString(_ column: String) throws -> String? { try self[column] }
    func int(_ column: String) throws -> Int { try self[column] }
    func int64(_ column: String) throws -> Int64 { try self[column] }

    /// A JSON column decoded into `T`.
    func json<T: Decodable>(_ column: String, as type: T.Type) throws -> T {
        let text: String = try self[column]
        do { return try JSONDecoder().decode(T.self, from: Data(text.utf8)) } catch {
            throw SQLDecodingError(description: "database column \(column) holds JSON this server cannot read: \(error)")
        }
    }
}

