import OTACore

/// The update steps devices report, and their effect on deployment progress.
struct EventStore: Sendable {
    let db: any SQLDatabase

    /// Stores events and moves the device's deployment memberships, in one transaction.
    /// Events naming a deployment the device is not part of are kept but count nowhere.
    /// Returns the deployments whose counts changed.
    func record(_ events: [DeviceAPI.Event], from device: DeviceIdentity) async throws -> [(deploymentID: String, state: AdminAPI.MembershipState)] {
        let received = Timestamp.now()
        let epoch = Timestamp.epochSeconds()
        return try await db.write { db in
            var changed: [(String, AdminAPI.MembershipState)] = []
            for event in events {
                var deploymentID: String?
                if let id = event.deploymentID,
                   let current = try db.value(AdminAPI.MembershipState.self, "SELECT state FROM deployment_devices WHERE deployment_id = ? AND device_id = ?",
                                                     [id, device.id]) {
                    deploymentID = id
                    let next = AdminAPI.MembershipState(event.state)
                    // Figures differ on every device; the reason failures are grouped by must not.
                    let reason = event.shadow?.groupingReason(detail: event.detail) ?? event.detail
                    // Progress only moves forward, and a final outcome is written once: a later
                    // contradicting report stays in the history but changes no count.
                    let advances = next.order > current.order
                    if advances {
                        try db.execute("UPDATE deployment_devices SET state = ?, detail = ?, updated_epoch = ? WHERE deployment_id = ? AND device_id = ?",
                                       [next, String(reason.prefix(2000)), epoch, id, device.id])
                        changed.append((id, next))
                    }
                    // Figures count only for the deployment's own bundle version: a device cannot
                    // vote twice in a phase under names it makes up.
                    if let outcome = event.shadow, try db.value(Bool.self, """
                        SELECT 1 FROM deployments d JOIN bundles b ON b.id = d.bundle_id WHERE d.id = ? AND d.bundle_name = ? AND b.version = ?
                        """, [id, event.bundleName, event.version]) == true {
                        try QualityStore.recordShadow(db, deviceID: device.id, event: event, deploymentID: id, outcome: outcome, receivedAt: received)
                    }
                    if let transfer = event.transfer {
                        try db.execute("UPDATE deployment_devices SET bytes_fetched = ?, bytes_total = ? WHERE deployment_id = ? AND device_id = ?",
                                       [Int64(transfer.fetchedBytes), Int64(transfer.totalBytes), id, device.id])
                    }
                }
                try db.execute("""
                    INSERT INTO events (device_id, deployment_id, bundle_name, version, state, detail, at, received_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                    """, [device.id, deploymentID, event.bundleName, event.version, event.state.rawValue,
                                     event.detail.truncatedUTF8(to: DeviceAPI.Event.storedDetailBytes), event.at, received])
                try db.execute("UPDATE devices SET state = ? WHERE id = ?", [event.state.rawValue, device.id])
            }
            return changed
        }
    }

    /// Deletes events, and model figures no live rollout reads, received before `cutoff`: at
    /// most `batch` rows of each per transaction, so that pruning a backlog never holds the
    /// write lock for long. Rollout counters are kept by their own tables, so nothing counted
    /// changes. Returns how many rows went.
    func prune(receivedBefore cutoff: String, batch: Int = 5000) async throws -> Int {
        try await db.write { db in
            let events = try db.execute("""
                DELETE FROM events WHERE id IN (SELECT id FROM events WHERE received_at < ? ORDER BY received_at LIMIT ?)
                """, [cutoff, batch])
            let figures = try db.execute("""
                DELETE FROM model_reports WHERE (device_id, bundle_name, version, source) IN (
                    SELECT device_id, bundle_name, version, source FROM model_reports
                     WHERE received_at < ?
                       AND (deployment_id IS NULL OR deployment_id NOT IN (SELECT id FROM deployments WHERE status IN ('active', 'paused')))
                     ORDER BY received_at LIMIT ?)
                """, [cutoff, batch])
            return events + figures
        }
    }

    static func record(_ row: SQLRow) -> AdminAPI.EventRecord {
        AdminAPI.EventRecord(id: row.int64("id"), deviceID: row.string("device_id"), deploymentID: row.optionalString("deployment_id"),
                             bundleName: row.string("bundle_name"), version: row.string("version"), state: row["state"],
                             detail: row.string("detail"), at: row.string("at"), receivedAt: row.string("received_at"))
    }
}
