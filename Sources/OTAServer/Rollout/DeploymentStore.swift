import Foundation
import OTACore

/// Deployments in SQLite: creation, status from trigger-kept counters, and the operator's
/// and the policy's controls (advance, pause, resume, cancel), each in the audit log.
struct DeploymentStore: Sendable {
    let db: any SQLDatabase
    /// Phase and soak times are the rollout policy's: the same clock decides and records them.
    var clock: any DomainClock = SystemClock()

    static func plan(_ row: SQLRow) throws -> DeploymentPlan {
        var plan = DeploymentPlan(
            id: try row["id"], seq: try row.int64("seq"), bundleID: try row.int64("bundle_id"), bundleName: try row["bundle_name"],
            target: try row.json("target", as: AdminAPI.Target.self), phases: try row.json("phases", as: [AdminAPI.Phase].self),
            currentPhase: try row.int("current_phase"), phaseStartedEpoch: try row.int64("phase_started_epoch"), status: try row["status"],
            pausedReason: try row.optionalString("paused_reason"), autoAdvance: try row.int("auto_advance") != 0, soakSeconds: try row.int("soak_s"),
            successRatio: try row["success_ratio"], failureThresholdCount: try row["failure_threshold_count"],
            failureThresholdPercent: try row["failure_threshold_percent"], failureMinFinished: try row.int("failure_min_finished"),
            rateLimitPerMinute: try row["rate_limit_per_minute"], soakStartedEpoch: try row["soak_started_epoch"],
            failureBaseline: try row.int("failure_baseline"), finishedBaseline: try row.int("finished_baseline"),
            phaseSecret: try row.optionalString("phase_secret").flatMap(Hex.decode),
            createdAt: try row["created_at"], createdBy: try row.string("created_by"))
        if try row.optionalString("shadow") != nil { plan.shadow = try row.json("shadow", as: ShadowPolicy.self) }
        if try row.optionalString("gates") != nil { plan.gates = try row.json("gates", as: [QualityGate].self) }
        plan.gateMinDevices = try row["gate_min_devices"] ?? DeploymentPlan.defaultGateMinDevices
        plan.gatesWaivedPhase = try row["gates_waived_phase"]
        // Checked when it was written; one that no longer parses (written by a later version)
        // matches no device rather than every device.
        if let text = try row.optionalString("inventory_filter") {
            plan.inventoryFilter = (try? InventoryCondition(text)) ?? .unreadable(text)
        }
        return plan
    }

    /// The shadow policy and gates a create request asks for, checked.
    static func quality(_ request: AdminAPI.DeploymentCreateRequest) throws -> (shadow: ShadowPolicy?, gates: [QualityGate], minDevices: Int) {
        let gates = request.gates ?? []
        guard gates.count <= 16 else { throw RegistryError.invalid("at most 16 gates") }
        guard Set(gates).count == gates.count else { throw RegistryError.invalid("a gate is listed twice") }
        let minDevices = request.gateMinDevices ?? DeploymentPlan.defaultGateMinDevices
        guard (1...100_000).contains(minDevices) else { throw RegistryError.invalid("gate_min_devices must be 1 to 100000") }
        guard let settings = request.shadow else {
            if let relative = gates.first(where: \.relative) {
                throw RegistryError.invalid("gate \(relative) compares with the live model beside the candidate: it needs a shadow phase (shadow)")
            }
            if let shadowOnly = gates.first(where: { [.agreement, .distance].contains($0.metric) }) {
                throw RegistryError.invalid("gate \(shadowOnly) is measured only in a shadow phase: it needs one (shadow)")
            }
            return (nil, gates, minDevices)
        }
        let policy = ShadowPolicy(minSamples: settings.minSamples ?? ShadowPolicy.defaultMinSamples,
                                  maxSeconds: settings.maxSeconds ?? ShadowPolicy.defaultMaxSeconds,
                                  sampleShare: settings.sampleShare ?? 1, gates: gates.isEmpty ? ShadowPolicy.defaultGates : gates)
        if let problem = policy.problem { throw RegistryError.invalid(problem) }
        return (policy, policy.gates, minDevices)
    }

    func create(_ request: AdminAPI.DeploymentCreateRequest, bundleID: Int64, by caller: AdminIdentity) async throws -> DeploymentPlan {
        // The target and phases were checked when the request was decoded.
        let phases = request.phases ?? [.percent(100)]
        let staged = phases.count > 1
        let soak = request.soakSeconds ?? (staged ? 600 : 0)
        let ratio = request.successRatio ?? 0.95
        // Staged rollouts protect the fleet by default: pause beyond 10% failures once 10 finished.
        let thresholdPercent = request.failureThresholdPercent ?? (staged && request.failureThresholdCount == nil ? 10 : nil)
        let minFinished = request.failureMinFinished ?? (staged ? 10 : 1)
        let quality = try Self.quality(request)
        let id = DeploymentID(checked: Secret.newID("dep_"))
        let now = clock.now
        return try await db.write { db in
            if quality.shadow != nil, let kind = try await db.value(BundleKind.self, "SELECT kind FROM bundles WHERE id = \(bundleID)"), !kind.isModel {
                throw RegistryError.invalid("a shadow phase runs a candidate model beside the live one: \(request.bundleName) is a \(kind) bundle")
            }
            let seq = (try await db.value(Int64.self, "SELECT max(seq) FROM deployments") ?? 0) + 1
            try await db.execute("""
                INSERT INTO deployments (id, seq, bundle_id, bundle_name, target, phases, current_phase, phase_started_epoch, status,
                    auto_advance, soak_s, success_ratio, failure_threshold_count, failure_threshold_percent, failure_min_finished,
                    rate_limit_per_minute, phase_secret, created_at, created_by, shadow, gates, gate_min_devices, inventory_filter)
                SELECT \(id), \(seq), id, name, \(JSONColumn.encode(request.target)), \(JSONColumn.encode(phases)), 0, \(now.secondsSinceEpoch), 'active', \((request.autoAdvance ?? false) ? 1 : 0), \(soak), \(ratio), \(request.failureThresholdCount), \(thresholdPercent), \(minFinished), \(request.rateLimitPerMinute), \(Hex.encode(SecureRandom.bytes(32))), \(now), \(caller.actor), \(quality.shadow.map(JSONColumn.encode)), \(quality.gates.isEmpty ? nil : try JSONColumn.encode(quality.gates)), \(quality.minDevices), \(request.inventoryFilter?.description) FROM bundles WHERE id = \(bundleID)
                """)
            try await AuditLog.record(db, by: caller, action: .deploymentCreate, target: id.rawValue,
                                detail: "\(request.bundleName) \(request.version) to \(request.target.summary), phases \(phases.map(\.label).joined(separator: ","))"
                                    + (quality.shadow.map { "; shadow \($0.minSamples) samples within \($0.maxSeconds)s" } ?? "")
                                    + (quality.gates.isEmpty ? "" : "; gates \(quality.gates.map(\.description).joined(separator: ", "))")
                                    + (request.inventoryFilter.map { "; where \($0)" } ?? ""))
            return try await Self.plan(try Self.row(db, id))
        }
    }

    /// The row of a deployment that must exist (it was just written).
    static func row(_ db: any SQLTransaction, _ id: DeploymentID) async throws -> SQLRow {
        guard let row = try await db.row("SELECT * FROM deployments WHERE id = \(id)") else {
            throw RegistryError.corrupt("deployment \(id) is gone from the transaction that wrote it")
        }
        return row
    }

    func plan(id: DeploymentID) async throws -> DeploymentPlan? {
        try await db.read { db in try await db.row("SELECT * FROM deployments WHERE id = \(id)").map(Self.plan) }
    }

    /// Deployments that may still hand out bundles (active or paused).
    func livePlans() async throws -> [DeploymentPlan] {
        try await db.read { db in
            try await db.rows("SELECT * FROM deployments WHERE status IN ('active', 'paused') ORDER BY seq DESC").map(Self.plan)
        }
    }

    /// Every membership of the live deployments, to warm the check-in cache at start.
    func liveMemberships() async throws -> [(deploymentID: DeploymentID, deviceID: DeviceID, phase: Int, state: AdminAPI.MembershipState)] {
        try await db.read { db in
            try await db.rows("""
                SELECT dd.deployment_id, dd.device_id, dd.phase, dd.state FROM deployment_devices dd
                JOIN deployments d ON d.id = dd.deployment_id WHERE d.status IN ('active', 'paused')
                """).map { (try $0["deployment_id"], try $0["device_id"], try $0.int("phase"), try $0["state"]) }
        }
    }

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
            guard let row = try await db.rows("""
                SELECT d.*, b.version, b.digest, b.variants FROM deployments d JOIN bundles b ON b.id = d.bundle_id WHERE d.id = \(id)
                """).first else { return nil }
            return try await self.status(db, row: row, detailed: detailed)
        }
    }

    func list(limit: Int = 200) async throws -> [AdminAPI.Deployment] {
        try await db.read { db in
            var deployments: [AdminAPI.Deployment] = []
            for row in try await db.rows("""
                SELECT d.*, b.version, b.digest, b.variants FROM deployments d JOIN bundles b ON b.id = d.bundle_id ORDER BY d.seq DESC LIMIT \(limit)
                """) {
                deployments.append(try await self.status(db, row: row, detailed: false))
            }
            return deployments
        }
    }

    private func status(_ db: any SQLTransaction, row: SQLRow, detailed: Bool) async throws -> AdminAPI.Deployment {
        let plan = try Self.plan(row)
        // The status's plain reads go to the database together (pipelined on PostgreSQL).
        var reads = [Self.countsQuery(plan.id)]
        if detailed {
            reads.append("""
                SELECT COUNT(*) AS devices, COALESCE(SUM(bytes_fetched), 0) AS fetched, COALESCE(SUM(bytes_total), 0) AS total
                FROM deployment_devices WHERE deployment_id = \(plan.id) AND bytes_total IS NOT NULL
                """)
            reads.append("""
                SELECT reason, count FROM deployment_failures WHERE deployment_id = \(plan.id) AND count > 0 ORDER BY count DESC, reason LIMIT 20
                """)
            reads.append("""
                SELECT version, count FROM installed_counts WHERE bundle_name = \(plan.bundleName) AND count > 0 ORDER BY count DESC, version LIMIT 50
                """)
        }
        let results = try await db.rows(all: reads)
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
            transfer = AdminAPI.TransferTotals(devices: try sums.int("devices"), fetchedBytes: UInt64(try sums.int64("fetched")),
                                               totalBytes: UInt64(try sums.int64("total")))
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
