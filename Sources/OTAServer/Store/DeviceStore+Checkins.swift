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

    /// Whether the device's last check-in that reached the database said it runs this.
    func runs(deviceID: DeviceID, bundleName: BundleName, version: String, digest: SHA256Digest) async throws -> Bool {
        try await db.read { db in
            try await db.value(Bool.self, """
                SELECT 1 FROM installed WHERE device_id = \(deviceID) AND bundle_name = \(bundleName) AND version = \(version) AND digest = \(digest)
                """) ?? false
        }
    }

    /// Writes a batch in one transaction, a few hundred rows per statement: no fsync per
    /// check-in, and few round trips to PostgreSQL while the write lock is held. The statements
    /// need nothing from one another, so they go to the database as one list
    /// (`SQLDatabase.write(statements:)`).
    func write(_ batch: CheckinBatch) async throws {
        guard !batch.isEmpty else { return }
        let now = SystemClock().now
        var statements = Self.updates("last_seen", batch.lastSeen.map { [$0.key, $0.value] })
        statements += Self.updates("attributes", try batch.attributes.map { [$0.key, try JSONColumn.encode($0.value)] })
        statements += Self.updates("trust", try batch.trust.map { [$0.key, try JSONColumn.encode($0.value)] })
        // Written only when it changed: the change feed then tells every instance (its trigger
        // fires on this column), whose caches read the device again.
        statements += Self.updates("inventory", try batch.inventory.map { [$0.key, try JSONColumn.encode($0.value)] })
        let devices = Array(batch.installed.keys)
        // 100 devices of up to 64 bundles stay under both backends' placeholder limits.
        for chunk in SQLRows.chunks(devices, size: .small) {
            // What a device no longer runs goes; then what it runs is written where it changed.
            let keep = chunk.flatMap { id in batch.installed[id]!.map { [id, $0.name] as [any SQLBindable] } }
            if keep.isEmpty {
                statements.append("DELETE FROM installed WHERE device_id IN (\(list: chunk))")
            } else {
                statements.append("""
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
                statements.append("""
                    INSERT INTO installed (device_id, bundle_name, version, digest, state, variant, updated_at)
                    SELECT v.column1, v.column2, v.column3, v.column4, v.column5, v.column6, \(now) FROM (VALUES \(rows: rows)) AS v
                    JOIN devices d ON d.id = v.column1 WHERE true
                    ON CONFLICT (device_id, bundle_name) DO UPDATE SET version = excluded.version, digest = excluded.digest,
                        state = excluded.state, variant = excluded.variant, updated_at = excluded.updated_at
                    WHERE installed.version IS DISTINCT FROM excluded.version OR installed.digest IS DISTINCT FROM excluded.digest
                        OR installed.state IS DISTINCT FROM excluded.state OR installed.variant IS DISTINCT FROM excluded.variant
                    """)
            }
        }
        try await db.write(statements: statements)
    }

    /// The statements that set one column of many devices: `rows` are (id, value) pairs.
    private static func updates(_ column: String, _ rows: [[any SQLBindable]]) -> [SQLQuery] {
        SQLRows.chunks(rows).map { chunk in
            "UPDATE devices SET \(raw: column) = v.column2 FROM (VALUES \(rows: chunk)) AS v WHERE devices.id = v.column1"
        }
    }
}
