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
    @Test("A transaction past its deadline is answered unavailable at the deadline, not at the end of its statement, and the next one runs")
    func transactionPastDeadline() async throws {
        guard TestServer.postgres != nil else { return }
        let location = try PostgresLocation(url: try #require(try TestServer.newPostgresDatabase()) + "?connect_timeout=60")
        let db = try await PostgresDatabase(location: location, lockTimeoutSeconds: 2, transactionDeadlineSeconds: 1,
                                            logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() })
        let started = Date()
        // The session's statement_timeout (60 s) would end this sleep much later.
        await #expect(throws: SQLUnavailable.self) {
            try await db.read { sql in try await sql.execute("SELECT pg_sleep(20)") }
        }
        #expect(Date().timeIntervalSince(started) < 10)
        #expect(try await db.read { sql in try await sql.value(Int.self, "SELECT 1") } == 1)
        await db.close()
    }
}
