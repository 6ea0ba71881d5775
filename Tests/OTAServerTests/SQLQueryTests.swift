@testable import OTAServer
import Testing

/// How a statement's text is built from its values, without a database.
@Suite("SQL statements")
struct SQLQueryTests {
    @Test("Values are bound by position, never written into the text, on both backends")
    func valuesAreBound() {
        let name = "x'); DROP TABLE devices; --"
        let query: SQLQuery = "SELECT id FROM devices WHERE hardware = \(name) AND last_seen > \(Int64(5))"
        #expect(query.sql { _ in "?" } == "SELECT id FROM devices WHERE hardware = ? AND last_seen > ?")
        #expect(query.sql { "$\($0)" } == "SELECT id FROM devices WHERE hardware = $1 AND last_seen > $2")
        #expect(query.values.count == 2)
    }

    @Test("A statement of full slices has one text and stays prepared; a shorter last slice is prepared and dropped")
    func fullSlicesKeepTheirText() {
        let ids = (0..<(SQLRows.Size.large.rawValue + 7)).map { "device-\($0)" }
        let statements = SQLRows.chunks(ids.map { [$0, Int64(1)] as [any SQLBindable] }).map { chunk -> SQLQuery in
            "UPDATE devices SET last_seen = v.column2 FROM (VALUES \(rows: chunk)) AS v WHERE devices.id = v.column1"
        }
        // 2,007 rows: five full slices of 400 that share one text, then 7.
        #expect(statements.count == 6)
        #expect(statements.dropLast().allSatisfy { !$0.hasVariableShape })
        #expect(Set(statements.dropLast().map(\.description)).count == 1)
        #expect(statements.last?.hasVariableShape == true)
        for size in SQLRows.Size.allCases {
            let full: SQLQuery = "DELETE FROM installed WHERE device_id IN (\(list: Array(ids.prefix(size.rawValue))))"
            let short: SQLQuery = "DELETE FROM installed WHERE device_id IN (\(list: Array(ids.prefix(size.rawValue - 1))))"
            #expect(!full.hasVariableShape, "\(size)")
            #expect(short.hasVariableShape, "\(size)")
        }
    }
}
