import OTACore

/// What check-ins change, written in batches (`CheckinWriteBehind`): last seen, installed
/// versions, attributes, trust reports and inventories of many devices in one transaction.
extension DeviceStore {
    /// What check-ins changed since the last flush.
    struct CheckinBatch: Sendable {
        var lastSeen: [DeviceID: Int64] = [:]
        var installed: [DeviceID: [DeviceAPI.InstalledBundle]] = [:]
        var attributes: [DeviceID: [String: String]] = [:]
        var trust: [DeviceID: DeviceAPI.TrustReport] = [:]
        var inventory: [DeviceID: DeviceInventory] = [:]

        var isEmpty: Bool { lastSeen.isEmpty && installed.isEmpty && attributes.isEmpty && trust.isEmpty && inventory.isEmpty }
    }

    /// What every device runs as the registry last recorded it, each list in the order
    /// check-ins compare it in (by name). Loaded with the fleet, so that a device reporting
    /// what the database already holds writes nothing after a restart: otherwise the first
    /// check-in of every device rewrote its list (100,000 devices: half a minute of flushes
    /// holding the write lock, and joins waiting behind them). A row that no longer decodes
    /// leaves its device out: its first check-in writes the list again.
    func allInstalled() async throws -> [DeviceID: [DeviceAPI.InstalledBundle]] {
        try await db.read { db in
            var installed: [DeviceID: [DeviceAPI.InstalledBundle]] = [:]
            var unreadable = Set<String>()
            try await db.forEachRow("SELECT device_id, bundle_name, version, digest, state, variant FROM installed") { row in
                do {
                    installed[try row["device_id"], default: []].append(
                        DeviceAPI.InstalledBundle(name: try row["bundle_name"], version: try row["version"], digest: try row["digest"],
                                                  state: try row["state"], variant: try row["variant"]))
                } catch {
                    unreadable.insert(try row.string("device_id"))
                }
            }
            return installed.filter { !unreadable.contains($0.key.rawValue) }.mapValues { $0.sorted { $0.name < $1.name } }
        }
    }

    /// Whether the device's last check-in that reached the database said it runs this.
    func runs(deviceID: DeviceID, bundleName: BundleName, version: String, digest: SHA256Digest) async throws -> Bool {
        try await db.read { db in
            try await db.value(Bool.self, """
                SELECT 1 FROM installed WHERE device_id = \(deviceID) AND bundle_name = \(bundleName) AND version = \(version) AND digest = \(digest)
                """) ?? false
        }
    }

    /// How many statements one transaction of the flush carries: 2,000 devices' last seen, or
    /// the installed lists of 400. A flush in one transaction held its locks for as long as the
    /// whole batch took (13–20 s for the installed lists of 50,000–64,000 devices after
    /// `migrate-to`, in `bench/scale.sh`'s PostgreSQL join phase run on its own), and every
    /// write that needed them (then: all of them, joins included) stalled behind it. The
    /// statements need nothing from one another, so the flush commits in bounded steps and
    /// other writes run between them.
    static let statementsPerTransaction = 8

    /// Writes a batch, a few hundred rows per statement and a few statements per transaction
    /// (`statementsPerTransaction`): no fsync per check-in, few round trips while the write
    /// lock is held, and never a long hold of it. A failure leaves the steps before it
    /// committed; writing them again is harmless (the caller queues the batch again).
    func write(_ batch: CheckinBatch) async throws {
        guard !batch.isEmpty else { return }
        let now = SystemClock().now
        var statements = Self.updates("last_seen", batch.lastSeen.map { [$0.key, $0.value] })
        statements += Self.updates("attributes", try batch.attributes.map { [$0.key, try JSONColumn.encode($0.value)] })
        statements += Self.updates("trust", try batch.trust.map { [$0.key, try JSONColumn.encode($0.value)] })
        // Written only when it changed: the change feed then tells every instance (its trigger
        // fires on this column), whose caches read the device again. A write to the feed is a
        // write of the registry's scope (the feed's order), so these go in steps of their own.
        let inventory = Self.updates("inventory", try batch.inventory.map { [$0.key, try JSONColumn.encode($0.value)] })
        // Units that must commit together: each statement alone, and each chunk of devices'
        // installed lists (its delete and its inserts: between them the list is half written).
        var units = statements.map { [$0] }
        let devices = Array(batch.installed.keys)
        // 100 devices of up to 64 bundles stay under both backends' placeholder limits.
        for chunk in SQLRows.chunks(devices, size: .small) {
            var unit: [SQLQuery] = []
            // What a device no longer runs goes; then what it runs is written where it changed.
            let keep = chunk.flatMap { id in batch.installed[id]!.map { [id, $0.name] as [any SQLBindable] } }
            if keep.isEmpty {
                unit.append("DELETE FROM installed WHERE device_id IN (\(list: chunk))")
            } else {
                unit.append("""
                    DELETE FROM installed WHERE device_id IN (\(list: chunk)) AND NOT EXISTS (
                        SELECT 1 FROM (VALUES \(rows: keep)) AS k
                        WHERE k.column1 = installed.device_id AND k.column2 = installed.bundle_name)
                    """)
            }
            let rows = chunk.flatMap { id in
                batch.installed[id]!.map { [id, $0.name, $0.version, $0.digest, $0.state, $0.variant] as [any SQLBindable] }
            }
            // A device deleted since its check-in is skipped (its rows would break the foreign key).
            for rows in SQLRows.chunks(rows, size: .large) {
                unit.append("""
                    INSERT INTO installed (device_id, bundle_name, version, digest, state, variant, updated_at)
                    SELECT v.column1, v.column2, v.column3, v.column4, v.column5, v.column6, \(now) FROM (VALUES \(rows: rows)) AS v
                    JOIN devices d ON d.id = v.column1 WHERE true
                    ON CONFLICT (device_id, bundle_name) DO UPDATE SET version = excluded.version, digest = excluded.digest,
                        state = excluded.state, variant = excluded.variant, updated_at = excluded.updated_at
                    WHERE installed.version IS DISTINCT FROM excluded.version OR installed.digest IS DISTINCT FROM excluded.digest
                        OR installed.state IS DISTINCT FROM excluded.state OR installed.variant IS DISTINCT FROM excluded.variant
                    """)
            }
            units.append(unit)
        }
        // The rest touches nothing a decision or the feed reads: joins do not wait for it.
        for step in Self.steps(units) { try await db.write(statements: step, excluding: .checkinRecords) }
        for step in Self.steps(inventory.map { [$0] }) { try await db.write(statements: step, excluding: .everything) }
    }

    /// Units packed in order into transactions of at most `statementsPerTransaction`
    /// statements; a unit is never split (one longer than that is a transaction of its own).
    static func steps(_ units: [[SQLQuery]]) -> [[SQLQuery]] {
        var steps: [[SQLQuery]] = []
        var step: [SQLQuery] = []
        for unit in units where !unit.isEmpty {
            if !step.isEmpty && step.count + unit.count > statementsPerTransaction {
                steps.append(step)
                step = []
            }
            step += unit
        }
        if !step.isEmpty { steps.append(step) }
        return steps
    }

    /// The statements that set one column of many devices: `rows` are (id, value) pairs.
    private static func updates(_ column: String, _ rows: [[any SQLBindable]]) -> [SQLQuery] {
        SQLRows.chunks(rows).map { chunk in
            "UPDATE devices SET \(raw: column) = v.column2 FROM (VALUES \(rows: chunk)) AS v WHERE devices.id = v.column1"
        }
    }
}
