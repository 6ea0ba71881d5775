import Foundation
import Logging
import OTACore
@testable import OTAServer
import TestSupport
import Testing

/// One suite for both storage backends: SQLite always, PostgreSQL when the tests run with
/// OTA_TEST_POSTGRES (scripts/test-postgres.sh). The stores' SQL is written once; these
/// check that it means the same on each.
@Suite("Storage backends", .tags(.database))
struct StoreBackendTests {
    static var backends: [String] { ["sqlite"] + (TestServer.postgres == nil ? [] : ["postgres"]) }

    /// A new, empty registry on `backend`, migrated.
    static func open(_ backend: String, in dir: TemporaryDirectory) async throws -> (any SQLDatabase, DatabaseSetting) {
        let setting: DatabaseSetting = backend == "sqlite" ? .sqlite(path: dir.file("registry.sqlite"))
            // A longer connect deadline than the product's 5 s: in this test process, the many
            // tests that wait on server processes can hold the threads a connection needs.
            : .postgres(try PostgresLocation(url: try #require(try TestServer.newPostgresDatabase()) + "?connect_timeout=60"))
        return await (try setting.open(busyTimeout: 2, logger: Logger(label: "test")), setting)
    }

    @Test("Migrations apply once; a database that a newer server migrated is refused", arguments: backends)
    func migrations(backend: String) async throws {
        let dir = TemporaryDirectory("ota-store")
        let (db, setting) = try await Self.open(backend, in: dir)
        _ = try await setting.open(busyTimeout: 2, logger: Logger(label: "test"))
        let table = backend == "sqlite" ? "grdb_migrations (identifier)" : "schema_migrations (identifier, applied_at)"
        let values = backend == "sqlite" ? "('9999_future')" : "('9999_future', 'now')"
        _ = try await db.write { sql in try await sql.execute("INSERT INTO \(raw: table) VALUES \(raw: values)") }
        await #expect {
            _ = try await setting.open(busyTimeout: 2, logger: Logger(label: "test"))
        } throws: { error in
            String(describing: error).contains("9999_future") && String(describing: error).contains("does not know")
        }
    }

    @Test("A transaction that throws leaves nothing behind", arguments: backends)
    func rollback(backend: String) async throws {
        let dir = TemporaryDirectory("ota-store")
        let (db, _) = try await Self.open(backend, in: dir)
        struct Stop: Error {}
        await #expect(throws: Stop.self) {
            try await db.write { sql in
                try await sql.execute("INSERT INTO server_secrets (name, value) VALUES ('a', 'b')")
                throw Stop()
            }
        }
        #expect(try await db.read { sql in try await sql.value(Int.self, "SELECT count(*) FROM server_secrets") } == 0)
    }

    @Test("A list of statements is one transaction: all of them commit, or a failing one leaves nothing of the others", arguments: backends)
    func statementList(backend: String) async throws {
        let dir = TemporaryDirectory("ota-store")
        let (db, _) = try await Self.open(backend, in: dir)
        try await db.write(statements: ["INSERT INTO server_secrets (name, value) VALUES ('a', 'b')",
                                        "INSERT INTO server_secrets (name, value) VALUES ('c', 'd')"], excluding: .everything)
        await #expect(throws: (any Error).self) {
            try await db.write(statements: ["INSERT INTO server_secrets (name, value) VALUES ('e', 'f')",
                                            "INSERT INTO server_secrets (name, value) VALUES ('a', 'again')"], excluding: .everything)
        }
        #expect(try await db.read { sql in try await sql.values(String.self, "SELECT name FROM server_secrets ORDER BY name") } == ["a", "c"])
        // The writer is free again: the failed list left no transaction open.
        try await db.write(statements: ["INSERT INTO server_secrets (name, value) VALUES ('g', 'h')"], excluding: .everything)
        #expect(try await db.read { sql in try await sql.value(Int.self, "SELECT count(*) FROM server_secrets") } == 3)
    }

    @Test("Conflicts, RETURNING, counts of changed rows and NULL handling read the same", arguments: backends)
    func portableSQL(backend: String) async throws {
        let dir = TemporaryDirectory("ota-store")
        let (db, _) = try await Self.open(backend, in: dir)
        try await db.write { sql in
            #expect(try await sql.execute("INSERT INTO content (digest, size, created_at) VALUES ('d1', 5, 'now') ON CONFLICT DO NOTHING") == 1)
            #expect(try await sql.execute("INSERT INTO content (digest, size, created_at) VALUES ('d1', 5, 'now') ON CONFLICT DO NOTHING") == 0)
            let first = try await sql.value(Int64.self, """
                INSERT INTO audit_log (at, actor, role, action, target, detail) VALUES ('t', 'a', 'admin', 'x', 'y', '') RETURNING id
                """)
            let second = try await sql.value(Int64.self, """
                INSERT INTO audit_log (at, actor, role, action, target, detail) VALUES ('t', 'a', 'admin', 'x', 'y', '') RETURNING id
                """)
            #expect(first != nil && second == first.map { $0 + 1 })
            #expect(try await sql.value(String.self, "SELECT NULL") == nil)
            #expect(try await sql.value(Bool.self, "SELECT 1 FROM content WHERE digest = \("d1")") == true)
            #expect(try await sql.value(Int64.self, "SELECT COALESCE(SUM(size), 0) FROM content") == 5)
            let bytes: [UInt8] = [0, 1, 2, 255]
            try await sql.execute("INSERT INTO trust_metadata (role, version, envelope, stored_at) VALUES ('root', 1, \(bytes), 'now')")
            #expect(try await sql.value([UInt8].self, "SELECT envelope FROM trust_metadata WHERE role = 'root'") == bytes)
        }
    }

    /// A published bundle's row, enough for the counters (no content).
    static func publishRow(_ sql: any SQLTransaction, _ name: String, _ version: String) async throws {
        try await sql.execute("""
            INSERT INTO bundles (name, version, version_key, kind, digest, envelope, compatible, size, signers, created, published_at, published_by)
            VALUES (\(name), \(version), \(version), 'model', \(Self.digest(name, version)), \([UInt8]([0])), '[]', 0, '[]', 'now', 'now', 'test')
            """)
    }

    static func digest(_ name: String, _ version: String) -> SHA256Digest { SHA256Digest.of(Array("\(name) \(version)".utf8)) }

    @Test("A check-in batch keeps installed versions and their counters, and prunes what a device no longer runs", arguments: backends)
    func checkinBatch(backend: String) async throws {
        let dir = TemporaryDirectory("ota-store")
        let (db, _) = try await Self.open(backend, in: dir)
        try await db.write { sql in
            for id in ["d1", "d2"] {
                try await sql.execute("INSERT INTO devices (id, token_hash, hardware, registered_at) VALUES (\(id), \("hash-\(id)"), 'hw', 'now')")
            }
            for (name, version) in [("m", "1.0.0"), ("n", "1.0.0"), ("m", "2.0.0")] { try await Self.publishRow(sql, name, version) }
        }
        let store = DeviceStore(db: db)
        func bundle(_ name: BundleName, _ version: SemanticVersion) -> DeviceAPI.InstalledBundle { .init(name: name, version: version, digest: Self.digest(name.rawValue, version.description)) }
        var batch = DeviceStore.CheckinBatch()
        batch.installed = ["d1": [bundle("m", "1.0.0"), bundle("n", "1.0.0")], "d2": [bundle("m", "1.0.0")], "gone": [bundle("m", "1.0.0")]]
        batch.lastSeen = ["d1": 100]
        try await store.write(batch)
        func counts() async throws -> [String] {
            try await db.read { sql in
                try await sql.rows("SELECT bundle_name, version, count FROM installed_counts WHERE count > 0 ORDER BY bundle_name, version").map {
                    "\(try $0.string("bundle_name")) \(try $0.string("version")) \(try $0.int("count"))"
                }
            }
        }
        #expect(try await counts() == ["m 1.0.0 2", "n 1.0.0 1"], "a device deleted meanwhile ('gone') is skipped")
        batch = DeviceStore.CheckinBatch()
        batch.installed = ["d1": [bundle("m", "2.0.0")]]
        try await store.write(batch)
        #expect(try await counts() == ["m 1.0.0 1", "m 2.0.0 1"])
        #expect(try await db.read { sql in try await sql.value(Int64.self, "SELECT last_seen FROM devices WHERE id = 'd1'") } == 100)
    }

    @Test("Versions that were never published are not counted, however many a device reports; publishing one counts its devices", arguments: backends)
    func unpublishedVersionsNotCounted(backend: String) async throws {
        let dir = TemporaryDirectory("ota-store")
        let (db, _) = try await Self.open(backend, in: dir)
        try await db.write { sql in
            try await sql.execute("INSERT INTO devices (id, token_hash, hardware, registered_at) VALUES ('d1', 'h1', 'hw', 'now')")
            try await Self.publishRow(sql, "m", "1.0.0")
        }
        let store = DeviceStore(db: db)
        var batch = DeviceStore.CheckinBatch()
        // 64 made-up names, and m 1.0.0 with a digest that is not the published one.
        batch.installed = ["d1": (0..<63).map { DeviceAPI.InstalledBundle(name: BundleName(checked: "made-up-\($0)"), version: SemanticVersion(stringLiteral: "9.9.\($0)"), digest: Self.digest("x", "\($0)")) }
                           + [.init(name: "m", version: "1.0.0", digest: Self.digest("other", "1.0.0"))]]
        try await store.write(batch)
        let rows = { try await db.read { sql in try await sql.value(Int64.self, "SELECT COUNT(*) FROM installed_counts") } ?? -1 }
        #expect(try await rows() == 0)
        // A version published after devices reported it: counted from the moment it is published.
        batch.installed = ["d1": [.init(name: "late", version: "1.0.0", digest: Self.digest("late", "1.0.0"))]]
        try await store.write(batch)
        #expect(try await rows() == 0)
        try await db.write { sql in try await Self.publishRow(sql, "late", "1.0.0") }
        #expect(try await db.read { sql in try await sql.value(Int64.self, "SELECT count FROM installed_counts WHERE bundle_name = 'late'") } == 1)
    }

    @Test("Retention prunes old events and figures in batches, keeps what a live rollout's gates read, and changes no counter", arguments: backends)
    func retention(backend: String) async throws {
        let dir = TemporaryDirectory("ota-store")
        let (db, _) = try await Self.open(backend, in: dir)
        try await db.write { sql in
            try await sql.execute("INSERT INTO devices (id, token_hash, hardware, registered_at) VALUES ('d1', 'h1', 'hw', 'now')")
            for index in 0..<30 {
                let received = index < 20 ? "2020-01-01T00:00:\(String(format: "%02d", index))Z" : "2030-01-01T00:00:00Z"
                try await sql.execute("""
                    INSERT INTO events (device_id, deployment_id, bundle_name, version, state, detail, at, received_at)
                    VALUES ('d1', NULL, 'm', '1.0.0', 'succeeded', '', \(received), \(received))
                    """)
            }
            try await sql.execute("""
                INSERT INTO model_reports (device_id, bundle_name, version, source, deployment_id, report, at, received_at)
                VALUES ('d1', 'm', '1.0.0', 'live', NULL, '{}', 'x', '2020-01-01T00:00:00Z'),
                       ('d1', 'n', '1.0.0', 'live', NULL, '{}', 'x', '2020-01-01T00:00:00Z'),
                       ('d1', 'm', '2.0.0', 'shadow', 'dep_live', '{}', 'x', '2020-01-01T00:00:00Z'),
                       ('d1', 'm', '3.0.0', 'live', NULL, '{}', 'x', '2030-01-01T00:00:00Z')
                """)
        }
        try await db.write { sql in
            try await Self.publishRow(sql, "m", "2.0.0")
            let bundleID = try await sql.value(Int64.self, "SELECT id FROM bundles WHERE name = 'm'")!
            try await sql.execute("""
                INSERT INTO deployments (id, seq, bundle_id, bundle_name, target, phases, phase_started_epoch, status, created_at, created_by)
                VALUES ('dep_live', 1, \(bundleID), 'm', '{"all":true}', '[100]', 0, 'active', 'now', 'test')
                """)
        }
        let events = EventStore(db: db)
        var total = 0
        while true {
            let pruned = try await events.prune(receivedBefore: "2025-01-01T00:00:00Z", batch: 7)
            #expect(pruned <= 14)
            if pruned == 0 { break }
            total += pruned
        }
        #expect(total == 21, "20 old events and the old figure of a bundle no live rollout reads")
        let left = try await db.read { sql in
            (try await sql.value(Int64.self, "SELECT COUNT(*) FROM events") ?? -1,
             try await sql.rows("SELECT bundle_name || ' ' || version AS v FROM model_reports ORDER BY bundle_name, version").map { try $0.string("v") })
        }
        #expect(left.0 == 10)
        #expect(left.1 == ["m 1.0.0", "m 2.0.0", "m 3.0.0"],
                "the live rollout's shadow figures, the baseline its live gates compare with, and the recent figure stay")
    }

    /// Bundle `m` 1.0.0 (digest `digest`) and an active deployment `dep` of it, in one phase.
    static func addDeployment(_ sql: any SQLTransaction) async throws {
        let bundle = try await sql.value(Int64.self, """
            INSERT INTO bundles (name, version, version_key, kind, digest, envelope, compatible, size, signers, created, published_at, published_by)
            VALUES ('m', '1.0.0', '1.0.0', 'model', 'digest', \([UInt8]([1])), '[]', 1, '[]', 'now', 'now', 'me') RETURNING id
            """)!
        try await sql.execute("""
            INSERT INTO deployments (id, seq, bundle_id, bundle_name, target, phases, phase_started_epoch, status, created_at, created_by)
            VALUES ('dep', 1, \(bundle), 'm', '{}', '[]', 0, 'active', 'now', 'me')
            """)
    }

    @Test("A deployment's transfer totals read when devices report the largest plausible sizes, past what an integer sum holds",
          arguments: backends)
    func transferTotalsDoNotOverflow(backend: String) async throws {
        let dir = TemporaryDirectory("ota-store")
        let (db, _) = try await Self.open(backend, in: dir)
        let ids = (0..<20_000).map { DeviceID(checked: String(format: "d-%05d", $0)) }
        try await CheckinFlushTests.addDevices(db, ids)
        let most = Int64(1) << 50  // What `TransferProgress.isPlausible` lets a device report.
        _ = try await db.write { sql in
            try await Self.addDeployment(sql)
            // A plan the status reads: the whole fleet, in one phase.
            try await sql.execute("UPDATE bundles SET digest = \(String(repeating: "a", count: 64)) WHERE name = 'm'")
            try await sql.execute("""
                UPDATE deployments SET target = \(try JSONColumn.encode(AdminAPI.Target.all)),
                    phases = \(try JSONColumn.encode([AdminAPI.Phase.percent(100)])), created_at = '2026-12-06T00:00:00Z' WHERE id = 'dep'
                """)
            try await sql.execute("""
                INSERT INTO deployment_devices (deployment_id, device_id, phase, state, assigned_epoch, updated_epoch, bytes_fetched, bytes_total)
                SELECT 'dep', id, 0, 'downloading', 0, 0, \(most), \(most) FROM devices WHERE id < 'd-10000'
                """)
        }
        let store = DeploymentStore(db: db)
        let half = try #require(try await store.status(id: "dep")?.transfer)
        #expect(half.devices == 10_000)
        #expect(half.totalBytes == 10_000 * UInt64(most) && half.fetchedBytes == half.totalBytes)
        _ = try await db.write { sql in
            try await sql.execute("""
                INSERT INTO deployment_devices (deployment_id, device_id, phase, state, assigned_epoch, updated_epoch, bytes_fetched, bytes_total)
                SELECT 'dep', id, 0, 'downloading', 0, 0, \(most), \(most) FROM devices WHERE id >= 'd-10000'
                """)
        }
        // 20,000 × 2^50 is past 2^64: the answer's field holds its largest value.
        let all = try #require(try await store.status(id: "dep")?.transfer)
        #expect(all.devices == 20_000 && all.totalBytes == .max && all.fetchedBytes == .max)
    }

    @Test("Deployment counters and failure reasons follow every membership change", arguments: backends)
    func deploymentCounters(backend: String) async throws {
        let dir = TemporaryDirectory("ota-store")
        let (db, _) = try await Self.open(backend, in: dir)
        let summary: @Sendable (any SQLTransaction) async throws -> String = { sql in
            let counts = try await sql.rows("SELECT state, count FROM deployment_counts WHERE count > 0 ORDER BY state").map { "\(try $0.string("state"))=\(try $0.int("count"))" }
            let failures = try await sql.rows("SELECT reason, count FROM deployment_failures WHERE count > 0 ORDER BY reason").map { "\(try $0.string("reason"))=\(try $0.int("count"))" }
            return (counts + failures).joined(separator: " ")
        }
        let result = try await db.write { sql in
            try await sql.execute("INSERT INTO devices (id, token_hash, hardware, registered_at) VALUES ('d1', 'h1', 'hw', 'now'), ('d2', 'h2', 'hw', 'now')")
            try await Self.addDeployment(sql)
            for device in ["d1", "d2"] {
                try await sql.execute("INSERT INTO deployment_devices (deployment_id, device_id, phase, state, assigned_epoch, updated_epoch) VALUES ('dep', \(device), 0, 'pending', 0, 0)")
            }
            var seen = await [try summary(sql)]
            try await sql.execute("UPDATE deployment_devices SET state = 'failed', detail = 'disk full' WHERE device_id = 'd1'")
            try await sql.execute("UPDATE deployment_devices SET state = 'succeeded' WHERE device_id = 'd2'")
            await seen.append(try summary(sql))
            try await sql.execute("DELETE FROM deployment_devices WHERE device_id = 'd1'")
            await seen.append(try summary(sql))
            return seen
        }
        #expect(result == ["pending=2", "failed=1 succeeded=1 disk full=1", "succeeded=1"])
    }

    @Test("The stale-trust filter reads the trust JSON the same way", arguments: backends)
    func staleTrust(backend: String) async throws {
        let dir = TemporaryDirectory("ota-store")
        let (db, _) = try await Self.open(backend, in: dir)
        let reports = [
            ("fresh", #"{"root_version": 2, "targets_expires": "2030-01-01T00:00:00Z"}"#),
            ("expired", #"{"root_version": 2, "targets_expires": "2020-01-01T00:00:00Z"}"#),
            ("problem", #"{"root_version": 2, "targets_expires": "2030-01-01T00:00:00Z", "problem": "bad"}"#),
            ("legacy", #"{"root_version": 0}"#),
        ]
        try await db.write { sql in
            for (id, trust) in reports {
                try await sql.execute("INSERT INTO devices (id, token_hash, hardware, registered_at, trust) VALUES (\(id), \("h-\(id)"), 'hw', 'now', \(trust))")
            }
        }
        #expect(try await DeviceStore(db: db).staleTrustCount(now: "2026-12-01T00:00:00Z") == 2)
    }
}
