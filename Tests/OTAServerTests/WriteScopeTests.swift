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
    /// A write of `scope` that runs `statements` and then holds its locks (and its rows') until
    /// `release` is called.
    struct HeldWrite {
        let task: Task<Void, any Error>
        let release: @Sendable () -> Void

        static func start(_ db: any SQLDatabase, _ scope: WriteScope, _ statements: [SQLQuery]) async throws -> HeldWrite {
            let (entered, enteredContinuation) = AsyncStream<Void>.makeStream()
            let (released, releaseContinuation) = AsyncStream<Void>.makeStream()
            let task = Task {
                try await db.write(excluding: scope) { sql in
                    for statement in statements { try await sql.execute(statement) }
                    enteredContinuation.finish()
                    for await _ in released {}
                }
            }
            for await _ in entered {}
            return HeldWrite(task: task, release: { releaseContinuation.finish() })
        }

        static func start(_ db: any SQLDatabase, _ scope: WriteScope, name: String) async throws -> HeldWrite {
            try await start(db, scope, ["INSERT INTO server_secrets (name, value) VALUES (\(name), 'held')"])
        }
    }

    static func open() async throws -> (any SQLDatabase, TemporaryDirectory) {
        let dir = TemporaryDirectory("ota-scopes")
        let (db, _) = try await StoreBackendTests.open("postgres", in: dir)
        return (db, dir)
    }

    static func names(_ db: any SQLDatabase) async throws -> [String] {
        try await db.read { sql in try await sql.values(String.self, "SELECT name FROM server_secrets ORDER BY name") }
    }

    static func insert(_ name: String) -> SQLQuery { "INSERT INTO server_secrets (name, value) VALUES (\(name), 'x')" }

    /// The advisory locks of this test's database, granted or waited for.
    static func advisoryLocks(_ db: any SQLDatabase, granted: Bool) async throws -> [Int64] {
        try await db.read { sql in
            try await sql.values(Int64.self, """
                SELECT objid::bigint FROM pg_locks WHERE locktype = 'advisory' AND granted = \(raw: granted ? "true" : "false")
                AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) ORDER BY objid
                """)
        }.filter { $0 != PostgresLeadership.lockKey }  // The leader's session lock, if this process took it.
    }

    /// Waits (at most 30 s) until `count` sessions of this database wait for an advisory lock.
    static func waiters(_ db: any SQLDatabase, _ count: Int) async throws {
        let deadline = Date().addingTimeInterval(30)
        while try await advisoryLocks(db, granted: false).count != count {
            guard Date() < deadline else { Issue.record("no write waited for the lock"); return }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    @Test("A join's write commits while a flush step holds the check-in records; a write of every scope waits for the step")
    func joinsPassFlushSteps() async throws {
        guard TestServer.postgres != nil else { return }
        let (db, _dir) = try await Self.open()
        let flush = try await HeldWrite.start(db, .checkinRecords, name: "flush")
        // Were the join to wait for the step, it would fail at the lock timeout (2 s): the step
        // is released only after it.
        _ = try await db.write(excluding: .registry) { sql in try await sql.execute(Self.insert("join")) }
        #expect(try await Self.names(db) == ["join"])
        let other = Task { try await db.write { sql in try await sql.execute(Self.insert("other")) } }
        try await Self.waiters(db, 1)
        // Waiting for the step, the write of every scope does not hold the registry's lock:
        // joins still pass it.
        _ = try await db.write(excluding: .registry) { sql in try await sql.execute(Self.insert("join2")) }
        flush.release()
        try await flush.task.value
        _ = try await other.value
        #expect(try await Self.names(db) == ["flush", "join", "join2", "other"])
        await db.close()
        _ = _dir
    }

    @Test("Two flush steps run one after the other, and so do a join and a write of every scope")
    func sameScopeWaits() async throws {
        guard TestServer.postgres != nil else { return }
        let (db, _dir) = try await Self.open()
        for (held, waiting) in [(WriteScope.checkinRecords, WriteScope.checkinRecords), (.registry, .everything), (.everything, .registry)] {
            let first = try await HeldWrite.start(db, held, name: "first")
            let second = Task { try await db.write(excluding: waiting) { sql in try await sql.execute(Self.insert("second")) } }
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
        _ = _dir
    }

    @Test("The flush's statements, written together, exclude other flush steps and not joins")
    func statementListsTakeTheirScope() async throws {
        guard TestServer.postgres != nil else { return }
        let (db, _dir) = try await Self.open()
        let join = try await HeldWrite.start(db, .registry, name: "join")
        try await db.write(statements: [Self.insert("step")], excluding: .checkinRecords)
        #expect(try await Self.names(db) == ["step"])
        join.release()
        try await join.task.value
        let step = try await HeldWrite.start(db, .checkinRecords, name: "held-step")
        let next = Task { try await db.write(statements: [Self.insert("next-step")], excluding: .checkinRecords) }
        try await Self.waiters(db, 1)
        #expect(try await Self.names(db) == ["join", "step"])
        step.release()
        try await step.task.value
        try await next.value
        #expect(try await Self.names(db) == ["held-step", "join", "next-step", "step"])
        await db.close()
        _ = _dir
    }

    @Test("The registry's lock is the one servers before write scopes take for every write, so an older instance's writes still exclude a newer one's joins")
    func lockKeys() async throws {
        guard TestServer.postgres != nil else { return }
        let (db, _dir) = try await Self.open()
        for (scope, keys) in [(WriteScope.registry, [Int64(7_304_289)]), (.checkinRecords, [1_869_898_083]), (.everything, [7_304_289, 1_869_898_083])] {
            let held = try await HeldWrite.start(db, scope, name: "held")
            #expect(try await Self.advisoryLocks(db, granted: true) == keys, "\(scope)")
            held.release()
            try await held.task.value
            _ = try await db.write { sql in try await sql.execute("DELETE FROM server_secrets") }
        }
        await db.close()
        _ = _dir
    }

    @Test("A device joins a rollout while a flush step holds its lock and its own device row (last seen, installed list)")
    func admissionBesideAFlushStep() async throws {
        guard TestServer.postgres != nil else { return }
        let (db, _dir) = try await Self.open()
        _ = try await db.write { sql in
            try await sql.execute("INSERT INTO devices (id, token_hash, hardware, registered_at) VALUES ('d1', 'h1', 'hw', 'now')")
            try await StoreBackendTests.addDeployment(sql)
        }
        // What a flush step does to the device: its row updated, its installed list written.
        let flush = try await HeldWrite.start(db, .checkinRecords, [
            "UPDATE devices SET last_seen = 5, attributes = '{}', trust = '{}' WHERE id = 'd1'",
            "INSERT INTO installed (device_id, bundle_name, version, digest, state, updated_at) VALUES ('d1', 'm', '1.0.0', 'digest', 'active', 'now')",
        ])
        let members = try await DeploymentStore(db: db).admit([Admission(deploymentID: "dep", deviceID: "d1", phase: 0)], clock: TestClock())
        #expect(members.first??.state == .pending)
        flush.release()
        try await flush.task.value
        #expect(try await db.row("SELECT last_seen FROM devices WHERE id = 'd1'")?.int("last_seen") == 5)
        #expect(try await db.row("SELECT count FROM installed_counts WHERE bundle_name = 'm' AND version = '1.0.0'")?.int("count") == 1)
        await db.close()
        _ = _dir
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
