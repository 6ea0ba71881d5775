import OTACore

/// A device about to join a deployment, in the phase its bucket gives it.
struct Admission: Sendable {
    let deploymentID: String
    let deviceID: String
    let phase: Int
}

extension DeploymentStore {
    /// Decides admissions in the write transaction, so that instances sharing a database never
    /// admit past a deployment's rate limit, into a phase it has not opened, or into a
    /// deployment an operator paused on another instance a moment ago. For each request: the
    /// device's membership afterwards (new, or the one it already had, perhaps joined through
    /// another instance), or nil when the deployment does not take it now.
    func admit(_ requests: [Admission]) async throws -> [Fleet.Member?] {
        try await db.write { db in
            // Taken with the write lock held, so a wait for it does not widen the window.
            let now = Timestamp.epochSeconds()
            var results = [Fleet.Member?](repeating: nil, count: requests.count)
            for (deploymentID, indices) in Dictionary(grouping: requests.indices, by: { requests[$0].deploymentID }) {
                guard let deployment = try db.row("SELECT status, current_phase, rate_limit_per_minute FROM deployments WHERE id = ?", [deploymentID]) else { continue }
                let status: AdminAPI.DeploymentStatus = deployment["status"]
                let currentPhase = deployment.int("current_phase")
                let limit: Int? = deployment["rate_limit_per_minute"]
                // With a limit, members already there must not take room: look them up first.
                // Without one (the usual rollout) insert first, and look up only the devices
                // it did not insert: one statement fewer for each batch of newcomers.
                let lookFirst = limit != nil || status != .active
                var existing = lookFirst ? try Self.members(db, deploymentID, Array(Set(indices.map { requests[$0].deviceID }))) : [:]
                var room = Int.max
                if let limit {
                    let recent = try db.value(Int.self, "SELECT count(*) FROM deployment_devices WHERE deployment_id = ? AND assigned_epoch > ?",
                                              [deploymentID, now - 60]) ?? 0
                    room = max(0, limit - recent)
                }
                var joining: [String: Int] = [:]
                var order: [String] = []
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
                var inserted = Set<String>()
                for chunk in SQLRows.chunks(order) {
                    // A device deleted meanwhile has no row to join (the foreign key).
                    let rows = try db.rows("""
                        INSERT INTO deployment_devices (deployment_id, device_id, phase, state, assigned_epoch, updated_epoch)
                        SELECT ?, v.column1, v.column2, 'pending', ?, ? FROM (VALUES \(SQLRows.values(chunk.count, columns: 2))) AS v JOIN devices d ON d.id = v.column1
                        WHERE true ON CONFLICT DO NOTHING RETURNING device_id
                        """, [deploymentID, now, now] + chunk.flatMap { [$0, joining[$0]!] as [any SQLBindable] })
                    for row in rows { inserted.insert(row.string("device_id")) }
                }
                for index in indices where results[index] == nil && inserted.contains(requests[index].deviceID) {
                    results[index] = Fleet.Member(phase: requests[index].phase, state: .pending, assignedEpoch: now)
                }
                let others = Set(indices.filter { results[$0] == nil && !inserted.contains(requests[$0].deviceID) }.map { requests[$0].deviceID })
                if !lookFirst && !others.isEmpty {
                    existing = try Self.members(db, deploymentID, Array(others))
                    for index in indices where results[index] == nil { results[index] = existing[requests[index].deviceID] }
                }
            }
            return results
        }
    }

    private static func members(_ db: any SQLTransaction, _ deploymentID: String, _ deviceIDs: [String]) throws -> [String: Fleet.Member] {
        var members: [String: Fleet.Member] = [:]
        for chunk in SQLRows.chunks(deviceIDs) {
            for row in try db.rows("""
                SELECT device_id, phase, state FROM deployment_devices WHERE deployment_id = ? AND device_id IN (\(placeholders(chunk.count)))
                """, [deploymentID] + chunk) {
                members[row.string("device_id")] = Fleet.Member(phase: row.int("phase"), state: row["state"], assignedEpoch: 0)
            }
        }
        return members
    }

    /// Whether `deviceID` is part of a live deployment whose bundle holds the file `digest`.
    func isAssigned(content digest: String, to deviceID: String) async throws -> Bool {
        try await db.read { db in
            try db.value(Bool.self, """
                SELECT 1 FROM deployment_devices m JOIN deployments d ON d.id = m.deployment_id
                JOIN bundle_files f ON f.bundle_id = d.bundle_id
                WHERE m.device_id = ? AND f.digest = ? AND d.status IN ('active', 'paused') LIMIT 1
                """, [deviceID, digest]) ?? false
        }
    }
}
