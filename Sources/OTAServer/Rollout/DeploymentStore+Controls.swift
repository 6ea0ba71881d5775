import OTACore

/// What changes a deployment after it was made: an operator's controls and the rollout
/// policy's own decisions, each written with its audit entry in one transaction.
extension DeploymentStore {
    /// Applies an operator's control. Returns the updated plan, or an error saying why not.
    func apply(_ control: DeploymentControl, to id: DeploymentID, reason: String?, by caller: AdminIdentity) async throws -> DeploymentPlan {
        let now = clock.now
        return try await db.write { db in
            guard let row = try await db.row("SELECT * FROM deployments WHERE id = \(id)") else {
                throw RegistryError.notFound("no deployment \(id)")
            }
            let plan = try Self.plan(row)
            guard plan.status != .cancelled else { throw RegistryError.conflict("deployment \(id) is cancelled") }
            var detail = reason ?? ""
            switch control {
            case .advance:
                guard !plan.isLastPhase else { throw RegistryError.conflict("deployment \(id) is already in its last phase") }
                try await db.execute("UPDATE deployments SET current_phase = current_phase + 1, phase_started_epoch = \(now.secondsSinceEpoch), soak_started_epoch = NULL WHERE id = \(id)")
                detail = "to phase \(plan.currentPhase + 2) (\(plan.phases[plan.currentPhase + 1].label))" + (reason.map { ": \($0)" } ?? "")
            case .pause:
                guard plan.status == .active else { throw RegistryError.conflict("deployment \(id) is not active") }
                try await db.execute("UPDATE deployments SET status = 'paused', paused_reason = \("paused by \(caller.name)" + (reason.map { ": \($0)" } ?? "")) WHERE id = \(id)")
            case .resume:
                guard plan.status == .paused else { throw RegistryError.conflict("deployment \(id) is not paused") }
                // The failures seen so far are accepted by resuming; thresholds count new ones.
                // So are the current phase's gate figures: they no longer hold it.
                let overall = try await counts(db, deploymentID: id).values.reduce(AdminAPI.StateCounts(), +)
                try await db.execute("""
                    UPDATE deployments SET status = 'active', paused_reason = NULL, failure_baseline = \(overall.unsuccessful), finished_baseline = \(overall.finished),
                        gates_waived_phase = CASE WHEN gates IS NULL THEN NULL ELSE current_phase END WHERE id = \(id)
                    """)
            case .cancel:
                try await db.execute("UPDATE deployments SET status = 'cancelled', finished_at = \(now) WHERE id = \(id)")
            }
            try await AuditLog.record(db, by: caller, action: AuditAction(control), target: id.rawValue, detail: detail)
            return try await Self.plan(try Self.row(db, id))
        }
    }

    /// The current phase's gate checks, read outside any write (they decode every report of
    /// the phase): empty when the deployment has no gates that hold.
    func gateChecks(_ plan: DeploymentPlan) async throws -> [AdminAPI.GateCheck] {
        guard plan.gatesHold, plan.status == .active else { return [] }
        return try await db.read { db in
            guard let version = try await db.value(String.self, "SELECT version FROM bundles WHERE id = \(plan.bundleID)") else { return [] }
            let counts = try await self.counts(db, deploymentID: plan.id)[plan.currentPhase] ?? AdminAPI.StateCounts()
            return try await QualityStore.phaseQuality(db, plan: plan, version: version, phase: plan.currentPhase, counts: counts)?.gates ?? []
        }
    }

    /// Evaluates the rollout policy for one deployment and applies its decision, recording
    /// automatic pauses and advances in the audit log. `gates`: the current phase's gate
    /// checks (`gateChecks`), for the phase `gatesPhase`. Returns the plan when it changed.
    func evaluate(id: DeploymentID, gates: [AdminAPI.GateCheck] = [], gatesPhase: Int? = nil, now: Timestamp) async throws -> DeploymentPlan? {
        try await db.write { db in
            guard let row = try await db.row("SELECT * FROM deployments WHERE id = \(id)") else { return nil }
            let plan = try Self.plan(row)
            let counts = try await counts(db, deploymentID: id)
            // Checks made for another phase (it advanced meanwhile): the next evaluation decides.
            if plan.gatesHold && gatesPhase != plan.currentPhase { return nil }
            switch RolloutPolicy.decide(plan, counts: counts, now: now.secondsSinceEpoch, gates: gates) {
            case .none:
                return nil
            case .startSoak:
                try await db.execute("UPDATE deployments SET soak_started_epoch = \(now.secondsSinceEpoch) WHERE id = \(id)")
                return nil
            case .resetSoak:
                try await db.execute("UPDATE deployments SET soak_started_epoch = NULL WHERE id = \(id)")
                return nil
            case .pause(let reason):
                try await db.execute("UPDATE deployments SET status = 'paused', paused_reason = \("paused automatically: \(reason)") WHERE id = \(id)")
                try await AuditLog.recordSystem(db, action: .deploymentPause, target: id.rawValue, detail: "automatic: \(reason)")
            case .advance(let phase, let reason):
                try await db.execute("UPDATE deployments SET current_phase = \(phase), phase_started_epoch = \(now.secondsSinceEpoch), soak_started_epoch = NULL WHERE id = \(id)")
                try await AuditLog.recordSystem(db, action: .deploymentAdvance, target: id.rawValue, detail: "automatic: \(reason)")
            }
            return try await Self.plan(try Self.row(db, id))
        }
    }
}
