import Foundation
import OTAClient
import OTACore
import TestSupport
import Testing

/// The reference layout of "Running at scale": three `ota-server` instances on one
/// PostgreSQL database, content in object storage (moto), nginx in front, real agents and
/// the fleet simulator behind it. Run in the PostgreSQL pass of `make test`.
@Suite("Three instances behind a load balancer", .enabled(if: TestServer.postgres != nil, "needs OTA_TEST_POSTGRES (scripts/test-postgres.sh)"), .tags(.database))
struct ClusterEndToEndTests {
    static let bucket = "ota-cluster"

    @Test("A staged rollout runs to completion while an instance is killed and restarted: counts equal a recount, no device joins twice, no acknowledged event is lost; a failing one pauses itself everywhere")
    func rolloutSurvivesAnInstanceKill() throws {
        let store = try TestObjectStore()
        try store.createBucket(Self.bucket)
        let ports = try (0..<3).map { _ in try TestObjectStore.freePort() }
        let first = try TestServer(arguments: ["--content-store", "s3://\(Self.bucket)/content", "--s3-endpoint", store.url],
                                   environment: store.environment, port: ports[0])
        let instances = [first] + (try ports.dropFirst().map { try TestServer(peerOf: first, port: $0) })
        let balancer = try TestLoadBalancer(upstreamPorts: ports)
        try first.publish(name: "m", version: "2.0.0", files: ["w": Array(repeating: 7, count: 300_000)])
        let agents = try (1...2).map { index in
            let agent = try TestAgent(first, id: "agent-\(index)")
            agent.config["server_url"] = balancer.url
            // A legacy root: the answer's bucket is believed only when the device's config names it.
            agent.config["content_hosts"] = ["127.0.0.1:\(store.port)"]
            try agent.writeConfig()
            return agent
        }
        let created = try first.admin(.operator).createDeployment(.init(
            bundleName: "m", version: "2.0.0", target: .everyCompatibleDevice,
            phases: [.percent(10), .percent(50), .percent(100)],
            autoAdvance: true, soakSeconds: 2, successRatio: 0.95, failureThresholdPercent: 5, failureMinFinished: 5))

        let simulated = 200
        let fleet = Background { try simulate(balancer, first, devices: simulated, prefix: "sim", failureRate: 0) }
        // Kill an instance in the middle of the rollout, and bring it back a few seconds later.
        try eventually(timeout: 60, "the rollout to be under way") { try first.admin().deployment(created.id).counts.finished >= 20 }
        instances[1].kill()
        for agent in agents { _ = try agent.once() }
        Thread.sleep(forTimeInterval: 3)
        try instances[1].start()
        let summary = try fleet.result()
        #expect(summary.status == 0, "\(summary)")
        try eventually(timeout: 60, "the real agents to install through the load balancer") {
            for agent in agents where agent.currentSlot("m") == nil { _ = try agent.once() }
            return agents.allSatisfy { $0.currentSlot("m") != nil }
        }
        for agent in agents { try agent.checkCurrentSlot("m", holds: ["w": Array(repeating: 7, count: 300_000)]) }

        let total = simulated + agents.count
        try eventually(timeout: 20, "the rollout to complete") { try first.admin().deployment(created.id).status == .completed }
        let status = try instances[1].admin().deployment(created.id)
        #expect(status.counts.succeeded == total, "\(status.counts)")
        #expect(status.phases.map(\.counts.total).reduce(0, +) == total, "each device in one phase")
        #expect(status.counts.byState == (try first.recountFromEvents(created.id.rawValue)))
        let members = try first.sql("SELECT count(*), count(DISTINCT device_id) FROM deployment_devices WHERE deployment_id = '\(created.id)'").stdout.trimmed
        #expect(members == "\(total) \(total)", "no device joined twice")
        // Every event the simulator had acknowledged is in the registry (a request repeated
        // by nginx after an instance died may add a duplicate, which counts nowhere).
        let acknowledged = try #require(summary.json?["events_acknowledged"] as? Int)
        let stored = Int(try first.sql("SELECT count(*) FROM events WHERE device_id LIKE 'sim-%'").stdout.trimmed) ?? 0
        #expect(stored >= acknowledged && acknowledged >= simulated * 5, "stored \(stored), acknowledged \(acknowledged)")
        #expect(try first.sql("SELECT count(DISTINCT device_id) FROM events WHERE state = 'succeeded' AND device_id LIKE 'sim-%'").stdout.trimmed == "\(simulated)")
        #expect(try first.metric("ota_content_redirects_total") + instances[1].metric("ota_content_redirects_total")
                    + instances[2].metric("ota_content_redirects_total") > 0, "content comes from the object store")

        // A failing release pauses itself, and every instance says so.
        try first.publish(name: "m", version: "3.0.0", files: ["w": [3]])
        let failing = try first.admin(.operator).createDeployment(.init(
            bundleName: "m", version: "3.0.0", target: .everyCompatibleDevice,
            phases: [.percent(20), .percent(100)], autoAdvance: true, soakSeconds: 2, successRatio: 0.95,
            failureThresholdPercent: 5, failureMinFinished: 5))
        let bad = try simulate(balancer, first, devices: 150, prefix: "bad", failureRate: 0.3)
        #expect(bad.status == 0, "\(bad)")
        for instance in instances {
            let seen = try instance.admin().deployment(failing.id)
            #expect(seen.status == .paused && seen.pausedReason?.hasPrefix("paused automatically:") == true, "\(seen.status) \(seen.pausedReason ?? "")")
            #expect(seen.currentPhase == 0)
        }
        #expect(try first.admin().deployment(failing.id).counts.byState == (try first.recountFromEvents(failing.id.rawValue)))
    }

    func simulate(_ balancer: TestLoadBalancer, _ server: TestServer, devices: Int, prefix: String, failureRate: Double) throws -> ProcessResult {
        let enrollment = try server.admin(.operator).createEnrollmentToken(.init(maxUses: devices, autoAccept: true)).token!
        return try run(Binaries.path("ota-fleet-sim"), [
            "--server", balancer.url, "--enrollment-token", enrollment, "--devices", String(devices), "--prefix", prefix,
            "--hardware", "test-hw", "--failure-rate", String(failureRate), "--until-quiet", "12", "--interval", "0.5", "--timeout", "240",
        ])
    }
}

extension ProcessResult {
    /// The JSON object the process printed last, if any.
    var json: [String: Any]? {
        guard let line = stdout.split(separator: "\n").last else { return nil }
        return (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any]
    }
}

/// Work on a thread of its own, waited for later.
final class Background<T>: @unchecked Sendable {
    private let done = DispatchSemaphore(value: 0)
    private var outcome: Result<T, any Error>?

    init(_ body: @escaping @Sendable () throws -> T) {
        let thread = Thread { [self] in
            outcome = Result { try body() }
            done.signal()
        }
        thread.start()
    }

    func result() throws -> T {
        done.wait()
        return try outcome!.get()
    }
}
