import Foundation
import OTACore

/// Deployments in SQLite: creation, status from trigger-kept counters, and the operator's
/// and the policy's controls (advance, pause, resume, cancel), each in the audit log.
struct DeploymentStore: Sendable {
    let db: any SQLDatabase

    static func plan(_ row: SQLRow) -> DeploymentPlan {
        var plan = DeploymentPlan(
            id: row.string("id"), seq: row.int64("seq"), bundleID: row.int64("bundle_id"), bundleName: row.string("bundle_name"),
            target: row.json("target", as: AdminAPI.Target.self), phases: row.json("phases", as: [AdminAPI.Phase].self),
            currentPhase: row.int("current_phase"), phaseStartedEpoch: row.int64("phase_started_epoch"), status: row["status"],
            pausedReason: row.optionalString("paused_reason"), autoAdvance: row.int("auto_advance") != 0, soakSeconds: row.int("soak_s"),
            successRatio: row["success_ratio"], failureThresholdCount: row["failure_threshold_count"],
            failureThresholdPercent: row["failure_threshold_percent"], failureMinFinished: row.int("failure_min_finished"),
            rateLimitPerMinute: row["rate_limit_per_minute"], soakStartedEpoch: row["soak_started_epoch"],
            failureBaseline: row.int("failure_baseline"), finishedBaseline: row.int("finished_baseline"),
            phaseSecret: row.optionalString("phase_secret").flatMap(Hex.decode),
            createdAt: row.string("created_at"), createdBy: row.string("created_by"))
        if row.optionalString("shadow") != nil { plan.shadow = row.json("shadow", as: ShadowPolicy.self) }
        if row.optionalString("gates") != nil { plan.gates = row.json("gates", as: [QualityGate].self) }
        plan.gateMinDevices = row["gate_min_devices"] ?? DeploymentPlan.defaultGateMinDevices
        plan.gatesWaivedPhase = row["gates_waived_phase"]
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
        if let problem = request.target.problem { throw RegistryError.invalid(problem) }
        let phases = request.phases ?? [AdminAPI.Phase(percent: 100)]
        if let problem = DeploymentPlan.validate(phases) { throw RegistryError.invalid(problem) }
        let staged = phases.count > 1
        let soak = request.soakSeconds ?? (staged ? 600 : 0)
        let ratio = request.successRatio ?? 0.95
        guard (0...86_400 * 30).contains(soak) else { throw RegistryError.invalid("soak_s must be between 0 and 2592000 seconds") }
        guard ratio > 0, ratio <= 1 else { throw RegistryError.invalid("success_ratio must be above 0 and at most 1") }
        // Staged rollouts protect the fleet by default: pause beyond 10% failures once 10 finished.
        let thresholdPercent = request.failureThresholdPercent ?? (staged && request.failureThresholdCount == nil ? 10 : nil)
        let minFinished = request.failureMinFinished ?? (staged ? 10 : 1)
        if let count = request.failureThresholdCount, count < 1 { throw RegistryError.invalid("failure_threshold_count must be at least 1") }
        if let percent = thresholdPercent, !(percent >= 0 && percent < 100) { throw RegistryError.invalid("failure_threshold_percent must be from 0 to below 100") }
        if minFinished < 0 { throw RegistryError.invalid("failure_min_finished must not be negative") }
        if let rate = request.rateLimitPerMinute, rate < 1 { throw RegistryError.invalid("rate_limit_per_minute must be at least 1") }
        let quality = try Self.quality(request)
        let id = Secret.newID("dep_")
        let now = Timestamp.epochSeconds()
        return try await db.write { db in
            if quality.shadow != nil, let kind = try db.value(String.self, "SELECT kind FROM bundles WHERE id = ?", [bundleID]), kind != "model" {
                throw RegistryError.invalid("a shadow phase runs a candidate model beside the live one: \(request.bundleName) is a \(kind) bundle")
            }
            let seq = (try db.value(Int64.self, "SELECT max(seq) FROM deployments") ?? 0) + 1
            try db.execute("""
                INSERT INTO deployments (id, seq, bundle_id, bundle_name, target, phases, current_phase, phase_started_epoch, status,
                    auto_advance, soak_s, success_ratio, failure_threshold_count, failure_threshold_percent, failure_min_finished,
                    rate_limit_per_minute, phase_secret, created_at, created_by, shadow, gates, gate_min_devices)
                SELECT ?, ?, id, name, ?, ?, 0, ?, 'active', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ? FROM bundles WHERE id = ?
                """, [id, seq, JSONColumn.encode(request.target), JSONColumn.encode(phases), now, (request.autoAdvance ?? false) ? 1 : 0,
                                 soak, ratio, request.failureThresholdCount, thresholdPercent, minFinished, request.rateLimitPerMinute,
                                 Hex.encode(SecureRandom.bytes(32)), Timestamp.now(), caller.actor,
                                 quality.shadow.map(JSONColumn.encode), quality.gates.isEmpty ? nil : JSONColumn.encode(quality.gates),
                                 quality.minDevices, bundleID])
            try AuditLog.record(db, by: caller, action: "deployment.create", target: id,
                                detail: "\(request.bundleName) \(request.version) to \(request.target.summary), phases \(phases.map(\.label).joined(separator: ","))"
                                    + (quality.shadow.map { "; shadow \($0.minSamples) samples within \($0.maxSeconds)s" } ?? "")
                                    + (quality.gates.isEmpty ? "" : "; gates \(quality.gates.map(\.description).joined(separator: ", "))"))
            return Self.plan(try db.row("SELECT * FROM deployments WHERE id = ?", [id])!)
        }
    }

    func plan(id: String) async throws -> DeploymentPlan? {
        try await db.read { db in try db.row("SELECT * FROM deployments WHERE id = ?", [id]).map(Self.plan) }
    }

    /// Deployments that may still hand out bundles (active or paused).
    func livePlans() async throws -> [DeploymentPlan] {
        try await db.read { db in
            try db.rows("SELECT * FROM deployments WHERE status IN ('active', 'paused') ORDER BY seq DESC").map(Self.plan)
        }
    }

    /// Every membership of the live deployments, to warm the check-in cache at start.
    func liveMemberships() async throws -> [(deploymentID: String, deviceID: String, phase: Int, state: AdminAPI.MembershipState)] {
        try await db.read { db in
            try db.rows("""
                SELECT dd.deployment_id, dd.device_id, dd.phase, dd.state FROM deployment_devices dd
                JOIN deployments d ON d.id = dd.deployment_id WHERE d.status IN ('active', 'paused')
                """).map { ($0.string("deployment_id"), $0.string("device_id"), $0.int("phase"), $0["state"]) }
        }
    }

    /// Counts by phase, from the counter table (constant cost whatever the fleet size).
    func counts(_ db: any SQLTransaction, deploymentID: String) throws -> [Int: AdminAPI.StateCounts] {
        var result: [Int: AdminAPI.StateCounts] = [:]
        for row in try db.rows("SELECT phase, state, count FROM deployment_counts WHERE deployment_id = ? AND count > 0", [deploymentID]) {
            result[row.int("phase"), default: AdminAPI.StateCounts()].add(row.int("count"), state: row["state"])
        }
        return result
    }

    func status(id: String, detailed: Bool = true) async throws -> AdminAPI.Deployment? {
        try await db.read { db in
            guard let row = try db.rows("""
                SELECT d.*, b.version, b.digest FROM deployments d JOIN bundles b ON b.id = d.bundle_id WHERE d.id = ?
                """, [id]).first else { return nil }
            return try self.status(db, row: row, detailed: detailed)
        }
    }

    func list(limit: Int = 200) async throws -> [AdminAPI.Deployment] {
        try await db.read { db in
            try db.rows("""
                SELECT d.*, b.version, b.digest FROM deployments d JOIN bundles b ON b.id = d.bundle_id ORDER BY d.seq DESC LIMIT ?
                """, [limit]).map { try self.status(db, row: $0, detailed: false) }
        }
    }

    private func status(_ db: any SQLTransaction, row: SQLRow, detailed: Bool) throws -> AdminAPI.Deployment {
        let plan = Self.plan(row)
        let counts = try counts(db, deploymentID: plan.id)
        let phases = plan.phases.enumerated().map { index, phase in
            AdminAPI.PhaseStatus(index: index, label: phase.label, counts: counts[index] ?? AdminAPI.StateCounts(),
                                 startedAt: index == plan.currentPhase ? Timestamp.format(secondsSinceEpoch: plan.phaseStartedEpoch)
                                                                       : nil)
        }
        let overall = counts.values.reduce(AdminAPI.StateCounts(), +)
        var failureReasons: [AdminAPI.FailureReason]?
        var versions: [AdminAPI.VersionCount]?
        var transfer: AdminAPI.TransferTotals?
        var quality: [AdminAPI.PhaseQuality]?
        if detailed {
            quality = try (0...plan.currentPhase).compactMap { index in
                try QualityStore.phaseQuality(db, plan: plan, version: row.string("version"), phase: index, counts: counts[index] ?? AdminAPI.StateCounts())
            }
            if quality?.isEmpty == true { quality = nil }
            let sums = try db.rows("""
                SELECT COUNT(*) AS devices, COALESCE(SUM(bytes_fetched), 0) AS fetched, COALESCE(SUM(bytes_total), 0) AS total
                FROM deployment_devices WHERE deployment_id = ? AND bytes_total IS NOT NULL
                """, [plan.id])[0]
            transfer = AdminAPI.TransferTotals(devices: sums.int("devices"), fetchedBytes: UInt64(sums.int64("fetched")), totalBytes: UInt64(sums.int64("total")))
            failureReasons = try db.rows("""
                SELECT reason, count FROM deployment_failures WHERE deployment_id = ? AND count > 0 ORDER BY count DESC, reason LIMIT 20
                """, [plan.id]).map { AdminAPI.FailureReason(reason: $0.string("reason"), count: $0.int("count")) }
            versions = try db.rows("""
                SELECT version, count FROM installed_counts WHERE bundle_name = ? AND count > 0 ORDER BY count DESC, version LIMIT 50
                """, [plan.bundleName]).map { AdminAPI.VersionCount(version: $0.string("version"), count: $0.int("count")) }
        }
        return AdminAPI.Deployment(
            id: plan.id, bundleName: plan.bundleName, version: row.string("version"), digest: row.string("digest"), target: plan.target,
            status: Self.displayStatus(plan, overall: overall), pausedReason: plan.pausedReason, currentPhase: plan.currentPhase,
            phases: phases, counts: overall, autoAdvance: plan.autoAdvance, soakSeconds: plan.soakSeconds, successRatio: plan.successRatio,
            failureThresholdCount: plan.failureThresholdCount, failureThresholdPercent: plan.failureThresholdPercent,
            failureMinFinished: plan.failureMinFinished, rateLimitPerMinute: plan.rateLimitPerMinute, createdAt: plan.createdAt,
            createdBy: plan.createdBy, failureReasons: failureReasons, versions: versions, transfer: transfer,
            shadow: plan.shadow, gates: plan.gates.isEmpty ? nil : plan.gates, gateMinDevices: plan.gates.isEmpty ? nil : plan.gateMinDevices,
            quality: quality)
    }

    /// `completed` is shown for an active deployment in its last phase with every reached
    /// device finished; it stays active underneath, so devices that join later still get it.
    static func displayStatus(_ plan: DeploymentPlan, overall: AdminAPI.StateCounts) -> AdminAPI.DeploymentStatus {
        if plan.status == .active, plan.isLastPhase, overall.total > 0, overall.finished == overall.total { return .completed }
        return plan.status
    }

    // MARK: Control

    enum Control: String, CaseIterable {
        case advance, pause, resume, cancel
    }

    /// Applies an operator's control. Returns the updated plan, or an error saying why not.
    func apply(_ control: Control, to id: String, reason: String?, by caller: AdminIdentity) async throws -> DeploymentPlan {
        let now = Timestamp.epochSeconds()
        return try await db.write { db in
            guard let row = try db.row("SELECT * FROM deployments WHERE id = ?", [id]) else {
                throw RegistryError.notFound("no deployment \(id)")
            }
            let plan = Self.plan(row)
            guard plan.status != .cancelled else { throw RegistryError.conflict("deployment \(id) is cancelled") }
            var detail = reason ?? ""
            switch control {
            case .advance:
                guard !plan.isLastPhase else { throw RegistryError.conflict("deployment \(id) is already in its last phase") }
                try db.execute("UPDATE deployments SET current_phase = current_phase + 1, phase_started_epoch = ?, soak_started_epoch = NULL WHERE id = ?",
                               [now, id])
                detail = "to phase \(plan.currentPhase + 2) (\(plan.phases[plan.currentPhase + 1].label))" + (reason.map { ": \($0)" } ?? "")
            case .pause:
                guard plan.status == .active else { throw RegistryError.conflict("deployment \(id) is not active") }
                try db.execute("UPDATE deployments SET status = 'paused', paused_reason = ? WHERE id = ?",
                               ["paused by \(caller.name)" + (reason.map { ": \($0)" } ?? ""), id])
            case .resume:
                guard plan.status == .paused else { throw RegistryError.conflict("deployment \(id) is not paused") }
                // The failures seen so far are accepted by resuming; thresholds count new ones.
                // So are the current phase's gate figures: they no longer hold it.
                let overall = try counts(db, deploymentID: id).values.reduce(AdminAPI.StateCounts(), +)
                try db.execute("""
                    UPDATE deployments SET status = 'active', paused_reason = NULL, failure_baseline = ?, finished_baseline = ?,
                        gates_waived_phase = CASE WHEN gates IS NULL THEN NULL ELSE current_phase END WHERE id = ?
                    """, [overall.unsuccessful, overall.finished, id])
            case .cancel:
                try db.execute("UPDATE deployments SET status = 'cancelled', finished_at = ? WHERE id = ?", [Timestamp.now(), id])
            }
            try AuditLog.record(db, by: caller, action: "deployment.\(control.rawValue)", target: id, detail: detail)
            return Self.plan(try db.row("SELECT * FROM deployments WHERE id = ?", [id])!)
        }
    }

    /// The current phase's gate checks, read outside any write (they decode every report of
    /// the phase): empty when the deployment has no gates that hold.
    func gateChecks(_ plan: DeploymentPlan) async throws -> [AdminAPI.GateCheck] {
        guard plan.gatesHold, plan.status == .active else { return [] }
        return try await db.read { db in
            guard let version = try db.value(String.self, "SELECT version FROM bundles WHERE id = ?", [plan.bundleID]) else { return [] }
            let counts = try self.counts(db, deploymentID: plan.id)[plan.currentPhase] ?? AdminAPI.StateCounts()
            return try QualityStore.phaseQuality(db, plan: plan, version: version, phase: plan.currentPhase, counts: counts)?.gates ?? []
        }
    }

    /// Evaluates the rollout policy for one deployment and applies its decision, recording
    /// automatic pauses and advances in the audit log. `gates`: the current phase's gate
    /// checks (`gateChecks`), for the phase `gatesPhase`. Returns the plan when it changed.
    func evaluate(id: String, gates: [AdminAPI.GateCheck] = [], gatesPhase: Int? = nil) async throws -> DeploymentPlan? {
        let now = Timestamp.epochSeconds()
        return try await db.write { db in
            guard let row = try db.row("SELECT * FROM deployments WHERE id = ?", [id]) else { return nil }
            let plan = Self.plan(row)
            let counts = try counts(db, deploymentID: id)
            // Checks made for another phase (it advanced meanwhile): the next evaluation decides.
            if plan.gatesHold && gatesPhase != plan.currentPhase { return nil }
            switch RolloutPolicy.decide(plan, counts: counts, now: now, gates: gates) {
            case .none:
                return nil
            case .startSoak:
                try db.execute("UPDATE deployments SET soak_started_epoch = ? WHERE id = ?", [now, id])
                return nil
            case .resetSoak:
                try db.execute("UPDATE deployments SET soak_started_epoch = NULL WHERE id = ?", [id])
                return nil
            case .pause(let reason):
                try db.execute("UPDATE deployments SET status = 'paused', paused_reason = ? WHERE id = ?",
                               ["paused automatically: \(reason)", id])
                try AuditLog.recordSystem(db, action: "deployment.pause", target: id, detail: "automatic: \(reason)")
            case .advance(let phase, let reason):
                try db.execute("UPDATE deployments SET current_phase = ?, phase_started_epoch = ?, soak_started_epoch = NULL WHERE id = ?",
                               [phase, now, id])
                try AuditLog.recordSystem(db, action: "deployment.advance", target: id, detail: "automatic: \(reason)")
            }
            return Self.plan(try db.row("SELECT * FROM deployments WHERE id = ?", [id])!)
        }
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
