import Foundation
import OTACore

/// The registry's storage seam: a database the stores run transactions on. The stores write
/// their SQL once, in the dialect both backends read (`?` placeholders, `ON CONFLICT`,
/// `RETURNING`, `IS DISTINCT FROM`); what differs is asked of `SQLDialect`.
protocol SQLDatabase: Sendable {
    var dialect: SQLDialect { get }
    /// A read-only transaction that sees one consistent snapshot.
    func read<T: Sendable>(_ body: @escaping @Sendable (any SQLTransaction) throws -> T) async throws -> T
    /// A read-write transaction, committed when `body` returns and rolled back when it throws.
    func write<T: Sendable>(_ body: @escaping @Sendable (any SQLTransaction) throws -> T) async throws -> T
    /// `read` and `write`, blocking the calling thread: for the command line, for start-up, and
    /// for callers that must not suspend (they hold a lock).
    func readBlocking<T>(_ body: (any SQLTransaction) throws -> T) throws -> T
    func writeBlocking<T>(_ body: (any SQLTransaction) throws -> T) throws -> T
    /// Whether this instance leads the instances sharing the database, and so runs the work
    /// that must run once (rollout timers, trust renewal, pruning the change feed).
    func holdsLeadership() async -> Bool
}

/// One transaction in progress. Its calls block: a database runs `body` on a thread of its
/// own, never on an event loop.
protocol SQLTransaction {
    var dialect: SQLDialect { get }
    /// Runs a statement and returns how many rows it changed.
    @discardableResult
    func execute(_ sql: String, _ arguments: [any SQLBindable]) throws -> Int
    /// The rows of a query.
    func rows(_ sql: String, _ arguments: [any SQLBindable]) throws -> [SQLRow]
    /// The rows of a large query, one at a time, without holding them all.
    func forEachRow(_ sql: String, _ arguments: [any SQLBindable], _ body: (SQLRow) throws -> Void) throws
}

/// `?, ?, ?`: placeholders for a list of `count` values.
func placeholders(_ count: Int) -> String {
    Array(repeating: "?", count: count).joined(separator: ", ")
}

/// Statements that carry many rows at once (`INSERT … SELECT … FROM (VALUES …) AS v`, whose
/// columns both backends name `column1`, `column2`, …): a round trip per few hundred rows
/// instead of per row.
enum SQLRows {
    /// `(?, ?), (?, ?)`: `count` rows of `columns` placeholders.
    static func values(_ count: Int, columns: Int) -> String {
        Array(repeating: "(" + placeholders(columns) + ")", count: count).joined(separator: ", ")
    }

    /// `items` in slices small enough for one statement's placeholders.
    static func chunks<T>(_ items: [T], size: Int = 400) -> [[T]] {
        stride(from: 0, to: items.count, by: size).map { Array(items[$0..<min($0 + size, items.count)]) }
    }
}

extension SQLTransaction {
    @discardableResult
    func execute(_ sql: String) throws -> Int { try execute(sql, []) }
    func rows(_ sql: String) throws -> [SQLRow] { try rows(sql, []) }

    /// The first row of a query, if any.
    func row(_ sql: String, _ arguments: [any SQLBindable] = []) throws -> SQLRow? { try rows(sql, arguments).first }

    /// The first column of the first row, if there is a row and it is not NULL.
    func value<T: SQLColumn>(_ type: T.Type, _ sql: String, _ arguments: [any SQLBindable] = []) throws -> T? {
        guard let row = try row(sql, arguments), let first = row.values.first, first != .null else { return nil }
        return try T.decode(first, column: row.names.first ?? "?")
    }

    /// The first column of every row.
    func values<T: SQLColumn>(_ type: T.Type, _ sql: String, _ arguments: [any SQLBindable] = []) throws -> [T] {
        try rows(sql, arguments).map { row in try T.decode(row.values.first ?? .null, column: row.names.first ?? "?") }
    }
}

/// What the two SQL dialects spell differently.
enum SQLDialect: Sendable {
    case sqlite
    case postgres

    /// The text at top-level `key` of the JSON held in `column` (NULL when absent).
    func jsonText(_ column: String, _ key: String) -> String {
        switch self {
        case .sqlite: return "json_extract(\(column), '$.\(key)')"
        case .postgres: return "((\(column))::jsonb ->> '\(key)')"
        }
    }

    /// A number at top-level `key` of the JSON held in `column`.
    func jsonNumber(_ column: String, _ key: String) -> String {
        switch self {
        case .sqlite: return "json_extract(\(column), '$.\(key)')"
        case .postgres: return "((\(column))::jsonb ->> '\(key)')::numeric"
        }
    }

    /// The strings of the JSON array bound at `placeholder`, as a one-column table `value`.
    func jsonStrings(_ placeholder: String) -> String {
        switch self {
        case .sqlite: return "SELECT value FROM json_each(\(placeholder))"
        case .postgres: return "SELECT jsonb_array_elements_text((\(placeholder))::jsonb) AS value"
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

/// One row of a result, by column name.
struct SQLRow: Sendable {
    let names: [String]
    let values: [SQLValue]

    init(names: [String], values: [SQLValue]) {
        self.names = names
        self.values = values
    }

    func value(_ column: String) -> SQLValue {
        guard let index = names.firstIndex(of: column) else { fatalError("the query has no column \(column) (it has \(names))") }
        return values[index]
    }

    /// The column as `T`, failing loudly on a broken invariant (a NULL or another type where
    /// the schema promises `T`).
    subscript<T: SQLColumn>(_ column: String) -> T {
        do { return try T.decode(value(column), column: column) } catch { fatalError("\(error)") }
    }

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

// MARK: Conversions

extension String: SQLBindable, SQLColumn {
    var sqlValue: SQLValue { .text(self) }
    static func decode(_ value: SQLValue, column: String) throws -> String {
        guard case .text(let text) = value else { throw SQLDecodingError(description: "column \(column) is \(value), not text") }
        return text
    }
}

extension Int64: SQLBindable, SQLColumn {
    var sqlValue: SQLValue { .integer(self) }
    static func decode(_ value: SQLValue, column: String) throws -> Int64 {
        switch value {
        case .integer(let number): return number
        // PostgreSQL's numeric results (sums) arrive as text.
        case .text(let text): if let number = Int64(text) { return number }
        case .real(let number): if number == number.rounded(), let exact = Int64(exactly: number) { return exact }
        default: break
        }
        throw SQLDecodingError(description: "column \(column) is \(value), not an integer")
    }
}

extension Int: SQLBindable, SQLColumn {
    var sqlValue: SQLValue { .integer(Int64(self)) }
    static func decode(_ value: SQLValue, column: String) throws -> Int { Int(try Int64.decode(value, column: column)) }
}

extension Double: SQLBindable, SQLColumn {
    var sqlValue: SQLValue { .real(self) }
    static func decode(_ value: SQLValue, column: String) throws -> Double {
        switch value {
        case .real(let number): return number
        case .integer(let number): return Double(number)
        case .text(let text): if let number = Double(text) { return number }
        default: break
        }
        throw SQLDecodingError(description: "column \(column) is \(value), not a number")
    }
}

/// Stored as 0 or 1 (both backends' columns are integers).
extension Bool: SQLBindable, SQLColumn {
    var sqlValue: SQLValue { .integer(self ? 1 : 0) }
    static func decode(_ value: SQLValue, column: String) throws -> Bool {
        if case .integer(let number) = value { return number != 0 }
        if case .text(let text) = value, let number = Int64(text) { return number != 0 }
        throw SQLDecodingError(description: "column \(column) is \(value), not a boolean")
    }
}

extension Array: SQLBindable where Element == UInt8 {
    var sqlValue: SQLValue { .blob(self) }
}

extension Array: SQLColumn where Element == UInt8 {
    static func decode(_ value: SQLValue, column: String) throws -> [UInt8] {
        guard case .blob(let bytes) = value else { throw SQLDecodingError(description: "column \(column) is \(value), not bytes") }
        return bytes
    }
}

extension Data: SQLBindable, SQLColumn {
    var sqlValue: SQLValue { .blob(Array(self)) }
    static func decode(_ value: SQLValue, column: String) throws -> Data { Data(try [UInt8].decode(value, column: column)) }
}

extension Optional: SQLBindable where Wrapped: SQLBindable {
    var sqlValue: SQLValue { self?.sqlValue ?? .null }
}

extension Optional: SQLColumn where Wrapped: SQLColumn {
    static func decode(_ value: SQLValue, column: String) throws -> Wrapped? {
        value == .null ? nil : try Wrapped.decode(value, column: column)
    }
}

/// States stored by their raw values.
extension SQLBindable where Self: RawRepresentable, RawValue == String {
    var sqlValue: SQLValue { .text(rawValue) }
}

extension SQLColumn where Self: RawRepresentable, RawValue == String {
    static func decode(_ value: SQLValue, column: String) throws -> Self {
        guard let parsed = Self(rawValue: try String.decode(value, column: column)) else {
            throw SQLDecodingError(description: "column \(column) holds \(value), which is not a \(Self.self)")
        }
        return parsed
    }
}

extension SQLValue: SQLBindable {
    var sqlValue: SQLValue { self }
}
