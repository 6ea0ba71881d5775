/// A statement with its values bound where they are written:
///
///     "SELECT status FROM devices WHERE id = \(id) AND public_key = \(key)"
///
/// Every interpolated value, text included, is a bound parameter, never SQL text; each backend renders the
/// placeholders its way (`?` for SQLite, `$1, $2, …` for PostgreSQL) from the query's parts,
/// without reading the SQL. Text that must be SQL (a column name chosen by the code, a dialect's
/// spelling) is written `\(raw: …)`, and comes only from the program.
struct SQLQuery: ExpressibleByStringInterpolation, Sendable, CustomStringConvertible {
    enum Part: Sendable {
        case sql(String)
        case value(SQLValue)
    }

    private(set) var parts: [Part] = []
    /// Whether the text depends on how many values a list or rows interpolation held, other
    /// than a full slice (`SQLRows.Size`): such a statement is not worth keeping prepared.
    private(set) var hasVariableShape = false

    init(stringLiteral sql: String) { parts = [.sql(sql)] }

    init(stringInterpolation: StringInterpolation) {
        parts = stringInterpolation.parts
        hasVariableShape = stringInterpolation.hasVariableShape
    }

    init(parts: [Part], hasVariableShape: Bool = false) {
        self.parts = parts
        self.hasVariableShape = hasVariableShape
    }

    /// The values, in the order their placeholders appear.
    var values: [SQLValue] { parts.compactMap { if case .value(let value) = $0 { return value } else { return nil } } }

    /// The SQL with `placeholder(n)` (1-based) for each value.
    func sql(placeholder: (Int) -> String) -> String {
        var text = ""
        var number = 0
        for part in parts {
            switch part {
            case .sql(let sql): text += sql
            case .value:
                number += 1
                text += placeholder(number)
            }
        }
        return text
    }

    var description: String { sql { _ in "?" } }

    static func + (a: SQLQuery, b: SQLQuery) -> SQLQuery {
        SQLQuery(parts: a.parts + b.parts, hasVariableShape: a.hasVariableShape || b.hasVariableShape)
    }

    /// `queries` joined with `separator` (written as SQL).
    static func joined(_ queries: [SQLQuery], separator: String) -> SQLQuery {
        var parts: [Part] = []
        for (index, query) in queries.enumerated() {
            if index > 0 { parts.append(.sql(separator)) }
            parts += query.parts
        }
        return SQLQuery(parts: parts, hasVariableShape: true)
    }

    struct StringInterpolation: StringInterpolationProtocol, Sendable {
        var parts: [Part] = []
        var hasVariableShape = false

        init(literalCapacity: Int, interpolationCount: Int) { parts.reserveCapacity(interpolationCount * 2 + 1) }

        mutating func appendLiteral(_ literal: String) { parts.append(.sql(literal)) }

        /// A bound value.
        mutating func appendInterpolation(_ value: some SQLBindable) { parts.append(.value(value.sqlValue)) }

        /// Values bound as a list: `?, ?, ?` (an `IN (…)` list).
        mutating func appendInterpolation(list values: [some SQLBindable]) {
            if SQLRows.Size(rawValue: values.count) == nil { hasVariableShape = true }
            for (index, value) in values.enumerated() {
                if index > 0 { parts.append(.sql(", ")) }
                parts.append(.value(value.sqlValue))
            }
        }

        /// Rows of values: `(?, ?), (?, ?)` (a `VALUES` list, whose columns both backends name
        /// `column1`, `column2`, …).
        mutating func appendInterpolation(rows: [[any SQLBindable]]) {
            if SQLRows.Size(rawValue: rows.count) == nil { hasVariableShape = true }
            for (index, row) in rows.enumerated() {
                parts.append(.sql(index > 0 ? ", (" : "("))
                for (column, value) in row.enumerated() {
                    if column > 0 { parts.append(.sql(", ")) }
                    parts.append(.value(value.sqlValue))
                }
                parts.append(.sql(")"))
            }
        }

        /// A fragment of SQL built by the program, with its own bound values.
        mutating func appendInterpolation(_ query: SQLQuery) {
            parts += query.parts
            hasVariableShape = hasVariableShape || query.hasVariableShape
        }

        /// SQL text the program chose (never input): a column name, a dialect's spelling.
        mutating func appendInterpolation(raw sql: String) { parts.append(.sql(sql)) }
    }
}
