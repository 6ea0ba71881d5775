import OTACore

/// A device about to join a deployment, in the phase its bucket gives it.
struct Admission: Sendable {
    let deploymentID: DeploymentID
    let deviceID: DeviceID
    let phase: Int
}

extension DeploymentStore {
    /// Decides admissions in the write transaction, so that instances sharing a database never
    /// admit past a deployment's rate limit, into a phase it has not opened, or into a
    /// deployment an operator paused on another instance a moment ago. For each request: the
    /// device's membership afterwards (new, or the one it already had, perhaps joined through
    /// another instance), or nil when the deployment does not take it now.
    ///
    /// Admissions write memberships and read deployments, and touch no row the check-in flush
    /// writes (the foreign key's share lock on a device's row does not conflict with the
    /// flush's update of it): they exclude the registry's other writes, not the flush, so a
    /// device joining a rollout does not wait for a flush step.
    func admit(_ requests: [Admission], clock: any DomainClock) async throws -> [FleetCache.Member?] {
        try await db.write(excluding: .registry) { db in
            // Taken with the write lock held, so a wait for it does not widen the window.
            let now = clock.now.secondsSinceEpoch
            var results = [FleetCache.Member?](repeating: nil, count: requests.count)
            for (deploymentID, indices) in Dictionary(grouping: requests.indices, by: { requests[$0].deploymentID }) {
                guard let deployment = try await db.row("SELECT status, current_phase, rate_limit_per_minute FROM deployments WHERE id = \(deploymentID)") else { continue }
                let status: AdminAPI.DeploymentStatus = try deployment["status"]
                let currentPhase = try deployment.int("current_phase")
                let limit: Int? = try deployment["rate_limit_per_minute"]
                // With a limit, members already there must not take room: look them up first.
                // Without one (the usual rollout) insert first, and look up only the devices
                // it did not insert: one statement fewer for each batch of newcomers.
                let lookFirst = limit != nil || status != .active
                var existing = lookFirst ? try await Self.members(db, deploymentID, Array(Set(indices.map { requests[$0].deviceID }))) : [:]
                var room = Int.max
                if let limit {
                    let recent = try await db.value(Int.self, "SELECT count(*) FROM deployment_devices WHERE deployment_id = \(deploymentID) AND assigned_epoch > \(now - 60)") ?? 0
                    room = max(0, limit - recent)
                }
                var joining: [DeviceID: Int] = [:]
                var order: [DeviceID] = []
                for index in indices {
                    let request = requests[index]
                    if let member = existing[request.deviceID] {
                        // Paused: started devices go on, pending ones wait; cancelled: nobody.
                        if status == .active || (status == .paused && member.state != .pending) { results[index] = member }
                    } else if status == .active, request.phase <= currentPhase, joining[request.deviceID] == nil, room > 0 {
                        room -= 1
                        joining[request.deviceID] = request.phase
                        order.append(request.deviceID)
                    }
                }
                var inserted = Set<DeviceID>()
                for chunk in SQLRows.chunks(order) {
                    // A device deleted meanwhile has no row to join (the foreign key).
                    let newcomers = chunk.map { [$0, joining[$0]!] as [any SQLBindable] }
                    let rows = try await db.rows("""
                        INSERT INTO deployment_devices (deployment_id, device_id, phase, state, assigned_epoch, updated_epoch)
                        SELECT \(deploymentID), v.column1, v.column2, 'pending', \(now), \(now) FROM (VALUES \(rows: newcomers)) AS v
                        JOIN devices d ON d.id = v.column1
                        WHERE true ON CONFLICT DO NOTHING RETURNING device_id
                        """)
                    for row in rows { inserted.insert(try row["device_id"]) }
                }
                for index in indices where results[index] == nil && inserted.contains(requests[index].deviceID) {
                    results[index] = FleetCache.Member(phase: requests[index].phase, state: .pending, assignedEpoch: now)
                }
                let others = Set(indices.filter { results[$0] == nil && !inserted.contains(requests[$0].deviceID) }.map { requests[$0].deviceID })
                if !lookFirst && !others.isEmpty {
                    existing = try await Self.members(db, deploymentID, Array(others))
                    for index in indices where results[index] == nil { results[index] = existing[requests[index].deviceID] }
                }
            }
            return results
        }
    }

    private static func members(_ db: any SQLTransaction, _ deploymentID: DeploymentID, _ deviceIDs: [DeviceID]) async throws -> [DeviceID: FleetCache.Member] {
        var members: [DeviceID: FleetCache.Member] = [:]
        for chunk in SQLRows.chunks(deviceIDs) {
            for row in try await db.rows("""
                SELECT device_id, phase, state FROM deployment_devices WHERE deployment_id = \(deploymentID) AND device_id IN (\(list: chunk))
                """) {
                members[try row["device_id"]] = FleetCache.Member(phase: try row.int("phase"), state: try row["state"], assignedEpoch: 0)
            }
        }
        return members
    }

    /// Whether `deviceID` is part of a live deployment whose bundle holds the file `digest`.
    func isAssigned(content digest: SHA256Digest, to deviceID: DeviceID) async throws -> Bool {
        try await db.read { db in
            try await db.value(Bool.self, """
                SELECT 1 FROM deployment_devices m JOIN deployments d ON d.id = m.deployment_id
                JOIN bundle_files f ON f.bundle_id = d.bundle_id
                WHERE m.device_id = \(deviceID) AND f.digest = \(digest) AND d.status IN ('active', 'paused') LIMIT 1
                """) ?? false
        }
    }
}
