import Foundation
import OTACore
@testable import OTAServer
import TestSupport
import Testing

/// Write scopes on PostgreSQL: a device joining a rollout (the registry's scope) does not wait
/// for a check-in flush step (the check-in records' scope), and a write of every scope (the
/// default) waits for both. SQLite has one writer, so there is nothing to test there.
@Suite("Write scopes", .tags(.database))
struct WriteScopeTests {
    /// A write of `scope` that holds its locks until `release` is called.
    struct HeldWrite {
        let task: Task<Void, any Error>
        let release: @Sendable () -> Void

        static func start(_ db: any SQLDatabase, _ scope: WriteScope, name: String) async throws -> HeldWrite {
            let (entered, enteredContinuation) = AsyncStream<Void>.makeStream()
            let (released, releaseContinuation) = AsyncStream<Void>.makeStream()
            let task = Task {
                try await db.write(excluding: scope) { sql in
                    try await sql.execute("INSERT INTO server_secrets (name, value) VALUES (\(name), 'held')")
                    enteredContinuation.finish()
                    for await _ in released {}
                }
            }
            for await _ in entered {}
            return HeldWrite(task: task, release: { releaseContinuation.finish() })
        }
    }

    static func names(_ db: any SQLDatabase) async throws -> [String] {
        try await db.read { sql in try await sql.values(String.self, "SELECT name FROM server_secrets ORDER BY name") }
    }

    /// Waits (at most 30 s) until `count` sessions wait for an advisory lock.
    static func waiters(_ db: any SQLDatabase, _ count: Int) async throws {
        let deadline = Date().addingTimeInterval(30)
        while try await db.read({ sql in
            try await sql.value(Int.self, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
        }) != count {
            guard Date() < deadline else { Issue.record("no write waited for the lock"); return }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    @Test("A join's write commits while a flush step holds the check-in records; a write of every scope waits for the step")
    func joinsPassFlushSteps() async throws {
        guard TestServer.postgres != nil else { return }
        let dir = TemporaryDirectory("ota-scopes")
        let (db, _) = try await StoreBackendTests.open("postgres", in: dir)
        let flush = try await HeldWrite.start(db, .checkinRecords, name: "flush")
        // Were the join to wait for the step, it would fail at the lock timeout (2 s): the step
        // is released only after it.
        _ = try await db.write(excluding: .registry) { sql in try await sql.execute("INSERT INTO server_secrets (name, value) VALUES ('join', 'x')") }
        #expect(try await Self.names(db) == ["join"])
        let other = Task { try await db.write { sql in try await sql.execute("INSERT INTO server_secrets (name, value) VALUES ('other', 'x')") } }
        try await Self.waiters(db, 1)
        flush.release()
        try await flush.task.value
        _ = try await other.value
        #expect(try await Self.names(db) == ["flush", "join", "other"])
        await db.close()
    }

    @Test("Two flush steps run one after the other, and so do a join and a write of every scope")
    func sameScopeWaits() async throws {
        guard TestServer.postgres != nil else { return }
        let dir = TemporaryDirectory("ota-scopes")
        let (db, _) = try await StoreBackendTests.open("postgres", in: dir)
        for (held, waiting) in [(WriteScope.checkinRecords, WriteScope.checkinRecords), (.registry, .everything), (.everything, .registry)] {
            let first = try await HeldWrite.start(db, held, name: "first")
            let second = Task {
                try await db.write(excluding: waiting) { sql in try await sql.execute("INSERT INTO server_secrets (name, value) VALUES ('second', 'x')") }
            }
            try await Self.waiters(db, 1)
            // The second has not written: it waits for the first's lock.
            #expect(try await Self.names(db) == [])
            first.release()
            try await first.task.value
            _ = try await second.value
            #expect(try await Self.names(db) == ["first", "second"])
            _ = try await db.write { sql in try await sql.execute("DELETE FROM server_secrets") }
        }
        await db.close()
    }
}

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
        await #expect(throws: (any Error).self) { _ = try await db.rows("SELECT no_such_column FROM server_secrets") }
        for _ in 0..<40 { _ = try await db.rows("SELECT 1 AS one") }
        #expect(try await db.rows("SELECT count(*) AS n FROM server_secrets").first?.int("n") == 2)
    }
}

/// Which stores write in a narrower scope than every scope, checked where they write.
@Suite("Write scopes of the stores")
struct StoreWriteScopeTests {
    @Test("Admissions write in the registry's scope alone, so a device joining a rollout does not wait for a flush step")
    func admissionsExcludeTheRegistryOnly() async throws {
        let dir = TemporaryDirectory("ota-scopes")
        let (db, _) = try await StoreBackendTests.open("sqlite", in: dir)
        let counting = CountingDatabase(db)
        let members = try await DeploymentStore(db: counting).admit([Admission(deploymentID: "no-such-deployment", deviceID: "d1", phase: 0)],
                                                                    clock: TestClock())
        #expect(members == [nil])
        #expect(counting.bodyScopes == [.registry])
    }

    @Test("Deleting a device writes in every scope: its installed list goes with it, which the flush writes too")
    func deviceDeletionExcludesTheFlush() async throws {
        let dir = TemporaryDirectory("ota-scopes")
        let (db, _) = try await StoreBackendTests.open("sqlite", in: dir)
        try await CheckinFlushTests.addDevices(db, ["d1"])
        let counting = CountingDatabase(db)
        #expect(try await DeviceStore(db: counting).delete(id: "d1", by: AdminIdentity(tokenID: "t1", name: "test", role: .admin)))
        #expect(counting.bodyScopes == [.everything])
    }
}
