import Foundation
import OTACore
@testable import OTAServer
import TestSupport
import Testing

/// A read on PostgreSQL sends its BEGIN with its first statement rather than before it.
@Suite("PostgreSQL reads", .tags(.database))
struct PostgresReadTests {
    @Test("A read's statements see one snapshot, taken at its first, though its BEGIN goes with that statement; a read of no statement leaves nothing open")
    func oneSnapshot() async throws {
        guard TestServer.postgres != nil else { return }
        let dir = TemporaryDirectory("ota-reads")
        let (db, _) = try await StoreBackendTests.open("postgres", in: dir)
        let (read, readContinuation) = AsyncStream<Void>.makeStream()
        let (written, writtenContinuation) = AsyncStream<Void>.makeStream()
        let reader = Task {
            try await db.read { sql in
                let before = try await sql.value(Int.self, "SELECT count(*) FROM server_secrets")
                readContinuation.finish()
                for await _ in written {}
                return [before, try await sql.value(Int.self, "SELECT count(*) FROM server_secrets")]
            }
        }
        for await _ in read {}
        _ = try await db.write { sql in try await sql.execute("INSERT INTO server_secrets (name, value) VALUES ('a', 'b')") }
        writtenContinuation.finish()
        // Without the BEGIN, each statement would see what was committed before it: 0, then 1.
        #expect(try await reader.value == [0, 0])
        // A read cannot write, whichever statement comes first.
        await #expect(throws: SQLFailure.self) {
            _ = try await db.read { sql in try await sql.execute("INSERT INTO server_secrets (name, value) VALUES ('c', 'd')") }
        }
        // More reads of no statement than the pool has connections: none is left in a transaction.
        for _ in 0..<40 { _ = try await db.read { _ in 1 } }
        #expect(try await db.read { sql in try await sql.value(Int.self, "SELECT count(*) FROM server_secrets") } == 1)
        #expect(try await db.read { sql in
            try await sql.value(Int.self, "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND state = 'idle in transaction'")
        } == 0)
        await db.close()
    }
}

/// One read statement outside a transaction (`SQLDatabase.rows`), on both backends.
@Suite("Single reads", .tags(.database))
struct SingleReadTests {
    @Test("A read of one statement returns its rows; a failing one is an error and the next goes through", arguments: StoreBackendTests.backends)
    func singleRead(backend: String) async throws {
        let dir = TemporaryDirectory("ota-reads")
        let (db, _) = try await StoreBackendTests.open(backend, in: dir)
        _ = try await db.write { sql in try await sql.execute("INSERT INTO server_secrets (name, value) VALUES ('a', 'b'), ('c', 'd')") }
        #expect(try await db.rows("SELECT name FROM server_secrets ORDER BY name").map { try $0.string("name") } == ["a", "c"])
        #expect(try await db.row("SELECT value FROM server_secrets WHERE name = \("c")")?.string("value") == "d")
        #expect(try await db.row("SELECT value FROM server_secrets WHERE name = 'none'") == nil)
        if backend == "postgres" {
            await #expect(throws: SQLFailure.self) { _ = try await db.rows("SELECT no_such_column FROM server_secrets") }
        } else {
            await #expect(throws: (any Error).self) { _ = try await db.rows("SELECT no_such_column FROM server_secrets") }
        }
        for _ in 0..<40 { _ = try await db.rows("SELECT 1 AS one") }
        #expect(try await db.rows("SELECT count(*) AS n FROM server_secrets").first?.int("n") == 2)
    }
}
