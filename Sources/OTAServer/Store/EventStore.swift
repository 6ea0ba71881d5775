import OTACore

/// The update steps devices report, and their effect on deployment progress.
struct EventStore: Sendable {
    let db: any SQLDatabase

    /// Stores events and moves the device's deployment memberships, in one transaction.
    /// Events naming a deployment the device is not part of are kept but count nowhere.
    /// Returns the deployments whose counts changed.
    func record(_ events: [DeviceAPI.Event], from device: DeviceIdentity,
                at received: Timestamp) async throws -> [(deploymentID: DeploymentID, state: AdminAPI.MembershipState)] {
        let epoch = received.secondsSinceEpoch
        return try await db.write { db in
            var changed: [(DeploymentID, AdminAPI.MembershipState)] = []
            for event in events {
                var deploymentID: DeploymentID?
                if let id = event.deploymentID,
                   let current = try await db.value(AdminAPI.MembershipState.self, "SELECT state FROM deployment_devices WHERE deployment_id = \(id) AND device_id = \(device.id)") {
                    deploymentID = id
                    let next = AdminAPI.MembershipState(event.state)
                    // Figures differ on every device; the reason failures are grouped by must not.
                    let reason = event.shadow?.groupingReason(detail: event.detail) ?? event.detail
                    // Progress only moves forward, and a final outcome is written once: a later
                    // contradicting report stays in the history but changes no count.
                    let advances = next.order > current.order
                    if advances {
                        try await db.execute("UPDATE deployment_devices SET state = \(next), detail = \(String(reason.prefix(2000))), updated_epoch = \(epoch) WHERE deployment_id = \(id) AND device_id = \(device.id)")
                        changed.append((id, next))
                    }
                    // Figures count only for the deployment's own bundle version: a device cannot
                    // vote twice in a phase under names it makes up.
                    if let outcome = event.shadow, try await db.value(Bool.self, """
                        SELECT 1 FROM deployments d JOIN bundles b ON b.id = d.bundle_id WHERE d.id = \(id) AND d.bundle_name = \(event.bundleName) AND b.version = \(event.version)
                        """) == true {
                        try await QualityStore.recordShadow(db, deviceID: device.id, event: event, deploymentID: id, outcome: outcome, receivedAt: received)
                    }
                    // The first build a device names for the deployment's own bundle sticks: it cannot
                    // move its result between builds later.
                    if let variant = event.variant, try await Self.bundleOf(id, holds: variant, name: event.bundleName, version: event.version, db) {
                        try await db.execute("UPDATE deployment_devices SET variant = \(variant) WHERE deployment_id = \(id) AND device_id = \(device.id) AND variant IS NULL")
                    }
                    if let transfer = event.transfer {
                        try await db.execute("UPDATE deployment_devices SET bytes_fetched = \(Int64(transfer.fetchedBytes)), bytes_total = \(Int64(transfer.totalBytes)) WHERE deployment_id = \(id) AND device_id = \(device.id)")
                    }
                }
                try await db.execute("""
                    INSERT INTO events (device_id, deployment_id, bundle_name, version, state, detail, at, received_at)
                    VALUES (\(device.id), \(deploymentID), \(event.bundleName), \(event.version), \(event.state), \(event.detail.truncatedUTF8(to: DeviceAPI.Event.storedDetailBytes)), \(event.at), \(received))
                    """)
                try await db.execute("UPDATE devices SET state = \(event.state) WHERE id = \(device.id)")
            }
            return changed
        }
    }

    /// Whether deployment `id` rolls out `name` `version` and that bundle has a build named
    /// `variant`: a device names the build it chose, and names it made up must not become rows
    /// of the rollout.
    private static func bundleOf(_ id: DeploymentID, holds variant: VariantName, name: BundleName, version: String,
                                 _ db: any SQLTransaction) async throws -> Bool {
        guard let json = try await db.value(String.self, """
            SELECT b.variants FROM deployments d JOIN bundles b ON b.id = d.bundle_id WHERE d.id = \(id) AND d.bundle_name = \(name) AND b.version = \(version)
            """) else { return false }
        return try StoredVariants.decode(json).contains { $0.name == variant }
    }

    /// Deletes events, and model figures no live rollout reads (none of a bundle name with an
    /// active or paused deployment, whose baseline they may be), received before `cutoff`: at
    /// most `batch` rows of each per transaction, so that pruning a backlog never holds the
    /// write lock for long. Rollout counters are kept by their own tables, so nothing counted
    /// changes. Returns how many rows went.
    func prune(receivedBefore cutoff: Timestamp, batch: Int = 5000) async throws -> Int {
        try await db.write { db in
            let events = try await db.execute("""
                DELETE FROM events WHERE id IN (SELECT id FROM events WHERE received_at < \(cutoff) ORDER BY received_at LIMIT \(batch))
                """)
            let figures = try await db.execute("""
                DELETE FROM model_reports WHERE (device_id, bundle_name, version, source) IN (
                    SELECT device_id, bundle_name, version, source FROM model_reports
                     WHERE received_at < \(cutoff)
                       AND bundle_name NOT IN (SELECT bundle_name FROM deployments WHERE status IN ('active', 'paused'))
                     ORDER BY received_at LIMIT \(batch))
                """)
            return events + figures
        }
    }

    static func record(_ row: SQLRow) throws -> AdminAPI.EventRecord {
        AdminAPI.EventRecord(id: try row.int64("id"), deviceID: try row["device_id"], deploymentID: try row["deployment_id"],
                             bundleName: try row["bundle_name"], version: try row.string("version"), state: try row["state"],
                             detail: try row.string("detail"), at: try row["at"], receivedAt: try row["received_at"])
    }
}
