import Foundation
import OTACore

/// Deployments in the registry: creating them and reading their plans here; their status
/// from trigger-kept counters (`+Status`), the operator's and the policy's controls (advance,
/// pause, resume, cancel, each in the audit log: `+Controls`), and admissions (Admissions.swift).
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
}
