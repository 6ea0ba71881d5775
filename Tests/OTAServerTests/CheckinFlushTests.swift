import Foundation
import Logging
import OTACore
@testable import OTAServer
import TestSupport
import Testing

/// The check-in flush: a big batch commits in bounded steps and writes everything, a step
/// that fails leaves nothing of itself, and what devices run is loaded with the fleet, so a
/// device that reports what the registry holds writes nothing after a restart.
@Suite("Check-in flush", .tags(.database))
struct CheckinFlushTests {
    static var backends: [String] { StoreBackendTests.backends }

    static func addDevices(_ db: any SQLDatabase, _ ids: [DeviceID]) async throws {
        try await db.write { sql in
            for chunk in SQLRows.chunks(ids) {
                let rows = chunk.map { [$0, "hash-\($0.rawValue)"] as [any SQLBindable] }
                try await sql.execute("""
                    INSERT INTO devices (id, token_hash, hardware, registered_at)
                    SELECT v.column1, v.column2, 'hw', 'now' FROM (VALUES \(rows: rows)) AS v WHERE true
                    """)
            }
        }
    }

    static func bundle(_ name: BundleName, _ version: SemanticVersion) -> DeviceAPI.InstalledBundle {
        .init(name: name, version: version, digest: StoreBackendTests.digest(name.rawValue, version.description))
    }

    static func count(_ db: any SQLDatabase, _ query: SQLQuery) async throws -> Int {
        try await db.read { sql in try await sql.value(Int.self, query) } ?? -1
    }

    @Test("A flush of several transactions writes every device, and the lists load back in the order check-ins compare them",
          arguments: backends)
    func flushInSteps(backend: String) async throws {
        let dir = TemporaryDirectory("ota-flush")
        let (db, _) = try await StoreBackendTests.open(backend, in: dir)
        let ids = (0..<2_500).map { DeviceID(checked: String(format: "d-%05d", $0)) }
        try await Self.addDevices(db, ids)
        let store = DeviceStore(db: db)
        // Reported out of order: the registry's lists come back sorted by name.
        let reported = [Self.bundle("zeta", "1.0.0"), Self.bundle("alpha", "2.0.0")]
        var batch = DeviceStore.CheckinBatch()
        for (index, id) in ids.enumerated() { batch.lastSeen[id] = Int64(index + 1) }
        for id in ids.prefix(500) { batch.installed[id] = reported }
        let counting = CountingDatabase(db)
        try await DeviceStore(db: counting).write(batch)
        // 7 statements of last seen, then 5 chunks of lists (a delete and an insert each): the
        // first chunk does not fit beside them, and no chunk is split between two steps.
        let steps = counting.steps
        #expect(steps.count == 3, "\(steps)")
        #expect(steps.allSatisfy { $0.count <= DeviceStore.statementsPerTransaction })
        #expect(steps.flatMap { $0 }.count == 17)
        // Nothing here is read by a decision or recorded by the change feed: joins pass these steps.
        #expect(counting.scopes == Array(repeating: .checkinRecords, count: steps.count))
        for step in steps {
            // A chunk's delete and insert are never in two transactions.
            #expect(step.filter { $0.hasPrefix("DELETE") }.count == step.filter { $0.hasPrefix("INSERT") }.count, "\(step)")
        }
        #expect(try await Self.count(db, "SELECT count(*) FROM devices WHERE last_seen > 0") == 2_500)
        #expect(try await Self.count(db, "SELECT count(*) FROM installed") == 1_000)
        let installed = try await store.allInstalled()
        #expect(installed.count == 500)
        #expect(installed[ids[0]] == reported.sorted { $0.name < $1.name })
        #expect(installed[ids[499]] == reported.sorted { $0.name < $1.name })
        #expect(installed[ids[500]] == nil)
    }

    @Test("A flush writes inventories in steps of every scope (the change feed records them), and the rest in the check-in records' alone",
          arguments: backends)
    func inventoriesInTheRegistryScope(backend: String) async throws {
        let dir = TemporaryDirectory("ota-flush")
        let (db, _) = try await StoreBackendTests.open(backend, in: dir)
        let ids: [DeviceID] = ["d1", "d2"]
        try await Self.addDevices(db, ids)
        var batch = DeviceStore.CheckinBatch()
        for id in ids { batch.lastSeen[id] = 7 }
        batch.inventory["d1"] = DeviceInventory(architecture: "aarch64", cpuFeatures: ["neon"], memoryMiB: 3_906)
        let counting = CountingDatabase(db)
        let feedBefore = try await Self.count(db, "SELECT count(*) FROM registry_changes")
        try await DeviceStore(db: counting).write(batch)
        #expect(counting.scopes == [.checkinRecords, .everything])
        #expect(counting.steps.last?.allSatisfy { $0.hasPrefix("UPDATE devices SET inventory") } == true)
        #expect(try await Self.count(db, "SELECT count(*) FROM registry_changes") == feedBefore + 1)
        #expect(try await Self.count(db, "SELECT count(*) FROM devices WHERE last_seen = 7 AND inventory IS NOT NULL") == 1)
    }

    @Test("Steps of a flush keep each unit whole and in order, and stay within the bound unless one unit is longer")
    func stepsKeepUnitsWhole() {
        func units(_ sizes: [Int]) -> [[SQLQuery]] {
            var next = 0
            return sizes.map { size in (0..<size).map { _ in defer { next += 1 }; return "SELECT \(raw: String(next))" } }
        }
        func shape(_ steps: [[SQLQuery]]) -> [[String]] { steps.map { $0.map { $0.sql { _ in "?" } } } }
        let limit = DeviceStore.statementsPerTransaction
        #expect(shape(DeviceStore.steps(units([1, 1, 1]))) == [["SELECT 0", "SELECT 1", "SELECT 2"]])
        // A unit that would cross the bound starts the next step.
        let crossing = DeviceStore.steps(units(Array(repeating: 1, count: limit - 1) + [2, 1]))
        #expect(crossing.map(\.count) == [limit - 1, 3])
        // One longer than the bound is a step of its own.
        #expect(DeviceStore.steps(units([1, limit + 2, 1])).map(\.count) == [1, limit + 2, 1])
        #expect(DeviceStore.steps(units([0, 0])).isEmpty)
        #expect(shape(DeviceStore.steps(units([3, 3, 3]))).flatMap { $0 } == (0..<9).map { "SELECT \($0)" })
    }

    @Test("Two flushes asked for at once run one after the other, and the second writes what came meanwhile", arguments: backends)
    func flushesOneAtATime(backend: String) async throws {
        let dir = TemporaryDirectory("ota-flush")
        let (db, _) = try await StoreBackendTests.open(backend, in: dir)
        try await Self.addDevices(db, ["d1"])
        let counting = CountingDatabase(db, delaySeconds: 0.2)
        let cache = FleetCache()
        let writeBehind = CheckinWriteBehind(cache: cache, devices: DeviceStore(db: counting))
        cache.state.withLock { $0.pending.lastSeen["d1"] = 1 }
        async let first: Void = writeBehind.flush()
        for await _ in counting.started { break }  // The first flush's step is running.
        cache.state.withLock { $0.pending.lastSeen["d1"] = 2 }
        async let second: Void = writeBehind.flush()
        _ = try await (first, second)
        #expect(counting.overlapped == false, "a step of one flush ran while the other's was running")
        #expect(counting.steps.count == 2)
        #expect(try await Self.count(db, "SELECT last_seen FROM devices WHERE id = 'd1'") == 2)
    }

    @Test("A recorded list that no longer reads leaves its device out of the loaded lists, not the server down", arguments: backends)
    func unreadableListLeftOut(backend: String) async throws {
        let dir = TemporaryDirectory("ota-flush")
        let (db, _) = try await StoreBackendTests.open(backend, in: dir)
        try await Self.addDevices(db, ["d1", "d2"])
        let good = Self.bundle("m", "1.0.0")
        try await db.write { sql in
            for (device, version) in [("d1", "1.0.0"), ("d1", "not a version"), ("d2", "1.0.0")] {
                let name = version == "1.0.0" ? "m" : "n"
                try await sql.execute("""
                    INSERT INTO installed (device_id, bundle_name, version, digest, state, updated_at)
                    VALUES (\(device), \(name), \(version), \(good.digest), 'committed', 'now')
                    """)
            }
        }
        let installed = try await DeviceStore(db: db).allInstalled()
        #expect(Array(installed.keys) == ["d2"])
        #expect(installed["d2"] == [good])
    }

    @Test("Statements written together that fail leave nothing behind, and the next write goes through", arguments: backends)
    func failedStepLeavesNothing(backend: String) async throws {
        let dir = TemporaryDirectory("ota-flush")
        let (db, _) = try await StoreBackendTests.open(backend, in: dir)
        func insert(_ id: String) -> SQLQuery {
            "INSERT INTO devices (id, token_hash, hardware, registered_at) VALUES (\(id), \("hash-\(id)"), 'hw', 'now')"
        }
        // The third repeats the first's key: the whole transaction fails.
        await #expect(throws: (any Error).self) { try await db.write(statements: [insert("a"), insert("b"), insert("a")], excluding: .checkinRecords) }
        #expect(try await Self.count(db, "SELECT count(*) FROM devices") == 0)
        try await db.write(statements: [insert("c")], excluding: .checkinRecords)
        #expect(try await Self.count(db, "SELECT count(*) FROM devices") == 1)
    }

    @Test("After a restart, a device that reports what the registry holds queues no write of its list; a changed list is queued")
    func restartKnowsWhatDevicesRun() async throws {
        let dir = TemporaryDirectory("ota-flush")
        let key = try Ed25519PrivateKey.generate()
        try FileSystem.writeAtomically(try TrustRoot(keys: [key.publicKey], threshold: 1).encoded(), to: dir.file("trust.json"))
        let configuration = ServerConfiguration(dataDirectory: dir.file("data"), trustRootPath: dir.file("trust.json"))
        let quiet = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }
        let reported = [Self.bundle("alpha", "2.0.0"), Self.bundle("zeta", "1.0.0")]
        do {
            let first = try await ServerApplication.services(configuration, logger: quiet, clock: TestClock())
            try await Self.addDevices(first.db, ["d1", "d2"])
            var batch = DeviceStore.CheckinBatch()
            batch.installed = ["d1": reported, "d2": reported]
            try await first.devices.write(batch)
            await first.db.close()
        }
        let second = try await ServerApplication.services(configuration, logger: quiet, clock: TestClock())
        defer { Task { [db = second.db] in await db.close() } }
        func device(_ id: DeviceID) -> DeviceIdentity { DeviceIdentity(id: id, hardware: "hw", tags: [], group: nil) }
        _ = try await second.fleet.checkins.checkin(device("d1"), .init(installed: reported.reversed()))
        _ = try await second.fleet.checkins.checkin(device("d2"), .init(installed: [Self.bundle("alpha", "3.0.0"), reported[1]]))
        let pending = second.fleet.cache.state.withLock { $0.pending }
        #expect(pending.installed["d1"] == nil, "an unchanged list is not written again")
        #expect(pending.installed["d2"]?.map(\.version.description) == ["3.0.0", "1.0.0"])
        #expect(pending.lastSeen.keys.map(\.rawValue).sorted() == ["d1", "d2"])
        // Another instance may have written a newer list meanwhile: an unchanged one is written
        // again once `installedRewriteSeconds` have passed.
        let clock = try #require(second.clock as? TestClock)
        clock.advance(seconds: FleetCache.State.installedRewriteSeconds - 1)
        _ = try await second.fleet.checkins.checkin(device("d1"), .init(installed: reported))
        #expect(second.fleet.cache.state.withLock { $0.pending.installed["d1"] } == nil)
        clock.advance(seconds: 1)
        _ = try await second.fleet.checkins.checkin(device("d1"), .init(installed: reported))
        #expect(second.fleet.cache.state.withLock { $0.pending.installed["d1"] } == reported)
    }
}

/// A database that records each `write(statements:)` (its statements' SQL), can make each take
/// longer, and notes whether two ever ran at once.
final class CountingDatabase: SQLDatabase, @unchecked Sendable {
    private let base: any SQLDatabase
    private let delaySeconds: Double
    private let lock = NSLock()
    private var recorded: [[String]] = []
    private var recordedScopes: [WriteScope] = []
    private var running = 0
    private var sawOverlap = false

    /// A wake-up each time a step starts.
    let started: AsyncStream<Void>
    private let startedContinuation: AsyncStream<Void>.Continuation

    init(_ base: any SQLDatabase, delaySeconds: Double = 0) {
        self.base = base
        self.delaySeconds = delaySeconds
        (started, startedContinuation) = AsyncStream.makeStream()
    }

    var steps: [[String]] { lock.withLock { recorded } }
    /// The scope each step was written in.
    var scopes: [WriteScope] { lock.withLock { recordedScopes } }
    var overlapped: Bool { lock.withLock { sawOverlap } }
    var dialect: SQLDialect { base.dialect }

    func read<T: Sendable>(_ body: @escaping @Sendable (any SQLTransaction) async throws -> T) async throws -> T { try await base.read(body) }
    /// The scope of each write of a transaction body, in order.
    var bodyScopes: [WriteScope] { lock.withLock { recordedBodyScopes } }
    private var recordedBodyScopes: [WriteScope] = []

    func write<T: Sendable>(excluding scope: WriteScope, _ body: @escaping @Sendable (any SQLTransaction) async throws -> T) async throws -> T {
        lock.withLock { recordedBodyScopes.append(scope) }
        return try await base.write(excluding: scope, body)
    }
    func holdsLeadership() async -> Bool { await base.holdsLeadership() }
    func close() async { await base.close() }

    func write(statements: [SQLQuery], excluding scope: WriteScope) async throws {
        lock.withLock {
            recorded.append(statements.map { $0.sql { _ in "?" }.trimmingCharacters(in: .whitespacesAndNewlines) })
            recordedScopes.append(scope)
            running += 1
            if running > 1 { sawOverlap = true }
        }
        startedContinuation.yield()
        defer { lock.withLock { running -= 1 } }
        if delaySeconds > 0 { try await Task.sleep(for: .milliseconds(Int(delaySeconds * 1000))) }
        try await base.write(statements: statements, excluding: scope)
    }
}
