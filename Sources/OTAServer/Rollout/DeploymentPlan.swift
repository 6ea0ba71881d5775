import Foundation
import OTACore

/// A deployment as the server reasons about it: which devices it targets, which phase each
/// device belongs to, and the rules that advance or pause it.
struct DeploymentPlan: Sendable {
    let id: DeploymentID
    let seq: Int64
    let bundleID: Int64
    let bundleName: BundleName
    let target: AdminAPI.Target
    let phases: [AdminAPI.Phase]
    var currentPhase: Int
    var phaseStartedEpoch: Int64
    var status: AdminAPI.DeploymentStatus
    var pausedReason: String?
    let autoAdvance: Bool
    let soakSeconds: Int
    let successRatio: Double
    let failureThresholdCount: Int?
    let failureThresholdPercent: Double?
    let failureMinFinished: Int
    let rateLimitPerMinute: Int?
    var soakStartedEpoch: Int64?
    var failureBaseline: Int
    var finishedBaseline: Int
    /// Keys the phase hash (nil for deployments made before it existed).
    let phaseSecret: [UInt8]?
    let createdAt: Timestamp
    let createdBy: String
    /// The shadow phase devices run before activation (model bundles), with `gates` in it.
    var shadow: ShadowPolicy? = nil
    /// Checked on each device in shadow, and on the current phase's medians before it advances.
    var gates: [QualityGate] = []
    var gateMinDevices = DeploymentPlan.defaultGateMinDevices
    /// The phase whose gates an operator set aside by resuming after they paused it.
    var gatesWaivedPhase: Int? = nil
    /// Only devices whose inventory meets this (nil: every targeted device).
    var inventoryFilter: InventoryCondition? = nil

    /// Whether the current phase's gates decide (they do unless an operator waived them).
    var gatesHold: Bool { !gates.isEmpty && gatesWaivedPhase != currentPhase }

    static let defaultGateMinDevices = 20

    var isLastPhase: Bool { currentPhase >= phases.count - 1 }

    /// Whether the deployment is meant for `device` at all (its target and inventory filter;
    /// hardware is checked against the bundle separately).
    func targets(_ device: DeviceIdentity) -> Bool {
        let targeted: Bool
        switch target {
        case .all: targeted = true
        case .tag(let tag): targeted = device.tags.contains(tag)
        case .group(let group): targeted = device.group == group
        case .devices(let devices): targeted = devices.contains(device.id)
        }
        // The cheap check first: this runs under the fleet cache's lock, for each live deployment.
        return targeted && (inventoryFilter?.isMet(by: device.inventory) ?? true)
    }

    /// The phase a targeted device belongs to: the first canary phase naming it, else the
    /// first percentage whose share holds its stable bucket. Never changes for a device.
    func phase(of device: DeviceIdentity) -> Int {
        let bucket = Self.bucket(deploymentID: id, deviceID: device.id, secret: phaseSecret)
        for (index, phase) in phases.enumerated() {
            switch phase {
            case .devices(let devices): if devices.contains(device.id) { return index }
            case .tag(let tag): if device.tags.contains(tag) { return index }
            case .group(let group): if device.group == group { return index }
            case .percent(let percent): if Double(bucket) < percent * 100 { return index }
            }
        }
        return phases.count - 1
    }

    /// 0..<10000 from a keyed hash of the device id: the same device always falls in the same
    /// share, different deployments pick different canaries, and without the deployment's
    /// server-side secret nobody can choose ids that land in the first phase.
    static func bucket(deploymentID: DeploymentID, deviceID: DeviceID, secret: [UInt8]?) -> Int {
        let message = Array("\(deploymentID)/\(deviceID)".utf8)
        let digest = secret.map { HMACSHA256.mac(key: $0, message: message) } ?? SHA256Digest.of(message).bytes
        let value = digest.prefix(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        return Int(value % 10_000)
    }
}

/// What a deployment should do next, decided from its counts alone (no I/O: easy to test).
enum RolloutDecision: Equatable {
    case none
    case pause(reason: String)
    case startSoak
    case resetSoak
    case advance(to: Int, reason: String)
}

enum RolloutPolicy {
    /// `gates`: the current phase's gate checks (empty when the deployment has none).
    static func decide(_ plan: DeploymentPlan, counts: [Int: AdminAPI.StateCounts], now: Int64,
                       gates: [AdminAPI.GateCheck] = []) -> RolloutDecision {
        guard plan.status == .active else { return .none }
        let gates = plan.gatesHold ? gates : []
        let failedGates = gates.filter { $0.verdict == .fail }
        if !failedGates.isEmpty {
            return .pause(reason: "quality gate failed in phase \(plan.currentPhase + 1) (\(plan.phases[plan.currentPhase].label)): \(failedGates.map(\.summary).joined(separator: "; "))")
        }
        let overall = counts.values.reduce(AdminAPI.StateCounts(), +)
        let failures = overall.unsuccessful - plan.failureBaseline
        let finished = overall.finished - plan.finishedBaseline
        if let limit = plan.failureThresholdCount, failures >= limit {
            return .pause(reason: "\(failures) device\(failures == 1 ? "" : "s") failed, reaching the threshold of \(limit)")
        }
        if let percent = plan.failureThresholdPercent, finished >= max(plan.failureMinFinished, 1) {
            let rate = Double(failures) * 100 / Double(finished)
            if rate > percent {
                return .pause(reason: "\(failures) of \(finished) finished devices failed (\(String(format: "%.1f", rate))% > \(String(format: "%g", percent))%)")
            }
        }
        guard plan.autoAdvance, !plan.isLastPhase else { return .none }
        let phase = counts[plan.currentPhase] ?? AdminAPI.StateCounts()
        let label = "phase \(plan.currentPhase + 1) (\(plan.phases[plan.currentPhase].label))"
        // How long a phase waits for the devices of its share before it is judged on those it has.
        let settled = now - plan.phaseStartedEpoch >= max(Int64(plan.soakSeconds), settleSeconds)
        if phase.total == 0 {
            // A share of a small fleet can hold no device at all. Devices of that share that
            // come later still join (they fall in an opened phase); waiting for them forever
            // would freeze the rollout without a word. Named canaries are waited for.
            guard case .percent = plan.phases[plan.currentPhase], settled else { return .none }
            return .advance(to: plan.currentPhase + 1, reason: "\(label) held no device after \(max(Int64(plan.soakSeconds), settleSeconds))s")
        }
        // Failures an operator accepted by resuming count neither for nor against the phase.
        let accepted = min(phase.unsuccessful, max(0, plan.failureBaseline - (overall.unsuccessful - phase.unsuccessful)))
        let judged = phase.total - accepted
        let ratio = judged == 0 ? 0 : Double(phase.succeeded) / Double(judged)
        // A phase whose figures are not in yet has not earned the next one; nor has one whose
        // every device failed and was accepted (nothing succeeded: an operator advances it).
        let reached = judged > 0 && ratio >= plan.successRatio && gates.allSatisfy { $0.verdict == .pass }
        guard reached else {
            // Every device of the phase has finished, too few failed to pass the threshold,
            // and too few succeeded to advance: nothing will change by itself. Say so.
            if judged > 0, ratio < plan.successRatio, phase.pending + phase.downloading + phase.installing == 0, settled {
                return .pause(reason: "\(label) ended with \(phase.succeeded) of \(judged) devices succeeded (\(String(format: "%.1f", ratio * 100))% < \(String(format: "%g", plan.successRatio * 100))%): resume to accept its failures, or cancel")
            }
            return plan.soakStartedEpoch == nil ? .none : .resetSoak
        }
        guard let soakStarted = plan.soakStartedEpoch else {
            return plan.soakSeconds == 0 ? advance(plan, ratio: ratio, gates: gates) : .startSoak
        }
        return now - soakStarted >= Int64(plan.soakSeconds) ? advance(plan, ratio: ratio, gates: gates) : .none
    }

    /// How long a phase waits for the devices of its share before it is judged on those it
    /// has (an empty one advances, one whose devices all finished below its success ratio
    /// pauses): at least one polling interval of a slow fleet, or the soak time if longer.
    static let settleSeconds: Int64 = 600

    private static func advance(_ plan: DeploymentPlan, ratio: Double, gates: [AdminAPI.GateCheck]) -> RolloutDecision {
        let next = plan.currentPhase + 1
        let figures = gates.isEmpty ? "" : "; gates passed: " + gates.map(\.summary).joined(separator: "; ")
        return .advance(to: next, reason: "phase \(plan.currentPhase + 1) (\(plan.phases[plan.currentPhase].label)) reached \(String(format: "%.1f", ratio * 100))% success; soaked \(plan.soakSeconds)s" + figures)
    }
}
