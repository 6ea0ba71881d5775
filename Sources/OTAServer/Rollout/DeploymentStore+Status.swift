import Foundation
import OTACore

/// What an operator reads of a deployment: its counts by phase and state from the counter
/// tables the triggers keep, its transfers, failures, versions, model figures and variants.
extension DeploymentStore {
    /// Counts by phase, from the counter table (constant cost whatever the fleet size).
    func counts(_ db: any SQLTransaction, deploymentID: DeploymentID) async throws -> [Int: AdminAPI.StateCounts] {
        try Self.counts(try await db.rows(Self.countsQuery(deploymentID)))
    }

    static func countsQuery(_ deploymentID: DeploymentID) -> SQLQuery {
        "SELECT phase, state, count FROM deployment_counts WHERE deployment_id = \(deploymentID) AND count > 0"
    }

    static func counts(_ rows: [SQLRow]) throws -> [Int: AdminAPI.StateCounts] {
        var result: [Int: AdminAPI.StateCounts] = [:]
        for row in rows {
            result[try row.int("phase"), default: AdminAPI.StateCounts()].add(try row.int("count"), state: try row["state"])
        }
        return result
    }

    func status(id: DeploymentID, detailed: Bool = true) async throws -> AdminAPI.Deployment? {
        try await db.read { db in
            // The deployment and its plain reads go to the database together (pipelined on
            // PostgreSQL): one wait, on a request an operator's dashboard repeats.
            let results = try await db.rows(all: ["SELECT d.*, b.version, b.digest, b.variants FROM deployments d JOIN bundles b ON b.id = d.bundle_id WHERE d.id = \(id)"]
                                            + Self.statusReads(id, detailed: detailed))
            guard let row = results[0].first else { return nil }
            return try await self.status(db, row: row, reads: Array(results.dropFirst()), detailed: detailed)
        }
    }

    func list(limit: Int = 200) async throws -> [AdminAPI.Deployment] {
        try await db.read { db in
            var deployments: [AdminAPI.Deployment] = []
            for row in try await db.rows("""
                SELECT d.*, b.version, b.digest, b.variants FROM deployments d JOIN bundles b ON b.id = d.bundle_id ORDER BY d.seq DESC LIMIT \(limit)
                """) {
                let reads = try await db.rows(all: Self.statusReads(try row["id"], detailed: false))
                deployments.append(try await self.status(db, row: row, reads: reads, detailed: false))
            }
            return deployments
        }
    }

    /// What a status reads beside the deployment's row, needing nothing from it: its counts
    /// by phase; in detail, its transfers, failure reasons and the versions of its bundle
    /// devices run (the bundle's name read in the statement, so that it need not wait for the row).
    static func statusReads(_ id: DeploymentID, detailed: Bool) -> [SQLQuery] {
        var reads = [countsQuery(id)]
        if detailed {
            // Summed as floating point: each device may report up to 2^50 bytes, and 8,192 of
            // them would overflow an integer sum (SQLite then fails the statement, and the
            // status with it). Totals past 2^53 bytes lose precision, not the answer.
            reads.append("""
                SELECT COUNT(*) AS devices, COALESCE(SUM(CAST(bytes_fetched AS DOUBLE PRECISION)), 0) AS fetched,
                    COALESCE(SUM(CAST(bytes_total AS DOUBLE PRECISION)), 0) AS total
                FROM deployment_devices WHERE deployment_id = \(id) AND bytes_total IS NOT NULL
                """)
            reads.append("""
                SELECT reason, count FROM deployment_failures WHERE deployment_id = \(id) AND count > 0 ORDER BY count DESC, reason LIMIT 20
                """)
            reads.append("""
                SELECT version, count FROM installed_counts WHERE bundle_name = (SELECT bundle_name FROM deployments WHERE id = \(id)) AND count > 0
                ORDER BY count DESC, version LIMIT 50
                """)
        }
        return reads
    }

    /// `reads`: the rows of `statusReads`, in order.
    private func status(_ db: any SQLTransaction, row: SQLRow, reads results: [[SQLRow]], detailed: Bool) async throws -> AdminAPI.Deployment {
        let plan = try Self.plan(row)
        let counts = try Self.counts(results[0])
        let phases = plan.phases.enumerated().map { index, phase in
            AdminAPI.PhaseStatus(index: index, label: phase.label, counts: counts[index] ?? AdminAPI.StateCounts(),
                                 startedAt: index == plan.currentPhase ? Timestamp(clamping: plan.phaseStartedEpoch) : nil)
        }
        let overall = counts.values.reduce(AdminAPI.StateCounts(), +)
        var failureReasons: [AdminAPI.FailureReason]?
        var versions: [AdminAPI.VersionCount]?
        var transfer: AdminAPI.TransferTotals?
        var quality: [AdminAPI.PhaseQuality]?
        var variants: [AdminAPI.VariantProgress]?
        if detailed {
            guard let sums = results[1].first else { throw RegistryError.corrupt("a sum of deployment \(plan.id) returned no row") }
            transfer = AdminAPI.TransferTotals(devices: try sums.int("devices"), fetchedBytes: Self.bytes(try sums["fetched"]),
                                               totalBytes: Self.bytes(try sums["total"]))
            failureReasons = try results[2].map { AdminAPI.FailureReason(reason: try $0.string("reason"), count: try $0.int("count")) }
            versions = try results[3].map { AdminAPI.VersionCount(version: try $0.string("version"), count: try $0.int("count")) }
            variants = try await variantProgress(db, plan: plan, version: try row.string("version"), stored: try row.optionalString("variants"))
            var phases: [AdminAPI.PhaseQuality] = []
            for index in 0...plan.currentPhase {
                if let phase = try await QualityStore.phaseQuality(db, plan: plan, version: try row.string("version"), phase: index,
                                                                   counts: counts[index] ?? AdminAPI.StateCounts()) {
                    phases.append(phase)
                }
            }
            quality = phases.isEmpty ? nil : phases
        }
        return AdminAPI.Deployment(
            id: plan.id, bundleName: plan.bundleName, version: try row["version"], digest: try row["digest"], target: plan.target,
            status: Self.displayStatus(plan, overall: overall), pausedReason: plan.pausedReason, currentPhase: plan.currentPhase,
            phases: phases, counts: overall, autoAdvance: plan.autoAdvance, soakSeconds: plan.soakSeconds, successRatio: plan.successRatio,
            failureThresholdCount: plan.failureThresholdCount, failureThresholdPercent: plan.failureThresholdPercent,
            failureMinFinished: plan.failureMinFinished, rateLimitPerMinute: plan.rateLimitPerMinute, createdAt: plan.createdAt,
            createdBy: plan.createdBy, failureReasons: failureReasons, versions: versions, transfer: transfer,
            shadow: plan.shadow, gates: plan.gates.isEmpty ? nil : plan.gates, gateMinDevices: plan.gates.isEmpty ? nil : plan.gateMinDevices,
            quality: quality, inventoryFilter: plan.inventoryFilter, variants: variants)
    }

    /// Each build's devices and figures, for a bundle with variants (`stored`: its builds, from
    /// the status row, so a plain bundle costs no query); nil otherwise. A device counts under
    /// its build once it reported the choice (its first step does).
    private func variantProgress(_ db: any SQLTransaction, plan: DeploymentPlan, version: String,
                                 stored json: String?) async throws -> [AdminAPI.VariantProgress]? {
        guard let json else { return nil }
        let variants = try StoredVariants.decode(json)
        var counts: [VariantName: AdminAPI.StateCounts] = [:]
        for row in try await db.rows("""
            SELECT variant, state, COUNT(*) AS count FROM deployment_devices WHERE deployment_id = \(plan.id) AND variant IS NOT NULL GROUP BY variant, state
            """) {
            counts[try row["variant"], default: AdminAPI.StateCounts()].add(try row.int("count"), state: try row["state"])
        }
        var progress: [AdminAPI.VariantProgress] = []
        for variant in variants {
            let quality = try await QualityStore.phaseQuality(db, plan: plan, version: version, phase: plan.currentPhase,
                                                              counts: counts[variant.name] ?? AdminAPI.StateCounts(), variant: variant.name)
            let reasons = try await db.rows("""
                SELECT detail, COUNT(*) AS count FROM deployment_devices
                WHERE deployment_id = \(plan.id) AND variant = \(variant.name) AND state IN ('failed', 'rolled_back') AND detail IS NOT NULL
                GROUP BY detail ORDER BY count DESC, detail LIMIT 5
                """).map { AdminAPI.FailureReason(reason: try $0.string("detail"), count: try $0.int("count")) }
            progress.append(.init(name: variant.name, counts: counts[variant.name] ?? AdminAPI.StateCounts(), quality: quality,
                                  failureReasons: reasons.isEmpty ? nil : reasons))
        }
        return progress
    }

    /// A byte count summed as floating point, within what the answer's field holds.
    static func bytes(_ sum: Double) -> UInt64 {
        guard sum.isFinite, sum > 0 else { return 0 }
        return sum >= 0x1p64 ? .max : UInt64(sum)
    }

    /// `completed` is shown for an active deployment in its last phase with every reached
    /// device finished; it stays active underneath, so devices that join later still get it.
    static func displayStatus(_ plan: DeploymentPlan, overall: AdminAPI.StateCounts) -> AdminAPI.DeploymentStatus {
        if plan.status == .active, plan.isLastPhase, overall.total > 0, overall.finished == overall.total { return .completed }
        return plan.status
    }
}

extension AdminAPI.StateCounts {
    /// Adds `count` devices in a membership state (the `deployment_devices.state` values).
    mutating func add(_ count: Int, state: AdminAPI.MembershipState) {
        switch state {
        case .pending: pending += count
        case .downloading: downloading += count
        case .installing: installing += count
        case .succeeded: succeeded += count
        case .failed: failed += count
        case .rolledBack: rolledBack += count
        }
    }
}
