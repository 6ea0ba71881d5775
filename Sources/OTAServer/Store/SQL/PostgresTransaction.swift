import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import PostgresNIO

/// One PostgreSQL transaction in progress on one connection of the pool.
struct PostgresTransaction: SQLTransaction {
    let connection: PostgresConnection
    let logger: Logger
    /// What the transaction still has to send before its first statement (a read's BEGIN),
    /// or nil when it was opened before its body ran (a write: its locks are held from the
    /// start of the body, which may read the clock first).
    let opening: Opening?
    var dialect: SQLDialect { .postgres }

    init(connection: PostgresConnection, logger: Logger, opening: [String]? = nil) {
        self.connection = connection
        self.logger = logger
        self.opening = opening.map(Opening.init)
    }

    /// A read's BEGIN, sent with its first statement: one wait fewer for each read (a
    /// repeatable-read snapshot starts at the first statement, not at BEGIN, so nothing
    /// changes but the wait). Taken once.
    final class Opening: Sendable {
        private let statements: NIOLockedValueBox<[String]?>
        init(_ statements: [String]) { self.statements = NIOLockedValueBox(statements) }
        func take() -> [String]? { statements.withLockedValue { taken in defer { taken = nil }; return taken } }
        var sent: Bool { statements.withLockedValue { $0 == nil } }
    }

    /// Whether anything was sent: a read whose body ran no statement has nothing to commit.
    var isOpen: Bool { opening?.sent ?? true }

    /// Sends the opening, if it is still due, without waiting for it: the connection runs it
    /// before the statement the caller sends next. The caller waits for the result after.
    private func open() -> EventLoopFuture<Void>? {
        guard let statements = opening?.take() else { return nil }
        let futures: [EventLoopFuture<PostgresQueryResult>] = statements.map { connection.query(PostgresQuery(stringLiteral: $0), logger: logger) }
        return EventLoopFuture.andAllSucceed(futures, on: connection.eventLoop)
    }

    /// A statement the program wrote whole (BEGIN, COMMIT, a lock), with nothing bound.
    /// Its rows are read to the end: a statement's error (a lock wait past `lock_timeout`)
    /// arrives after the rows' description, and a sequence left unread would drop it.
    func run(_ sql: String) async throws {
        let opened = open()
        let rows = try await connection.query(PostgresQuery(stringLiteral: sql), logger: logger)
        try await opened?.get()
        for try await _ in rows {}
    }

    @discardableResult
    func execute(_ query: SQLQuery) async throws -> Int {
        let opened = open()
        let future: EventLoopFuture<PostgresQueryResult> = connection.query(Self.query(query), logger: logger)
        try await opened?.get()
        return try await future.get().metadata.rows ?? 0
    }

    /// Statements that need nothing from one another, handed to the connection together: it
    /// runs them in order, each as the one before ends (postgres-nio sends a query when the
    /// previous one is answered), and this task waits once for them all. Awaited one by one,
    /// each answer waits for this task's turn on a server busy with check-ins while the write
    /// lock is held: in `bench/scale.sh`'s PostgreSQL join phase run on its own, pipelined
    /// flushes wrote 17,000 devices' last seen a second against 15,500, and joins ran
    /// 3,300–3,400/s against 2,600–2,700. Every answer is waited for, even after a failure, so that nothing of the
    /// transaction is left running when the first error is thrown.
    func pipeline(_ queries: [SQLQuery]) async throws {
        try await send(queries.map(Self.query))
    }

    /// Statements the program wrote whole (BEGIN and the write lock), pipelined likewise.
    func pipeline(sql: [String]) async throws {
        try await send(sql.map { PostgresQuery(stringLiteral: $0) })
    }

    func rows(all queries: [SQLQuery]) async throws -> [[SQLRow]] {
        try await send(queries.map(Self.query)).map { result in try result.rows.map(Self.row) }
    }

    @discardableResult
    private func send(_ queries: [PostgresQuery]) async throws -> [PostgresQueryResult] {
        let opened = open()
        let futures: [EventLoopFuture<PostgresQueryResult>] = queries.map { connection.query($0, logger: logger) }
        let results = try await EventLoopFuture.whenAllComplete(futures, on: connection.eventLoop).get()
        try await opened?.get()
        return try results.map { try $0.get() }
    }

    func rows(_ query: SQLQuery) async throws -> [SQLRow] {
        var rows: [SQLRow] = []
        try await forEachRow(query) { rows.append($0) }
        return rows
    }

    func forEachRow(_ query: SQLQuery, _ body: (SQLRow) async throws -> Void) async throws {
        let opened = open()
        let rows = try await connection.query(Self.query(query), logger: logger)
        try await opened?.get()
        for try await row in rows {
            try await body(try Self.row(row))
        }
    }

    /// The query as postgres-nio's own interpolation builds it: each SQL part appended as
    /// SQL, each value as a bound parameter (`$1, $2, …` numbered there), never SQL text.
    static func query(_ query: SQLQuery) -> PostgresQuery {
        var interpolation = PostgresQuery.StringInterpolation(literalCapacity: 0, interpolationCount: query.parts.count)
        for part in query.parts {
            switch part {
            case .sql(let text): interpolation.appendLiteral(text)
            case .value(.null): interpolation.appendInterpolation(String?.none)
            case .value(.integer(let number)): interpolation.appendInterpolation(number)
            case .value(.real(let number)): interpolation.appendInterpolation(number)
            case .value(.text(let text)): interpolation.appendInterpolation(text)
            case .value(.blob(let bytes)): interpolation.appendInterpolation(ByteBuffer(bytes: bytes))
            }
        }
        return PostgresQuery(stringInterpolation: interpolation)
    }

    static func row(_ row: PostgresRow) throws -> SQLRow {
        var names: [String] = []
        var values: [SQLValue] = []
        for cell in row {
            names.append(cell.columnName)
            values.append(try value(cell))
        }
        return SQLRow(names: names, values: values)
    }

    static func value(_ cell: PostgresCell) throws -> SQLValue {
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
            throw SQLDecodingError(description: "column \(cell.columnName) of type \(cell.dataType) does not decode: \(error)")
        }
    }
}
