import Foundation
import OTAClient
import OTACore
import TestSupport
import Testing

/// Staged rollouts against a real server, with a fleet of simulated devices.
@Suite("Staged rollouts", .tags(.database))
struct RolloutTests {
    func simulate(_ server: TestServer, devices: Int, failureRate: Double, prefix: String = "sim") throws -> ProcessResult {
        let enrollment = try server.admin(.operator).createEnrollmentToken(.init(maxUses: devices, autoAccept: true)).token!
        // Ten quiet rounds a second apart outlast a soak (2 to 3 s) and the policy's tick several
        // times over; quicker rounds only spent CPU that the suites running beside need.
        let result = try run(Binaries.path("ota-fleet-sim"), [
            "--server", server.url, "--enrollment-token", enrollment, "--devices", String(devices), "--prefix", prefix,
            "--hardware", "test-hw", "--failure-rate", String(failureRate), "--until-quiet", "10", "--interval", "1", "--timeout", "240",
        ])
        #expect(result.status == 0, "\(result)")
        return result
    }

    // 20% rather than 10%: phases are drawn by a keyed hash, and a phase drawn from a
    // 10%-failing fleet can hold few enough failures to stay at or under 5%, a healthy phase by
    // this policy. With one finished device enough to judge, the threshold (not a small first
    // phase ending below its success ratio) pauses. 200 devices and a first phase of 5%: about
    // ten devices, empty one run in 28,000 (0.95^200; an empty share waits the 600 s settle
    // time). It holds no failing device about one run in nine (0.8^10), and then the second
    // phase opens; the first two hold about 50 devices (25%), none failing one run in 70,000,
    // and 75 is four deviations above. (Each device checks in every round: the fleet's size is
    // the suite's CPU.)
    // The two fleet simulations run on SQLite only: on PostgreSQL, ClusterEndToEndTests runs the
    // same two (a rollout to completion, a failing one that pauses) through three instances.
    @Test("With 20% of devices failing and a 5% threshold, the rollout pauses in its first phases and never reaches the rest",
          .enabled(if: TestServer.postgres == nil, "on PostgreSQL, ClusterEndToEndTests runs it through three instances"))
    func failingRolloutPauses() throws {
        let server = try TestServer()
        try server.publish(name: "m", version: "2.0.0", files: ["w": [1]])
        let created = try server.admin(.operator).createDeployment(.init(
            bundleName: "m", version: "2.0.0", target: .everyCompatibleDevice,
            phases: [.percent(5), .percent(25), .percent(50), .percent(100)],
            autoAdvance: true, soakSeconds: 3, successRatio: 0.95, failureThresholdPercent: 5, failureMinFinished: 1))
        _ = try simulate(server, devices: 200, failureRate: 0.2)
        let status = try server.admin().deployment(created.id)
        #expect(status.status == .paused)
        #expect(status.pausedReason?.hasPrefix("paused automatically:") == true)
        #expect(status.pausedReason?.contains("> 5%") == true)
        #expect(status.currentPhase <= 1)
        #expect(status.counts.total <= 75, "reached \(status.counts.total) devices")
        #expect(status.counts.rolledBack > 0)
        #expect(status.failureReasons?.first?.reason == "health check failed: exit 1: simulated accuracy 0.1 is below 0.9")
        #expect(status.counts.byState == (try server.recountFromEvents(created.id.rawValue)))
        let audit = try server.admin().audit(limit: 1000).entries
        #expect(audit.contains { $0.action.rawValue == "deployment.pause" && $0.actor == "ota-server" && $0.target == created.id.rawValue })
    }

    // A first phase of 10%, not 1%: the phase of a device is a keyed hash, and a 1% share of 400
    // devices was empty about one run in 55 (0.99^400). An empty share waits the settle time
    // (600 s) before it advances, far past the simulator's quiet rounds. 10% of 200 devices is
    // empty about once in 10^9 runs (0.9^200).
    @Test("With no failures the rollout advances through every phase by itself and completes",
          .enabled(if: TestServer.postgres == nil, "on PostgreSQL, ClusterEndToEndTests runs it through three instances"))
    func healthyRolloutCompletes() throws {
        let server = try TestServer()
        try server.publish(name: "m", version: "2.0.0", files: ["w": [1]])
        let created = try server.admin(.operator).createDeployment(.init(
            bundleName: "m", version: "2.0.0", target: .everyCompatibleDevice,
            phases: [.percent(10), .percent(25), .percent(50), .percent(100)],
            autoAdvance: true, soakSeconds: 2, successRatio: 0.95, failureThresholdPercent: 5))
        _ = try simulate(server, devices: 200, failureRate: 0)
        let status = try server.admin().deployment(created.id)
        #expect(status.status == .completed)
        #expect(status.currentPhase == 3)
        #expect(status.counts.succeeded == 200)
        #expect(status.phases.map(\.counts.total).reduce(0, +) == 200)
        #expect(status.versions == [.init(version: "2.0.0", count: 200)])
        #expect(status.counts.byState == (try server.recountFromEvents(created.id.rawValue)))
        let advances = try server.admin().audit(limit: 1000).entries.filter { $0.action.rawValue == "deployment.advance" && $0.target == created.id.rawValue }
        #expect(advances.count == 3)
    }

    @Test("Manual control: advance, pause (no new device), resume, cancel; each in the audit log")
    func manualControl() throws {
        let server = try TestServer()
        try server.publish(name: "m", version: "1.0.0", files: ["w": [1]])
        let enrollment = try server.enrollmentToken()
        let devices = try (0..<40).map { try server.registerDevice("d\($0)", enrollment: enrollment) }
        let flags = ["--server", server.url, "--token", server.tokens[.operator]!]
        let created = try otactl(["deployments", "create", "m", "1.0.0", "--all", "--phases", "25%,100%", "--json"] + flags)
        #expect(created.status == 0, "\(created)")
        let id = try #require((try JSONSerialization.jsonObject(with: Data(created.stdout.utf8)) as? [String: Any])?["id"] as? String)
        func assignedCount() throws -> Int { try devices.filter { !(try $0.checkin(.init(installed: [])).assignments.isEmpty) }.count }
        let firstPhase = try assignedCount()
        #expect(firstPhase > 0 && firstPhase < 40)
        #expect(try otactl(["deployments", "pause", id, "--reason", "looking at logs"] + flags).status == 0)
        let late = try server.registerDevice("late", enrollment: enrollment)
        #expect(try late.checkin(.init(installed: [])).assignments.isEmpty)
        #expect(try otactl(["deployments", "resume", id] + flags).status == 0)
        #expect(try otactl(["deployments", "advance", id] + flags).status == 0)
        #expect(try assignedCount() == 40)
        #expect(try otactl(["deployments", "cancel", id] + flags).status == 0)
        #expect(try late.checkin(.init(installed: [])).assignments.isEmpty)
        let show = try otactl(["deployments", "show", id] + flags)
        #expect(show.stdout.contains("status: cancelled, phase 2 of 2"))
        let actions = try server.admin().audit().entries.filter { $0.target == id }.map(\.action)
        #expect(actions.reversed().map(\.rawValue) == ["deployment.create", "deployment.pause", "deployment.resume", "deployment.advance", "deployment.cancel"])
        let again = try otactl(["deployments", "resume", id] + flags)
        #expect(again.status == 4 && again.stderr.contains("is cancelled"))
    }

    @Test("The rate limit admits at most N new devices a minute")
    func rateLimit() throws {
        let server = try TestServer()
        try server.publish(name: "m", version: "1.0.0", files: ["w": [1]])
        _ = try server.admin(.operator).createDeployment(.init(bundleName: "m", version: "1.0.0", target: .everyCompatibleDevice, rateLimitPerMinute: 5))
        let enrollment = try server.enrollmentToken()
        let devices = try (0..<20).map { try server.registerDevice("d\($0)", enrollment: enrollment) }
        let assigned = try devices.filter { !(try $0.checkin(.init(installed: [])).assignments.isEmpty) }
        #expect(assigned.count == 5)
        // Admitted devices keep their assignment on later check-ins.
        #expect(try assigned.allSatisfy { !(try $0.checkin(.init(installed: [])).assignments.isEmpty) })
    }

    @Test("A newer deployment of the same bundle supersedes the older for devices that have not started it")
    func supersede() throws {
        let server = try TestServer()
        try server.publish(name: "m", version: "1.0.0", files: ["w": [1]])
        try server.publish(name: "m", version: "1.1.0", files: ["w": [2]])
        let old = try server.deploy("m", "1.0.0")
        let started = try server.registerDevice("started"), waiting = try server.registerDevice("waiting")
        _ = try started.checkin(.init(installed: []))
        _ = try waiting.checkin(.init(installed: []))
        try started.report([.init(deploymentID: old.id, bundleName: "m", version: "1.0.0", state: .downloading, detail: "")])
        let new = try server.deploy("m", "1.1.0")
        #expect(try waiting.checkin(.init(installed: [])).assignments.map(\.deploymentID) == [new.id])
        #expect(try started.checkin(.init(installed: [])).assignments.map(\.deploymentID) == [old.id])
        let fresh = try server.registerDevice("fresh")
        #expect(try fresh.checkin(.init(installed: [])).assignments.map(\.deploymentID) == [new.id])
    }

    @Test("otactl deployments show --watch redraws until the deployment completes")
    func watch() throws {
        let server = try TestServer()
        try server.publish(name: "m", version: "1.0.0", files: ["w": [1]])
        let deployment = try server.deploy("m", "1.0.0")
        let device = try server.registerDevice("d1")
        _ = try device.checkin(.init(installed: []))
        let watcher = try RunningProcess(Binaries.path("otactl"), ["deployments", "show", deployment.id.rawValue, "--watch", "--interval", "0.2",
                                                                  "--server", server.url, "--token", server.tokens[.viewer]!])
        // Each change is made once the watcher has drawn the state before it.
        try watcher.waitForOutput("status: active")
        try device.report([.init(deploymentID: deployment.id, bundleName: "m", version: "1.0.0", state: .installing, detail: "")])
        try watcher.waitForOutput("[~~~~~~~~~~~~~~~~~~~~~~~~]")
        try device.report([.init(deploymentID: deployment.id, bundleName: "m", version: "1.0.0", state: .succeeded, detail: "")])
        let finished = try watcher.finish(timeout: 30)
        let text = finished.stdout
        #expect(finished.status == 0, "\(finished)")
        #expect(text.contains("status: active"))
        #expect(text.contains("[~~~~~~~~~~~~~~~~~~~~~~~~]"))
        #expect(text.contains("status: completed"))
        #expect(text.contains("[########################] 100%"))
    }
}
