import Foundation
import Logging
import OTACore
@testable import OTAServer
import TestSupport
import Testing

/// A transaction on PostgreSQL never waits without end once it has its connection. Run six at
/// a time, this test hung a third of its runs when the deadline only closed the connection
/// (the statement's wait did not end): the caller is answered at the deadline itself.
@Suite("PostgreSQL transaction deadline", .tags(.database))
struct PostgresDeadlineTests {
    /// A new database whose transactions have a deadline of one second; nil without PostgreSQL.
    static func open() async throws -> PostgresDatabase? {
        guard TestServer.postgres != nil else { return nil }
        let location = try PostgresLocation(url: try #require(try TestServer.newPostgresDatabase()) + "?connect_timeout=60")
        return try await PostgresDatabase(location: location, lockTimeoutSeconds: 2, transactionDeadlineSeconds: 1,
                                          logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() })
    }

    @Test("A transaction past its deadline is answered unavailable at the deadline, not at the end of its statement, and the next one runs")
    func transactionPastDeadline() async throws {
        guard let db = try await Self.open() else { return }
        let started = Date()
        // The session's statement_timeout (60 s) would end this sleep much later.
        await #expect(throws: SQLUnavailable.self) {
            try await db.read { sql in try await sql.execute("SELECT pg_sleep(20)") }
        }
        #expect(Date().timeIntervalSince(started) < 10)
        #expect(try await db.read { sql in try await sql.value(Int.self, "SELECT 1") } == 1)
        await db.close()
    }

    @Test("A single read outside a transaction past its deadline is answered unavailable at the deadline, and the next one runs")
    func singleReadPastDeadline() async throws {
        guard let db = try await Self.open() else { return }
        let started = Date()
        await #expect(throws: SQLUnavailable.self) { _ = try await db.rows("SELECT pg_sleep(20)") }
        #expect(Date().timeIntervalSince(started) < 10)
        #expect(try await db.row("SELECT 1 AS one")?.int("one") == 1)
        await db.close()
    }
}
