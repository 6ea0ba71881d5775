import OTACore

/// The registry's change feed (migration 0006): what any instance changed that the check-in
/// caches of the others must see, in commit order. Triggers write it; `Fleet.apply` reads it.
struct ChangeFeed: Sendable {
    let db: any SQLDatabase

    /// One change, with the state it has now (not the state it had then: a cache only needs
    /// to end up right, and reading the row is what makes it right).
    enum Change: Sendable, Equatable {
        /// A device's tags, group, key, token or standing changed.
        case device(DeviceID)
        case deviceDeleted(DeviceID)
        /// A deployment was created, controlled or decided on.
        case deployment(DeploymentID)
        /// A device joined a deployment or moved on in it; nil when the membership is gone.
        case membership(deploymentID: DeploymentID, deviceID: DeviceID, FleetCache.Member?)
        /// Trust metadata was published or renewed.
        case trust
        /// New model figures for a deployment.
        case quality(DeploymentID)
    }

    struct Page: Sendable {
        var changes: [Change] = []
        /// The `seq` to read after next time.
        var last: Int64
        /// Rows this instance had not read were pruned: it must reload everything.
        var missed = false
        /// How many rows were read (a full page means there may be more).
        var rows = 0
    }

    /// Where the feed ends now: an instance takes this before loading its state, so that
    /// nothing committed after the load is missed (what is applied twice is harmless).
    func end() async throws -> Int64 {
        try await db.read { db in
            // Past the horizon too: a feed pruned empty must not look like one never read.
            max(try await db.value(Int64.self, "SELECT max(seq) FROM registry_changes") ?? 0,
                try await db.value(Int64.self, "SELECT pruned_through FROM registry_change_horizon WHERE id = 1") ?? 0)
        }
    }

    static let pageSize = 10_000

    func read(after cursor: Int64, limit: Int = ChangeFeed.pageSize) async throws -> Page {
        try await db.read { db in
            let pruned = try await db.value(Int64.self, "SELECT pruned_through FROM registry_change_horizon WHERE id = 1") ?? 0
            if cursor < pruned {
                return Page(last: try await db.value(Int64.self, "SELECT max(seq) FROM registry_changes") ?? pruned, missed: true)
            }
            let rows = try await db.rows("""
                SELECT c.seq, c.kind, c.key, c.detail, m.phase, m.state FROM registry_changes c
                LEFT JOIN deployment_devices m ON c.kind = 'membership' AND m.deployment_id = c.key AND m.device_id = c.detail
                WHERE c.seq > \(cursor) ORDER BY c.seq LIMIT \(limit)
                """)
            var page = Page(last: cursor, rows: rows.count)
            for row in rows {
                page.last = try row.int64("seq")
                switch try row.string("kind") {
                case "device": page.changes.append(.device(try row["key"]))
                case "device_deleted": page.changes.append(.deviceDeleted(try row["key"]))
                case "deployment": page.changes.append(.deployment(try row["key"]))
                case "membership":
                    let state: AdminAPI.MembershipState? = try row["state"]
                    let member = try state.map { FleetCache.Member(phase: try row.int("phase"), state: $0, assignedEpoch: 0) }
                    page.changes.append(.membership(deploymentID: try row["key"], deviceID: try row["detail"], member))
                case "trust": if page.changes.last != .trust { page.changes.append(.trust) }
                case "quality": page.changes.append(.quality(try row["key"]))
                default: break  // A kind from a newer server: nothing this one caches.
                }
            }
            return page
        }
    }

    /// Drops rows older than `seconds`; instances that had not read them reload everything.
    func prune(olderThan seconds: Int64, now: Int64) async throws {
        try await db.write { db in
            guard let through = try await db.value(Int64.self, "SELECT max(seq) FROM registry_changes WHERE at_epoch < \(now - seconds)") else { return }
            try await db.execute("DELETE FROM registry_changes WHERE seq <= \(through)")
            try await db.execute("UPDATE registry_change_horizon SET pruned_through = \(through) WHERE id = 1 AND pruned_through < \(through)")
        }
    }
}
