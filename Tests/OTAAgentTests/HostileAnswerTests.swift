import Foundation
import OTAClient
import OTACore
import Testing
import TestSupport

/// What a real agent does with hostile numbers, oversized answers and escape sequences from a
/// real server or a network in between: a clear error, an exit code that says so, no trap, and
/// nothing that reaches an operator's terminal raw. And a fleet whose release metadata has
/// grown over years keeps updating.
@Suite("The agent against hostile answers and a long-lived fleet", .serialized)
struct HostileAnswerTests {
    static let v1: [String: [UInt8]] = ["model.onnx": Array("weights v1".utf8)]
    static let v2: [String: [UInt8]] = ["model.onnx": Array("weights v2".utf8)]

    /// A TUF fleet with v1 released and installed on `cam-1`.
    func fleet() throws -> (TestServer, TestAgent) {
        let server = try TestServer(tuf: true)
        try server.publish(name: "digits", version: "1.0.0", files: Self.v1)
        try server.release([("digits", "1.0.0", "stable")])
        try server.deploy("digits", "1.0.0")
        let agent = try TestAgent(server, id: "cam-1")
        #expect(try agent.once().status == 0)
        return (server, agent)
    }

    func behind(_ agent: TestAgent, _ proxy: HostileProxy) throws {
        agent.config["server_url"] = proxy.url
        try agent.writeConfig()
    }

    /// An exit with `code`, not a trap.
    func expectExit(_ result: ProcessResult, _ code: Int32, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(!result.killedBySignal && result.status == code, "\(result)", sourceLocation: sourceLocation)
    }

    @Test("A session answer with a lifetime of -2^63 is a malformed answer, reported, not a crash")
    func hostileSessionLifetime() throws {
        let (server, agent) = try fleet()
        // A new session is needed: the agent process opens one at each start.
        let proxy = try HostileProxy(.sessionExpiryHostile, upstream: server.url)
        try behind(agent, proxy)
        expectExit(try agent.once(), 1)
        let error = try agent.status()["last_error"] as? String ?? ""
        #expect(error.contains("expires_in_s") && error.contains("must be from 60"), "\(error)")
        try agent.checkCurrentSlot("digits", holds: Self.v1)
    }

    @Test("A correctly signed answer issued at -2^63 (a compromised server) is refused with the reason, not a crash")
    func hostileIssuedTime() throws {
        let (server, agent) = try fleet()
        try KeyFiles.writePrivateKey(server.tuf!.online, to: agent.dir.file("stolen-online.key"))
        let proxy = try HostileProxy(.checkinCompromised, upstream: server.url,
                                     arguments: ["--key", agent.dir.file("stolen-online.key"), "--issued", String(Int64.min)])
        try behind(agent, proxy)
        expectExit(try agent.once(), 1)
        let problem = (try agent.status()["trust"] as? [String: Any])?["report"] as? [String: Any]
        let text = problem?["problem"] as? String ?? ""
        #expect(text.contains("issued") && text.contains("must be from 0"), "\(text)")
        // `status` still answers, and says the device still runs v1.
        let status = try run(Binaries.path("ota-agent"), ["status", "--config", agent.configPath])
        expectExit(status, 0)
        try agent.checkCurrentSlot("digits", holds: Self.v1)
    }

    @Test("Metadata beside a signed answer larger than its role may be is refused by name, and the device keeps running", arguments: [
        ("targets", 6_000_000), ("timestamp", 100_000),
    ] as [(String, Int)])
    func oversizedMetadata(field: String, bytes: Int) throws {
        let (server, agent) = try fleet()
        let proxy = try HostileProxy(.checkinPadMetadata, upstream: server.url, arguments: ["--pad", String(bytes), "--field", field])
        try behind(agent, proxy)
        expectExit(try agent.once(), 1)
        let error = try agent.status()["last_error"] as? String ?? ""
        #expect(error.contains("metadata.\(field) is larger than"), "\(error)")
        try agent.checkCurrentSlot("digits", holds: Self.v1)
    }

    @Test("A fleet with 1,000 releases on each of 20 channels over 100 bundles keeps updating")
    func longLivedFleet() throws {
        let (server, agent) = try fleet()
        try server.publish(name: "digits", version: "2.0.0", files: Self.v2)
        var many: [String: TUFTargetFile] = [:]
        for channel in 0..<20 {
            for release in 0..<1000 {
                let path = Release.targetPath(channel: Channel(checked: "channel-\(channel)"), name: BundleName(checked: "bundle-\(release % 100)"), version: SemanticVersion(stringLiteral: "1.\(release / 100).\(channel)"))
                many[path] = TUFTargetFile(length: 4000, hashes: ["sha256": SHA256Digest.of(Array(path.utf8)).hex])
            }
        }
        try server.release([("digits", "1.0.0", "stable"), ("digits", "2.0.0", "stable")], extraTargets: many)
        try server.deploy("digits", "2.0.0")
        expectExit(try agent.once(), 0)
        try agent.checkCurrentSlot("digits", holds: Self.v2)
        let report = (try agent.status()["trust"] as? [String: Any])?["report"] as? [String: Any]
        #expect(report?["problem"] == nil, "\(String(describing: report))")
        #expect(report?["targets_version"] as? Int == 2)
    }

    @Test("ota-agent once exits 4 while an update waits for fresh trust, and status says why")
    func staleTrustExitCode() throws {
        let (server, agent) = try fleet()
        try server.publish(name: "digits", version: "2.0.0", files: Self.v2)
        // Released, but the release metadata has expired by the time the device looks.
        try server.release([("digits", "1.0.0", "stable"), ("digits", "2.0.0", "stable")], expiresIn: 2)
        try server.deploy("digits", "2.0.0")
        try eventually(timeout: 10, "the release metadata expires") {
            let expires = try server.admin().trustSummary().targetsExpires?.secondsSinceEpoch ?? .max
            return Timestamp.epochSeconds() >= expires
        }
        let result = try agent.once()
        expectExit(result, 4)
        let status = try run(Binaries.path("ota-agent"), ["status", "--config", agent.configPath]).stdout
        #expect(status.contains("(STALE)") && status.contains("not started: this device's trust is not fresh"), "\(status)")
        try agent.checkCurrentSlot("digits", holds: Self.v1)
    }

    @Test("Escape sequences a device or a server sends reach no terminal raw: otactl and ota-agent status show them escaped")
    func noRawEscapes() throws {
        let server = try TestServer()
        let fake = "\u{1B}[2K\u{1B}[1A\rtrust:      root 9, fresh"
        let device = try server.registerDevice("cam-1", attributes: ["note": fake, "title": "\u{1B}]0;owned\u{07}", "clip": "\u{1B}]52;c;ZWNobyBoaQ==\u{1B}\\"])
        _ = try device.checkin(.init(installed: []))
        try device.report([.init(deploymentID: nil, bundleName: "m", version: "1.0.0", state: .failed, detail: "bad\n\u{1B}[31mrolled back: fine")])
        let shown = try otactl(["devices", "show", "cam-1", "--server", server.url, "--token", server.tokens[.viewer]!])
        #expect(shown.status == 0, "\(shown)")
        #expect(!shown.stdout.unicodeScalars.contains { $0.value == 0x1B || $0.value == 0x07 || $0.value == 0x0D }, "\(shown.stdout)")
        #expect(shown.stdout.contains("\\x1b[2K\\x1b[1A\\rtrust:"), "\(shown.stdout)")
        let listed = try otactl(["devices", "list", "--server", server.url, "--token", server.tokens[.viewer]!])
        #expect(!listed.stdout.unicodeScalars.contains { $0.value == 0x1B })
        // The agent's status shows what its server said, escaped too.
        let agentServer = try TestServer(tuf: true)
        let agent = try TestAgent(agentServer, id: "cam-2")
        _ = try agent.once()
        let proxy = try HostileProxy(.checkinHTMLError, upstream: agentServer.url)
        try behind(agent, proxy)
        _ = try agent.once()
        let status = try run(Binaries.path("ota-agent"), ["status", "--config", agent.configPath]).stdout
        #expect(!status.unicodeScalars.contains { $0.value == 0x0D || $0.value == 0x1B }, "\(status)")
        #expect(status.contains("\\r\\n"), "\(status)")
    }
}
