import Foundation
import OTAClient
import OTACore
import TestSupport
import Testing

/// Shadow evaluation end to end with the real demo app (onnxruntime) and live noisy traffic:
/// the candidate runs beside the live model and is judged on what this device sees.
@Suite("Shadow evaluation with real models", .serialized)
struct ShadowEvaluationTests {
    /// A device running `live` (committed), its app serving it under live traffic.
    func device(_ server: TestServer, live: String, id: String = "cam-1") throws -> (TestAgent, DemoApp) {
        try server.publish(name: "digits", version: "1.0.0", files: try DemoApp.model(live))
        _ = try server.deploy("digits", "1.0.0")
        let agent = try TestAgent(server, id: id)
        let app = try DemoApp(for: agent)
        #expect(try agent.once().status == 0)
        try eventually(timeout: 30, "the app to serve 1.0.0") { try app.servedVersions() == ["1.0.0"] }
        return (agent, app)
    }

    func deployInShadow(_ server: TestServer, _ candidate: String, gates: [String], samples: Int = 80) throws -> AdminAPI.Deployment {
        try server.publish(name: "digits", version: "2.0.0", files: try DemoApp.model(candidate))
        return try server.admin(.operator).createDeployment(.init(
            bundleName: "digits", version: "2.0.0", target: .everyCompatibleDevice,
            shadow: .init(minSamples: samples, maxSeconds: 120), gates: try gates.map { try QualityGate(parsing: $0) }))
    }

    /// Cycles the agent until the update in progress ends; returns the last event.
    func runUntilEnded(_ agent: TestAgent, _ server: TestServer) throws -> AdminAPI.EventRecord {
        var last: AdminAPI.EventRecord?
        try eventually(timeout: 150, "the shadow phase to end") {
            _ = try agent.once()
            last = try server.admin().device(try DeviceID(agent.id)).events.first { [DeviceAPI.UpdateState.succeeded, .failed, .rolledBack].contains($0.state) && $0.version == "2.0.0" }
            return last != nil
        }
        return try #require(last)
    }

    @Test("A candidate that agrees with the live model and is fast enough passes its shadow phase and goes live")
    func goodCandidateGoesLive() throws {
        let server = try TestServer()
        let (agent, app) = try device(server, live: "digits-v1")
        try app.startTraffic()
        let deployment = try deployInShadow(server, "digits-v2", gates: ["agreement>=0.85", "latency_p95<=4x", "errors<=0"])
        let ended = try runUntilEnded(agent, server)
        #expect(ended.state == .succeeded, "\(ended.detail)")
        #expect(try app.servedVersions() == ["1.0.0", "2.0.0"])
        let events = try server.admin().device(try DeviceID(agent.id)).events.reversed().filter { $0.version == "2.0.0" }
        let passed = try #require(events.first { $0.state == .shadow && $0.detail.hasPrefix("passed in shadow") })
        #expect(passed.detail.contains("agreement"), "\(passed.detail)")
        let quality = try #require(try server.admin().deployment(deployment.id).quality?.first)
        #expect(quality.source == .shadow && quality.devices == 1 && quality.passedInShadow == 1)
        #expect(quality.gates.map(\.verdict) == [.pass, .pass, .pass])
        let agreement = try #require(quality.metrics.first { $0.metric == "agreement" }?.candidate)
        #expect(agreement.median >= 0.85)
    }

    @Test("A several times slower candidate is stopped by the latency gate in shadow and never serves an answer")
    func slowCandidateNeverServes() throws {
        let server = try TestServer()
        let (agent, app) = try device(server, live: "digits-v2")
        try app.startTraffic()
        let deployment = try deployInShadow(server, "digits-v4-slow", gates: ["agreement>=0.9", "latency_p95<=1.5x"])
        let ended = try runUntilEnded(agent, server)
        let details = try server.admin().device(try DeviceID(agent.id)).events.map(\.detail)
        #expect(ended.state == .failed, "\(details)")
        #expect(ended.detail.contains("stopped in shadow") && ended.detail.contains("latency_p95"), "\(ended.detail)")
        #expect(!ended.detail.contains("agreement"), "agreement passed, only latency failed: \(ended.detail)")
        #expect(try app.servedVersions() == ["1.0.0"])
        #expect(agent.currentSlot("digits")?.hasPrefix("1.0.0-") == true)
        #expect(!FileSystem.exists(agent.statePath + "/candidate/digits"))
        let status = try agent.status()
        #expect((status["last_error"] as? String)?.contains("latency_p95") == true, "\(status)")
        let reasons = try server.admin().deployment(deployment.id).failureReasons ?? []
        #expect(reasons.map(\.reason) == ["stopped in shadow: latency_p95<=1.5x failed"])
    }

    @Test("A candidate that disagrees on noisy live inputs is stopped in shadow; the live answers meanwhile are the ones served without shadow")
    func disagreeingCandidateNeverServesAndLiveAnswersStay() throws {
        let server = try TestServer()
        let (agent, app) = try device(server, live: "digits-v2")
        let probe = (0..<120).map { (index: $0 % 200, seed: 10_000 + $0) }
        let without = try app.answers(for: probe)
        try app.startTraffic()
        _ = try deployInShadow(server, "digits-v5-brittle", gates: ["agreement>=0.9"], samples: 150)
        #expect(try agent.once().status == 0)
        #expect(FileSystem.exists(agent.statePath + "/candidate/digits"), "the first cycle starts the shadow phase")
        let during = try app.answers(for: probe)
        #expect(during.map(\.label) == without.map(\.label))
        #expect(Set(during.map(\.version)) == ["1.0.0"])
        let ended = try runUntilEnded(agent, server)
        #expect(ended.state == .failed)
        #expect(ended.detail.contains("agreement"), "\(ended.detail)")
        #expect(try app.servedVersions() == ["1.0.0"])
        #expect(try agent.once().status == 0, "the failed candidate is not taken again")
        #expect(try app.servedVersions() == ["1.0.0"])
    }

    @Test("After commit the agent sends the live model's figures, attributed to the version that produced them")
    func liveMetricsAreAttributedToTheVersion() throws {
        let server = try TestServer()
        let (agent, app) = try device(server, live: "digits-v2")
        // The live model has figures to send once traffic reached it (the answers file fills).
        let answers = agent.dir.file("answers.jsonl")
        try app.startTraffic(answers: answers)
        try eventually("live traffic to be answered") { (FileSystem.fileSize(answers) ?? 0) > 0 }
        #expect(try agent.once().status == 0)
        var figures: [AdminAPI.VersionMetrics] = []
        try eventually("the server to show 1.0.0's figures") {
            figures = try server.admin().fleetSummary().metrics ?? []
            return !figures.isEmpty
        }
        #expect(figures.map(\.version) == ["1.0.0"])
        let latency = try #require(figures[0].metrics.first { $0.metric == "latency_p95" }?.candidate)
        #expect(latency.devices == 1 && latency.median > 0)
    }
}
