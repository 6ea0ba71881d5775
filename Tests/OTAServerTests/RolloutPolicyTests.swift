import OTACore
@testable import OTAServer
import Testing

/// The rollout rules on their own: phase membership and the advance/pause decisions.
@Suite("Rollout policy")
struct RolloutPolicyTests {
    func plan(phases: [AdminAPI.Phase], current: Int = 0, autoAdvance: Bool = true, soak: Int = 60, ratio: Double = 0.95,
              thresholdCount: Int? = nil, thresholdPercent: Double? = nil, minFinished: Int = 10, soakStarted: Int64? = nil,
              baseline: (Int, Int) = (0, 0), phaseStarted: Int64 = 0) -> DeploymentPlan {
        DeploymentPlan(id: "dep_test", seq: 1, bundleID: 1, bundleName: "m", target: .everyCompatibleDevice, phases: phases,
                       currentPhase: current, phaseStartedEpoch: phaseStarted, status: .active, pausedReason: nil, autoAdvance: autoAdvance,
                       soakSeconds: soak, successRatio: ratio, failureThresholdCount: thresholdCount,
                       failureThresholdPercent: thresholdPercent, failureMinFinished: minFinished, rateLimitPerMinute: nil,
                       soakStartedEpoch: soakStarted, failureBaseline: baseline.0, finishedBaseline: baseline.1,
                       phaseSecret: nil, createdAt: .earliest, createdBy: "")
    }

    func counts(succeeded: Int = 0, failed: Int = 0, pending: Int = 0, installing: Int = 0) -> AdminAPI.StateCounts {
        var counts = AdminAPI.StateCounts()
        counts.succeeded = succeeded
        counts.installing = installing
        counts.failed = failed
        counts.pending = pending
        return counts
    }

    let staged = [AdminAPI.Phase.percent(1), .percent(10), .percent(50), .percent(100)]

    @Test("Percentage phases hold about their share, and a device's phase never changes")
    func stableShares() throws {
        let plan = plan(phases: staged)
        var perPhase = [0, 0, 0, 0]
        for index in 0..<20_000 {
            let device = DeviceIdentity(id: try DeviceID("dev-\(index)"), hardware: "hw", tags: [], group: nil)
            let phase = plan.phase(of: device)
            perPhase[phase] += 1
            #expect(plan.phase(of: device) == phase)
        }
        #expect((150...250).contains(perPhase[0]), "1%: \(perPhase[0])")
        #expect((1_600...2_000).contains(perPhase[0] + perPhase[1]), "10%: \(perPhase[0] + perPhase[1])")
        #expect((9_600...10_400).contains(perPhase[0] + perPhase[1] + perPhase[2]))
    }

    @Test("Canary phases take the devices they name first")
    func canaries() {
        let plan = plan(phases: [.devices(["cam-7"]), .tag("lab"), .percent(100)])
        #expect(plan.phase(of: DeviceIdentity(id: "cam-7", hardware: "hw", tags: ["lab"], group: nil)) == 0)
        #expect(plan.phase(of: DeviceIdentity(id: "cam-8", hardware: "hw", tags: ["lab"], group: nil)) == 1)
        #expect(plan.phase(of: DeviceIdentity(id: "cam-9", hardware: "hw", tags: [], group: nil)) == 2)
    }

    @Test("Phase lists are checked where a deployment request is decoded", arguments: [
        (#"[{"percent":10}]"#, "the last phase must be 100%"),
        (#"[{"percent":50},{"percent":10},{"percent":100}]"#, "percentages must rise"),
        (#"[{"percent":10},{"tag":"lab"},{"percent":100}]"#, "canary phases"),
        (#"[{"percent":10,"tag":"x"},{"percent":100}]"#, "exactly one of"),
        (#"[{"percent":0},{"percent":100}]"#, "above 0"),
        (#"[{"devices":[]},{"percent":100}]"#, "1 to 10000"),
    ])
    func validation(phases: String, message: String) {
        let body = #"{"bundle_name":"m","version":"1.0.0","target":{"all":true},"phases":\#(phases)}"#
        do {
            _ = try StrictJSON.decodeRejectingUnknownFields(AdminAPI.DeploymentCreateRequest.self, from: Array(body.utf8), what: "deployment")
            Issue.record("\(phases) was accepted")
        } catch {
            #expect(String(describing: error).contains(message), "\(error)")
        }
    }

    @Test("Failures past a percentage pause the rollout once enough devices finished")
    func pausesOnFailureRate() {
        let p = plan(phases: staged, thresholdPercent: 5, minFinished: 10)
        #expect(RolloutPolicy.decide(p, counts: [0: counts(succeeded: 8, failed: 1)], now: 0) == .none)
        guard case .pause(let reason) = RolloutPolicy.decide(p, counts: [0: counts(succeeded: 9, failed: 1)], now: 0) else {
            Issue.record("expected a pause")
            return
        }
        #expect(reason == "1 of 10 finished devices failed (10.0% > 5%)")
        // After a resume, only new failures count: the accepted one neither pauses the phase
        // nor holds it below its success ratio.
        let resumed = plan(phases: staged, thresholdPercent: 5, minFinished: 10, baseline: (1, 10))
        #expect(RolloutPolicy.decide(resumed, counts: [0: counts(succeeded: 9, failed: 1)], now: 0) == .startSoak)
        #expect(RolloutPolicy.decide(resumed, counts: [0: counts(succeeded: 9, failed: 2)], now: 0) == .none)
    }

    @Test("A failure count threshold pauses as soon as it is reached")
    func pausesOnCount() {
        let p = plan(phases: staged, thresholdCount: 3)
        #expect(RolloutPolicy.decide(p, counts: [0: counts(failed: 2)], now: 0) == .none)
        #expect(RolloutPolicy.decide(p, counts: [0: counts(failed: 3)], now: 0) == .pause(reason: "3 devices failed, reaching the threshold of 3"))
    }

    @Test("A phase advances only after it reached its success ratio and soaked")
    func advancesAfterSoak() {
        let reached = [0: counts(succeeded: 19, pending: 1)]
        #expect(RolloutPolicy.decide(plan(phases: staged), counts: [0: counts(succeeded: 18, pending: 2)], now: 100) == .none)
        #expect(RolloutPolicy.decide(plan(phases: staged), counts: reached, now: 100) == .startSoak)
        #expect(RolloutPolicy.decide(plan(phases: staged, soakStarted: 100), counts: reached, now: 159) == .none)
        guard case .advance(let phase, _) = RolloutPolicy.decide(plan(phases: staged, soakStarted: 100), counts: reached, now: 160) else {
            Issue.record("expected an advance")
            return
        }
        #expect(phase == 1)
        // Success that drops below the ratio during the soak restarts it.
        #expect(RolloutPolicy.decide(plan(phases: staged, soakStarted: 100), counts: [0: counts(succeeded: 10, pending: 10)], now: 150) == .resetSoak)
        // Downloads and installs do not count as success; neither does a manual rollout.
        #expect(RolloutPolicy.decide(plan(phases: staged, autoAdvance: false), counts: reached, now: 1000) == .none)
        #expect(RolloutPolicy.decide(plan(phases: staged, current: 3), counts: [3: counts(succeeded: 5)], now: 1000) == .none)
    }

    @Test("A phase whose devices all finished below the success ratio, too few to pass the threshold, pauses once it has settled")
    func finishedBelowRatioPauses() {
        // Four devices of a 1% phase, one failed: 25% is not judged before ten finished, and
        // 75% success can never reach 95%. Without a decision the rollout would wait forever.
        let settle = RolloutPolicy.settleSeconds
        let p = plan(phases: staged, thresholdPercent: 10, minFinished: 10, phaseStarted: 1000)
        let ended = [0: counts(succeeded: 3, failed: 1)]
        #expect(RolloutPolicy.decide(p, counts: ended, now: 1000 + settle - 1) == .none, "devices of the share may still come")
        #expect(RolloutPolicy.decide(p, counts: [0: counts(succeeded: 3, failed: 1, installing: 1)], now: 5000) == .none, "one is still installing")
        #expect(RolloutPolicy.decide(p, counts: ended, now: 1000 + settle)
                == .pause(reason: "phase 1 (1%) ended with 3 of 4 devices succeeded (75.0% < 95%): resume to accept its failures, or cancel"))
        // Resuming accepts the failure: the phase advances on its successes.
        let resumed = plan(phases: staged, thresholdPercent: 10, minFinished: 10, baseline: (1, 4), phaseStarted: 1000)
        #expect(RolloutPolicy.decide(resumed, counts: ended, now: 1000 + settle) == .startSoak)
        // A phase whose every device failed, all accepted, neither advances nor pauses again.
        let allAccepted = plan(phases: staged, thresholdPercent: 10, minFinished: 10, baseline: (4, 4), phaseStarted: 1000)
        #expect(RolloutPolicy.decide(allAccepted, counts: [0: counts(failed: 4)], now: 1000 + settle) == .none)
        // Failures of earlier phases that were accepted do not excuse this phase's own.
        let later = plan(phases: staged, current: 1, thresholdPercent: 10, minFinished: 10, baseline: (1, 4), phaseStarted: 1000)
        guard case .pause = RolloutPolicy.decide(later, counts: [0: counts(succeeded: 3, failed: 1), 1: counts(succeeded: 8, failed: 1)], now: 1000 + settle) else {
            Issue.record("a new failure in the next phase must be judged")
            return
        }
    }

    @Test("A percentage phase that holds no device of a small fleet advances after a wait; a canary phase waits for its devices")
    func emptyPhaseAdvances() {
        let wait = RolloutPolicy.settleSeconds
        let p = plan(phases: staged, soak: 60, phaseStarted: 1000)
        #expect(RolloutPolicy.decide(p, counts: [:], now: 1000 + wait - 1) == .none)
        #expect(RolloutPolicy.decide(p, counts: [:], now: 1000 + wait) == .advance(to: 1, reason: "phase 1 (1%) held no device after \(wait)s"))
        let long = plan(phases: staged, soak: 7200, phaseStarted: 1000)
        #expect(RolloutPolicy.decide(long, counts: [:], now: 1000 + wait) == .none, "a soak longer than the wait is waited")
        let canary = plan(phases: [.devices(["cam-7"]), .percent(100)], phaseStarted: 1000)
        #expect(RolloutPolicy.decide(canary, counts: [:], now: 1_000_000) == .none)
        #expect(RolloutPolicy.decide(plan(phases: staged, autoAdvance: false, phaseStarted: 1000), counts: [:], now: 1_000_000) == .none)
    }

    @Test("Phase buckets are keyed by the deployment's secret: without it, nobody can tell which ids land in the first phase")
    func bucketsAreKeyed() {
        let ids = (0..<2000).map { DeviceID(checked: "device-\($0)") }
        let secretA = SecureRandom.bytes(32), secretB = SecureRandom.bytes(32)
        let canariesA = Set(ids.filter { DeploymentPlan.bucket(deploymentID: "dep_1", deviceID: $0, secret: secretA) < 100 })
        let canariesB = Set(ids.filter { DeploymentPlan.bucket(deploymentID: "dep_1", deviceID: $0, secret: secretB) < 100 })
        let unkeyed = Set(ids.filter { DeploymentPlan.bucket(deploymentID: "dep_1", deviceID: $0, secret: nil) < 100 })
        #expect(!canariesA.isEmpty && canariesA != canariesB && canariesA != unkeyed)
        #expect(ids.map { DeploymentPlan.bucket(deploymentID: "dep_1", deviceID: $0, secret: secretA) } ==
                ids.map { DeploymentPlan.bucket(deploymentID: "dep_1", deviceID: $0, secret: secretA) }, "stable for a device")
    }

    @Test("A phase gate that fails pauses with the figures; one still waiting for devices holds the advance")
    func gatesDecide() throws {
        let gate = try QualityGate(parsing: "agreement>=0.97")
        let reached = [0: counts(succeeded: 20)]
        var gated = plan(phases: staged, soak: 0)
        gated.gates = [gate]
        let failing = QualitySummary.check(gate, values: [0.5, 0.6], needed: 2)
        guard case .pause(let reason) = RolloutPolicy.decide(gated, counts: reached, now: 0, gates: [failing]) else {
            Issue.record("a failing gate must pause")
            return
        }
        #expect(reason == "quality gate failed in phase 1 (1%): median agreement 0.55 < 0.97 over 2 devices")
        let waiting = QualitySummary.check(gate, values: [0.99], needed: 2)
        #expect(waiting.verdict == .waiting)
        #expect(RolloutPolicy.decide(gated, counts: reached, now: 0, gates: [waiting]) == .none)
        let passing = QualitySummary.check(gate, values: [0.99, 0.98], needed: 2)
        guard case .advance(1, let why) = RolloutPolicy.decide(gated, counts: reached, now: 0, gates: [passing]) else {
            Issue.record("passing gates must let the phase advance")
            return
        }
        #expect(why.hasSuffix("gates passed: median agreement 0.985 >= 0.97 over 2 devices"))
        gated.gatesWaivedPhase = 0
        #expect(RolloutPolicy.decide(gated, counts: reached, now: 0, gates: [failing]) != .pause(reason: reason),
                "gates an operator waived by resuming no longer pause the phase")
    }

    @Test("A phase's shadow figures: the candidate against the live model beside it, per metric")
    func shadowSummary() throws {
        let live = ModelFigures(latencyP50Ms: 1, latencyP95Ms: 2)
        let outcomes = [0.9, 0.95].map { agreement in
            DeviceAPI.ShadowOutcome(passed: agreement > 0.92, report: ShadowReport(shadowID: "s", samples: 10, agreement: agreement, live: live,
                                                                                   candidate: ModelFigures(latencyP50Ms: 2, latencyP95Ms: 4)), gates: [])
        } + [DeviceAPI.ShadowOutcome(passed: false, report: nil, gates: [])]
        let quality = QualitySummary.shadow(phase: 0, outcomes: outcomes, gates: [try QualityGate(parsing: "latency_p95<=1.5x")], needed: 2)
        #expect(quality.devices == 3 && quality.passedInShadow == 1)
        let p95 = try #require(quality.metrics.first { $0.metric == "latency_p95" })
        #expect(p95.candidate?.median == 4 && p95.baseline?.median == 2)
        #expect(quality.gates.first?.verdict == .fail && quality.gates.first?.median == 2)
    }
}
