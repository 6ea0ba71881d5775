import Foundation
import OTAClient
import OTACore
import TestSupport
import Testing

/// The agent's shadow phase against an application whose report the test writes: every way a
/// report can be wrong, every crash point, a cancellation, and the server's gates on a phase.
@Suite("Shadow phase rules end to end", .serialized)
struct ShadowPhaseTests {
    static let v1 = ["model.onnx": Array("weights-v1".utf8)]
    static let v2 = ["model.onnx": Array("weights-v2".utf8)]

    /// A report as the application would write it; SHADOW_ID is replaced by the agent's id.
    static func report(samples: Int = 100, agreement: Double = 0.99, liveP95: Double = 1, candidateP95: Double = 1.1) -> String {
        #"{"shadow_id":"SHADOW_ID","samples":\#(samples),"agreement":\#(agreement),"live":{"latency_p50_ms":0.5,"latency_p95_ms":\#(liveP95),"errors":0,"confidence":0.9},"candidate":{"latency_p50_ms":0.5,"latency_p95_ms":\#(candidateP95),"errors":0,"confidence":0.92}}"#
    }

    /// A device running 1.0.0 whose shadow command writes `report` (nil: writes nothing).
    func device(_ server: TestServer, id: String = "cam-1", report: String?, shadowExit: Int = 0) throws -> TestAgent {
        let agent = try TestAgent(server, id: id)
        if let report { try FileSystem.writeAtomically(Array(report.utf8), to: agent.dir.file("report.template")) }
        let script = """
        echo "$OTA_SHADOW_ACTION $OTA_SHADOW_ID" >> "\(agent.dir.file("shadow.log"))"
        [ "$OTA_SHADOW_ACTION" = start ] || exit 0
        [ -f "\(agent.dir.file("report.template"))" ] && sed "s/SHADOW_ID/$OTA_SHADOW_ID/" "\(agent.dir.file("report.template"))" > "$OTA_SHADOW_REPORT"
        exit \(shadowExit)
        """
        agent.config["shadow_command"] = ["/bin/sh", "-c", script]
        try agent.writeConfig()
        if try server.admin().bundles().isEmpty {
            try server.publish(name: "digits", version: "1.0.0", files: Self.v1)
            try server.publish(name: "digits", version: "2.0.0", files: Self.v2)
            _ = try server.deploy("digits", "1.0.0")
        }
        #expect(try agent.once().status == 0)
        try agent.checkCurrentSlot("digits", holds: Self.v1)
        return agent
    }

    @discardableResult
    func deployInShadow(_ server: TestServer, gates: [String] = ["agreement>=0.97", "latency_p95<=1.2x"], samples: Int = 50,
                        maxSeconds: Int = 600, phases: [AdminAPI.Phase]? = nil, autoAdvance: Bool? = nil, gateMinDevices: Int? = nil) throws -> AdminAPI.Deployment {
        try server.admin(.operator).createDeployment(.init(
            bundleName: "digits", version: "2.0.0", target: .everyCompatibleDevice, phases: phases, autoAdvance: autoAdvance, soakSeconds: 0,
            shadow: .init(minSamples: samples, maxSeconds: maxSeconds), gates: try gates.map { try QualityGate(parsing: $0) },
            gateMinDevices: gateMinDevices))
    }

    func events(_ server: TestServer, _ agent: TestAgent) throws -> [AdminAPI.EventRecord] {
        try server.admin().device(try DeviceID(agent.id)).events.reversed().filter { $0.version == "2.0.0" }
    }

    func shadowLog(_ agent: TestAgent) -> [String] {
        ((try? FileSystem.readText(agent.dir.file("shadow.log"))) ?? "").split(separator: "\n").map { String($0.split(separator: " ")[0]) }
    }

    /// The update ended before activation: 1.0.0 still runs, nothing of the candidate remains.
    func expectStoppedInShadow(_ agent: TestAgent, _ server: TestServer, reason: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let failed = try #require(try events(server, agent).last, sourceLocation: sourceLocation)
        #expect(failed.state == .failed && failed.detail.contains(reason), "\(failed.detail)", sourceLocation: sourceLocation)
        try agent.checkCurrentSlot("digits", holds: Self.v1)
        #expect(!FileSystem.exists(agent.statePath + "/candidate/digits"), sourceLocation: sourceLocation)
        #expect(!agent.journalExists, sourceLocation: sourceLocation)
        #expect((try agent.status()["last_error"] as? String)?.contains(reason) == true, sourceLocation: sourceLocation)
        #expect(try !events(server, agent).contains { $0.state == .installing }, "the candidate was never activated", sourceLocation: sourceLocation)
    }

    @Test("A report that passes every gate leads to activation, health check and commit, and the application is told to stop")
    func passingReportActivates() throws {
        let server = try TestServer()
        let agent = try device(server, report: Self.report())
        let deployment = try deployInShadow(server)
        let result = try agent.once()
        #expect(result.status == 0, "\(result)")
        try agent.checkCurrentSlot("digits", holds: Self.v2)
        let states = try events(server, agent).map(\.state.rawValue)
        try #require(states == ["downloading", "downloaded", "shadow", "shadow", "installing", "health-check", "succeeded"], "\(states)")
        let passed = try events(server, agent)[3].detail
        #expect(passed == "passed in shadow after 100 samples: agreement 0.99 >= 0.97, latency_p95 1.1x <= 1.2x", "\(passed)")
        #expect(shadowLog(agent) == ["start", "stop"])
        #expect(!FileSystem.exists(agent.statePath + "/candidate/digits"))
        let quality = try #require(try server.admin().deployment(deployment.id).quality?.first)
        #expect(quality.gates.map(\.verdict) == [.pass, .pass] && quality.passedInShadow == 1)
    }

    @Test("A failing gate stops the candidate in shadow, with the figures in the event and a figure-free reason on the server")
    func failingGateStopsTheCandidate() throws {
        let server = try TestServer()
        let agent = try device(server, report: Self.report(candidateP95: 3.4))
        let deployment = try deployInShadow(server)
        #expect(try agent.once().status == 2, "exit 2: an update was given up")
        try expectStoppedInShadow(agent, server, reason: "stopped in shadow after 100 samples: latency_p95 3.4x > 1.2x")
        #expect(shadowLog(agent) == ["start", "stop"])
        #expect(try server.admin().deployment(deployment.id).failureReasons?.map(\.reason) == ["stopped in shadow: latency_p95<=1.2x failed"])
    }

    static let unusableReports: [(String, String)] = [
        ("malformed JSON", #"{"shadow_id":"SHADOW_ID","samples":"#),
        ("an unknown field", #"{"shadow_id":"SHADOW_ID","samples":100,"agreement":0.99,"bonus":1,"live":{"latency_p50_ms":1,"latency_p95_ms":1,"errors":0},"candidate":{"latency_p50_ms":1,"latency_p95_ms":1,"errors":0}}"#),
        ("agreement above 1", report(agreement: 1.5)),
        ("a negative latency", report(candidateP95: -1)),
        ("p95 below p50", report(liveP95: 0.1)),
        ("a missing field", #"{"shadow_id":"SHADOW_ID","samples":100,"agreement":0.99,"live":{"latency_p50_ms":1,"latency_p95_ms":1,"errors":0}}"#),
        ("a number of the wrong type", #"{"shadow_id":"SHADOW_ID","samples":"many","live":{"latency_p50_ms":1,"latency_p95_ms":1,"errors":0},"candidate":{"latency_p50_ms":1,"latency_p95_ms":1,"errors":0}}"#),
        ("a huge number", report(candidateP95: 1e400)),
        ("an oversized report", report().replacingOccurrences(of: "\"samples\"", with: "\"" + String(repeating: " ", count: 70_000) + "\"samples\"")),
    ]

    @Test("An unusable report from the application counts as a failed shadow phase, never as a pass", arguments: 0..<unusableReports.count)
    func unusableReportFails(_ index: Int) throws {
        let (what, body) = Self.unusableReports[index]
        let server = try TestServer()
        let agent = try device(server, report: body)
        try deployInShadow(server)
        let result = try agent.once()
        #expect(result.status == 2, "\(what): \(result)")
        try expectStoppedInShadow(agent, server, reason: "the application's shadow report is unusable")
    }

    @Test("A report path that is a link (here to /dev/zero) is refused without being read")
    func reportThatIsALinkFails() throws {
        let server = try TestServer()
        let agent = try device(server, report: nil)
        try deployInShadow(server)
        agent.config["shadow_command"] = ["/bin/sh", "-c", #"[ "$OTA_SHADOW_ACTION" = start ] && ln -sf /dev/zero "$OTA_SHADOW_REPORT"; exit 0"#]
        try agent.writeConfig()
        #expect(try agent.once().status == 2)
        try expectStoppedInShadow(agent, server, reason: "a symbolic link, not a regular file")
    }

    @Test("A report path that is a pipe is refused at once, without blocking the agent")
    func reportThatIsAPipeFails() throws {
        let server = try TestServer()
        let agent = try device(server, report: nil)
        try deployInShadow(server)
        agent.config["shadow_command"] = ["/bin/sh", "-c", #"[ "$OTA_SHADOW_ACTION" = start ] && mkfifo "$OTA_SHADOW_REPORT"; exit 0"#]
        try agent.writeConfig()
        #expect(try agent.once().status == 2)
        try expectStoppedInShadow(agent, server, reason: "not a regular file")
    }

    @Test("No report, a report for another shadow phase, or too few samples: the phase fails when its time is up", arguments: [
        ("none", "no shadow report within 5s"), ("stale", "names another shadow_id"), ("few", "only 3 of 50 samples within 5s"),
    ])
    func timeLimitEndsThePhase(_ kind: String, _ reason: String) throws {
        let server = try TestServer()
        let report: String? = switch kind {
        case "none": nil
        case "stale": Self.report().replacingOccurrences(of: "SHADOW_ID", with: "an-earlier-phase")
        default: Self.report(samples: 3)
        }
        let agent = try device(server, report: report)
        try deployInShadow(server, maxSeconds: 5)
        #expect(try agent.once().status == 0)
        #expect(try events(server, agent).last?.state == .shadow, "the first cycle waits for evidence")
        let shadow = try #require(((try agent.status()["bundles"] as? [[String: Any]])?.first)?["shadow"] as? [String: Any])
        #expect(shadow["min_samples"] as? Int == 50)
        // The phase's five seconds pass on the device's clock, not the test's.
        agent.clock = try ProcessClock()
        try agent.clock!.advance(seconds: 6)
        #expect(try agent.once().status == 2)
        try expectStoppedInShadow(agent, server, reason: reason)
    }

    @Test("The daemon looks at a running shadow phase every few seconds, whatever the poll interval, and finishes it")
    func daemonFinishesAShadowPhaseSoon() throws {
        let server = try TestServer(pollInterval: 120)
        let agent = try device(server, report: Self.report())
        // The application needs a few seconds to gather its samples.
        agent.config["shadow_command"] = ["/bin/sh", "-c", """
            [ "$OTA_SHADOW_ACTION" = start ] || exit 0
            (sleep 4; sed "s/SHADOW_ID/$OTA_SHADOW_ID/" "\(agent.dir.file("report.template"))" > "$OTA_SHADOW_REPORT.tmp" && mv "$OTA_SHADOW_REPORT.tmp" "$OTA_SHADOW_REPORT") >/dev/null 2>&1 &
            """]
        try agent.writeConfig()
        try deployInShadow(server)
        let daemon = Process()
        daemon.executableURL = URL(fileURLWithPath: Binaries.path("ota-agent"))
        daemon.arguments = ["run", "--config", agent.configPath]
        daemon.standardError = FileHandle.nullDevice
        try daemon.run()
        defer { daemon.terminate(); daemon.waitUntilExit() }
        try eventually(timeout: 20, "the daemon to commit 2.0.0 after its shadow phase") {
            (try? agent.checkCurrentSlot("digits", holds: Self.v2)) != nil && !agent.journalExists
        }
        // The report of the commit follows on its own (the outbox), shortly after.
        try eventually(timeout: 10, "the server to hear of the commit") { try events(server, agent).last?.state == .succeeded }
    }

    @Test("A shadow command that fails ends the phase as failed")
    func shadowCommandFailureFails() throws {
        let server = try TestServer()
        let agent = try device(server, report: nil, shadowExit: 3)
        try deployInShadow(server)
        #expect(try agent.once().status == 2)
        try expectStoppedInShadow(agent, server, reason: "the shadow command failed (exit 3")
    }

    @Test("A crash at every shadow step ends correctly: the same verdict, the candidate never left behind",
          arguments: ["shadow", "shadow-started", "shadow-decided"], [true, false])
    func crashAtEveryShadowStep(_ step: String, _ passes: Bool) throws {
        let server = try TestServer()
        let agent = try device(server, report: Self.report(candidateP95: passes ? 1.1 : 5))
        try deployInShadow(server)
        let crashed = try agent.once(crashAt: step)
        #expect(crashed.status == 99, "\(crashed)")
        try agent.checkCurrentSlot("digits", holds: Self.v1)
        #expect(try agent.once().status == (passes ? 0 : 2))
        if passes {
            try agent.checkCurrentSlot("digits", holds: Self.v2)
            #expect(try events(server, agent).last?.state == .succeeded)
        } else {
            try expectStoppedInShadow(agent, server, reason: "latency_p95 5x > 1.2x")
        }
        #expect(!FileSystem.exists(agent.statePath + "/candidate/digits"))
        #expect(shadowLog(agent).filter { $0 == "start" }.count <= 2)
        #expect(shadowLog(agent).last == "stop")
    }

    @Test("A deployment cancelled during the shadow phase is abandoned: the application is told to stop and the candidate goes")
    func cancelledInShadowIsAbandoned() throws {
        let server = try TestServer()
        let agent = try device(server, report: Self.report(samples: 2))
        let deployment = try deployInShadow(server)
        #expect(try agent.once().status == 0)
        #expect(FileSystem.exists(agent.statePath + "/candidate/digits"))
        _ = try server.admin(.operator).control(deployment.id, .cancel, reason: nil)
        #expect(try agent.once().status == 0)
        #expect(try events(server, agent).last?.state == .abandoned)
        #expect(!FileSystem.exists(agent.statePath + "/candidate/digits"))
        #expect(shadowLog(agent) == ["start", "stop"])
        try agent.checkCurrentSlot("digits", holds: Self.v1)
    }

    @Test("An agent without a shadow_command is not offered a deployment with a shadow phase")
    func agentWithoutShadowCommandIsNotOffered() throws {
        let server = try TestServer()
        let agent = try device(server, report: Self.report())
        agent.config["shadow_command"] = nil
        try agent.writeConfig()
        let deployment = try deployInShadow(server)
        #expect(try agent.once().status == 0)
        try agent.checkCurrentSlot("digits", holds: Self.v1)
        #expect(try events(server, agent).isEmpty)
        #expect(try server.admin().deployment(deployment.id).counts.total == 0)
    }

    @Test("A phase whose median fails a gate pauses the rollout with the figures, in the audit log too")
    func failingPhaseGatePausesTheRollout() throws {
        let server = try TestServer()
        let first = try device(server, id: "cam-1", report: Self.report(agreement: 0.5))
        let second = try device(server, id: "cam-2", report: Self.report(agreement: 0.6))
        let deployment = try deployInShadow(server, gates: ["agreement>=0.97"], phases: [.devices(["cam-1", "cam-2"]), .percent(100)],
                                             autoAdvance: true, gateMinDevices: 2)
        #expect(try first.once().status == 2)
        #expect(try second.once().status == 2)
        var shown = try server.admin().deployment(deployment.id)
        try eventually("the deployment to pause") { shown = try server.admin().deployment(deployment.id); return shown.status == .paused }
        let reason = try #require(shown.pausedReason)
        #expect(reason.contains("quality gate failed in phase 1") && reason.contains("median agreement 0.55 < 0.97 over 2 devices"), "\(reason)")
        let audit = try server.admin().audit(limit: 20).entries
        #expect(audit.contains { $0.action.rawValue == "deployment.pause" && $0.detail.contains("median agreement 0.55 < 0.97") })
        #expect(shown.currentPhase == 0)
        // Resuming accepts the phase's figures: its gates no longer pause it.
        _ = try server.admin(.operator).control(deployment.id, .resume, reason: "accepted: these two cameras see unusual scenes")
        let ticks = try server.metric("ota_rollout_ticks_total")
        try eventually("the rollout timers to judge the resumed phase twice") { try server.metric("ota_rollout_ticks_total") >= ticks + 2 }
        #expect(try server.admin().deployment(deployment.id).status == .active)
    }

    @Test("A phase whose figures pass advances by itself, and the audit log keeps the figures it advanced on")
    func passingPhaseGateAdvances() throws {
        let server = try TestServer()
        let first = try device(server, id: "cam-1", report: Self.report(agreement: 0.99))
        let second = try device(server, id: "cam-2", report: Self.report(agreement: 0.98))
        let deployment = try deployInShadow(server, gates: ["agreement>=0.97"], phases: [.devices(["cam-1", "cam-2"]), .percent(100)],
                                             autoAdvance: true, gateMinDevices: 2)
        #expect(try first.once().status == 0)
        #expect(try server.admin().deployment(deployment.id).currentPhase == 0, "one device's figures are not enough")
        #expect(try second.once().status == 0)
        try eventually("the deployment to advance") { try server.admin().deployment(deployment.id).currentPhase == 1 }
        let audit = try server.admin().audit(limit: 20).entries
        #expect(audit.contains { $0.action.rawValue == "deployment.advance" && $0.detail.contains("gates passed: median agreement 0.985 >= 0.97 over 2 devices") })
    }

    @Test("Without a shadow phase a deployment's gates hold on the live figures the devices send after commit")
    func gateOnLiveMetricsPauses() throws {
        let server = try TestServer()
        let agent = try device(server, report: nil)
        agent.config["metrics_command"] = ["/bin/sh", "-c", #"echo '{"samples":500,"latency_p50_ms":4,"latency_p95_ms":9,"errors":0}' > "$OTA_METRICS_REPORT""#]
        try agent.writeConfig()
        let deployment = try server.admin(.operator).createDeployment(.init(
            bundleName: "digits", version: "2.0.0", target: .everyCompatibleDevice, gates: [try QualityGate(parsing: "latency_p95<=5")]))
        #expect(try agent.once().status == 0)
        try agent.checkCurrentSlot("digits", holds: Self.v2)
        var shown = try server.admin().deployment(deployment.id)
        try eventually("the deployment to pause") { shown = try server.admin().deployment(deployment.id); return shown.status == .paused }
        #expect(shown.pausedReason?.contains("median latency_p95 9 > 5 over 1 device") == true, "\(shown.pausedReason ?? "")")
        let quality = try #require(shown.quality?.first)
        #expect(quality.source == .live && quality.metrics.first { $0.metric == "latency_p95" }?.candidate?.median == 9)
    }
}
