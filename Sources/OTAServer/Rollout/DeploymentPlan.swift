import Foundation
import OTACore

/// A deployment as the server reasons about it: which devices it targets, which phase each
/// device belongs to, and the rules that advance or pause it.
struct DeploymentPlan: Sendable {
    let id: String
    let seq: Int64
    let bundleID: Int64
    let bundleName: String
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
    let createdAt: String
    let createdBy: String
    /// The shadow phase devices run before activation (model bundles), with `gates` in it.
    var shadow: ShadowPolicy? = nil
    /// Checked on each device in shadow, and on the current phase's medians before it advances.
    var gates: [QualityGate] = []
    var gateMinDevices = DeploymentPlan.defaultGateMinDevices
    /// The phase whose gates an operator set aside by resuming after they paused it.
    var gatesWaivedPhase: Int? = nil

    /// Whether the current phase's gates decide (they do unless an operator waived them).
    var gatesHold: Bool { !gates.isEmpty && gatesWaivedPhase != currentPhase }

    static let defaultGateMinDevices = 20

    var isLastPhase: Bool { currentPhase >= phases.count - 1 }

    /// Whether the deployment is meant for `device` at all (its target; hardware is checked
    /// against the bundle separately).
    func targets(_ device: DeviceIdentity) -> Bool {
        if target.all == true { return true }
        if let tag = target.tag { return device.tags.contains(tag) }
        if let group = target.group { return device.group == group }
        if let devices = target.devices { return devices.contains(device.id) }
        return false
    }

    /// The phase a targeted device belongs to: the first canary phase naming it, else the
    /// first percentage whose share holds its stable bucket. Never changes for a device.
    func phase(of device: DeviceIdentity) -> Int {
        let bucket = Self.bucket(deploymentID: id, deviceID: device.id, secret: phaseSecret)
        for (index, phase) in phases.enumerated() {
            if let devices = phase.devices, devices.contains(device.id) { return index }
            if let tag = phase.tag, device.tags.contains(tag) { return index }
            if let group = phase.group, device.group == group { return index }
            if let percent = phase.percent, Double(bucket) < percent * 100 { return index }
        }
        return phases.count - 1
    }

    /// 0..<10000 from a keyed hash of the device id: the same device always falls in the same
    /// share, different deployments pick different canaries, and without the deployment's
    /// server-side secret nobody can choose ids that land in the first phase.
    static func bucket(deploymentID: String, deviceID: String, secret: [UInt8]?) -> Int {
        let message = Array("\(deploymentID)/\(deviceID)".utf8)
        let digest = secret.map { HMACSHA256.mac(key: $0, message: message) } ?? SHA256Digest.of(message).bytes
        let value = digest.prefix(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        return Int(value % 10_000)
    }

    /// Checks the phases a create request gives: canaries first, percentages rising to 100.
    static func validate(_ phases: [AdminAPI.Phase]) -> String? {
        guard !phases.isEmpty else { return "phases is empty" }
        guard phases.count <= 20 else { return "at most 20 phases" }
        var lastPercent = 0.0
        var sawPercent = false
        for (index, phase) in phases.enumerated() {
            let kinds = [phase.percent != nil, phase.devices != nil, phase.tag != nil, phase.group != nil].filter { $0 }.count
            guard kinds == 1 else { return "phase \(index + 1) needs exactly one of percent, devices, tag or group" }
            if let percent = phase.percent {
                guard percent > 0, percent <= 100, percent.isFinite else { return "phase \(index + 1): percent must be above 0 and at most 100" }
                guard percent > lastPercent else { return "phase \(index + 1): percentages must rise (\(percent) after \(lastPercent))" }
                lastPercent = percent
                sawPercent = true
            } else {
                guard !sawPercent else { return "phase \(index + 1): canary phases (devices, tag, group) come before percentages" }
                if let devices = phase.devices {
                    guard !devices.isEmpty, devices.count <= 10_000 else { return "phase \(index + 1): devices must list 1 to 10000 ids" }
                    for id in devices { if let problem = SafeName.problem(with: id, what: "device id") { return problem } }
                }
                if let tag = phase.tag, let problem = SafeName.problem(with: tag, what: "tag") { return problem }
                if let group = phase.group, let problem = SafeName.problem(with: group, what: "group") { return problem }
            }
        }
        guard phases.last?.percent == 100 else { return "the last phase must be 100% so that the whole target is reached" }
        return nil
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
        let ratio = phase.total == 0 ? 0 : Double(phase.succeeded) / Double(phase.total)
        // A phase whose figures are not in yet has not earned the next one.
        let reached = phase.total > 0 && ratio >= plan.successRatio && gates.allSatisfy { $0.verdict == .pass }
        guard reached else { return plan.soakStartedEpoch == nil ? .none : .resetSoak }
        guard let soakStarted = plan.soakStartedEpoch else {
            return plan.soakSeconds == 0 ? advance(plan, ratio: ratio, gates: gates) : .startSoak
        }
        return now - soakStarted >= Int64(plan.soakSeconds) ? advance(plan, ratio: ratio, gates: gates) : .none
    }

    private static func advance(_ plan: DeploymentPlan, ratio: Double, gates: [AdminAPI.GateCheck]) -> RolloutDecision {
        let next = plan.currentPhase + 1
        let figures = gates.isEmpty ? "" : "; gates passed: " + gates.map(\.summary).joined(separator: "; ")
        return .advance(to: next, reason: "phase \(plan.currentPhase + 1) (\(plan.phases[plan.currentPhase].label)) reached \(String(format: "%.1f", ratio * 100))% success; soaked \(plan.soakSeconds)s" + figures)
    }
}
