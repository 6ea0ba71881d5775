import Logging
import OTACore

/// Live deployments in the cache, and the rollout policy applied to them: loading and
/// reloading a deployment, recording what devices report, evaluating gates and thresholds,
/// and the periodic soak-timer tick the leading instance runs.
struct RolloutService: Sendable {
    let cache: FleetCache
    let deployments: DeploymentStore
    let bundles: BundleStore
    let events: EventStore
    let metrics: ServerMetrics
    let logger: Logger
    let clock: any DomainClock

    /// A deployment as check-ins need it, with its assignment encoded once.
    func makeLive(_ plan: DeploymentPlan) async throws -> FleetCache.Live {
        guard let (_, bundle) = try await bundles.find(id: plan.bundleID), let envelope = try await bundles.envelope(id: plan.bundleID) else {
            throw RegistryError.corrupt("deployment \(plan.id) names a missing bundle")
        }
        let assignment = DeviceAPI.Assignment(deploymentID: plan.id, name: bundle.name, version: bundle.version, digest: bundle.digest,
                                              envelope: envelope, shadow: plan.shadow)
        return FleetCache.Live(plan: plan, version: bundle.version, digest: bundle.digest, kind: bundle.kind, compatible: Set(bundle.compatible),
                               variants: bundle.variants.map { $0.map(\.requires) },
                               contentDigests: Set((bundle.files ?? []).map(\.sha256)), assignmentJSON: try CheckinAnswerWriter.encode(assignment))
    }

    /// Re-reads one deployment after a change (create, control, policy decision), here or on
    /// another instance.
    func reload(_ id: DeploymentID) async throws {
        guard let plan = try await deployments.plan(id: id) else {
            cache.state.withLock { $0.live.removeAll { $0.plan.id == id } }
            return
        }
        // A control or a decision may change what the gates decide (a phase, a waiver).
        let known = cache.state.withLock { state in
            state.gateChecks.removeValue(forKey: id)
            return state.liveIndex(id) != nil
        }
        let isLive = plan.status.isLive
        let fresh = isLive && !known ? try await makeLive(plan) : nil
        cache.state.withLock { state in
            if let index = state.liveIndex(id) {
                if isLive { state.live[index].plan = plan } else { state.live.remove(at: index) }
            } else if var fresh {
                fresh.members = [:]
                state.live.append(fresh)
                state.live.sort { $0.plan.seq > $1.plan.seq }
            }
        }
    }

    /// Stores what a device reported and moves its memberships; evaluates the deployments
    /// whose counts or figures changed. Returns the memberships that moved.
    @discardableResult
    func record(_ reported: [DeviceAPI.Event], from device: DeviceIdentity) async throws -> [(deploymentID: DeploymentID, state: AdminAPI.MembershipState)] {
        let memberOf: Set<DeploymentID> = cache.state.withLock { state in
            Set(state.live.filter { $0.members[device.id] != nil }.map(\.plan.id))
        }
        let changed = try await events.record(reported, from: device, at: clock.now)
        for event in reported { metrics.event(event.state) }
        cache.state.withLock { state in
            for (deploymentID, newState) in changed {
                guard let index = state.liveIndex(deploymentID) else { continue }
                state.live[index].members[device.id]?.state = newState
            }
        }
        // A shadow verdict moves no count, but the phase's gates may decide on it.
        let judged = reported.filter { $0.shadow != nil }.compactMap(\.deploymentID).filter(memberOf.contains)
        for deploymentID in Set(judged) { qualityChanged(deploymentID) }
        for deploymentID in Set(changed.map(\.deploymentID) + judged) { try await evaluate(deploymentID) }
        return changed
    }

    /// New figures for a deployment: its gates are checked again at the next evaluation.
    func qualityChanged(_ deploymentID: DeploymentID) {
        _ = cache.state.withLock { $0.gateChecks.removeValue(forKey: deploymentID) }
    }

    /// Applies the rollout policy to one deployment and refreshes it in the cache if it changed.
    func evaluate(_ deploymentID: DeploymentID) async throws {
        var gates: [AdminAPI.GateCheck] = []
        var gatesPhase: Int?
        if let plan = cache.state.withLock({ $0.live.first { $0.plan.id == deploymentID }?.plan }), plan.gatesHold, plan.status == .active {
            if let cached = cache.state.withLock({ $0.gateChecks[deploymentID] }), cached.phase == plan.currentPhase {
                gates = cached.checks
            } else {
                gates = try await deployments.gateChecks(plan)
                cache.state.withLock { $0.gateChecks[deploymentID] = (plan.currentPhase, gates) }
            }
            gatesPhase = plan.currentPhase
        }
        if let plan = try await deployments.evaluate(id: deploymentID, gates: gates, gatesPhase: gatesPhase, now: clock.now) {
            logger.info("deployment \(deploymentID) is now \(plan.status), phase \(plan.currentPhase + 1) of \(plan.phases.count)",
                        metadata: plan.pausedReason.map { ["reason": "\($0)"] } ?? [:])
            try await reload(deploymentID)
        }
    }

    /// Periodic work: soak timers and automatic advances of every active deployment.
    func tick() async {
        let ids = cache.state.withLock { $0.live.filter { $0.plan.status == .active && ($0.plan.autoAdvance || $0.plan.gatesHold) }.map(\.plan.id) }
        for id in ids {
            do { try await evaluate(id) } catch { logger.error("rollout evaluation of \(id) failed: \(error)") }
        }
    }
}
