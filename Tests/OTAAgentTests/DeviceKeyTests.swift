import Foundation
import OTAClient
import OTACore
import TestSupport
import Testing

/// The agent as a key: it makes its key, registers it once, waits for acceptance, does not
/// come back by itself after deletion, and moves devices from before device keys onto keys.
@Suite("Agent device keys", .tags(.database))
struct DeviceKeyTests {
    static let files = ["model.onnx": Array("weights".utf8)]

    @Test("The agent makes its key (0600), registers once, and never sends its enrollment token again; deleted, it does not come back by itself")
    func keyAndOneTimeToken() throws {
        let server = try TestServer()
        try server.publish(name: "m", version: "1.0.0", files: Self.files)
        _ = try server.deploy("m", "1.0.0")
        let token = try #require(try server.admin(.operator).createEnrollmentToken(.init(maxUses: 5, autoAccept: true)).token)
        let agent = try TestAgent(server, id: "cam-1", enrollment: token)
        #expect(try agent.once().status == 0)
        try agent.checkCurrentSlot("m", holds: Self.files)
        let keyFile = agent.statePath + "/device.key"
        #expect(FileSystem.mode(of: keyFile)?.permissions == 0o600)
        let key = try KeyFiles.loadPrivateKey(keyFile)
        #expect(try server.admin().device("cam-1").device.keyID == key.publicKey.keyID)
        let credentials = try FileSystem.readText(agent.statePath + "/credentials.json")
        #expect(!credentials.contains(token) && !credentials.contains("device_token"))

        _ = try server.admin(.operator).api.send("DELETE", "/api/v1/devices/cam-1")
        #expect(try agent.once().status == 1)
        #expect(try agent.once().status == 1)
        #expect(throws: (any Error).self) { try server.admin().device("cam-1") }
        #expect(try server.admin().enrollmentTokens().first { $0.token == nil && $0.uses == 1 } != nil, "the token was used again")

        // The operator authorises it again, with its key: it is back, same key, same history from now on.
        try server.admin(.operator).importDevices([.init(deviceID: "cam-1", publicKey: Base64.encode(key.publicKey.raw), hardware: "test-hw")])
        #expect(try agent.once().status == 0)
        #expect(try server.admin().device("cam-1").device.status == .accepted)
    }

    @Test("A device registered with a token that is not auto-accept waits, and installs once an operator accepts it")
    func pendingUntilAccepted() throws {
        let server = try TestServer()
        try server.publish(name: "m", version: "1.0.0", files: Self.files)
        _ = try server.deploy("m", "1.0.0")
        let token = try #require(try server.admin(.operator).createEnrollmentToken(.init()).token)
        let agent = try TestAgent(server, id: "cam-1", enrollment: token)
        let waiting = try agent.once()
        #expect(waiting.status == 1)
        #expect((try agent.status()["last_error"] as? String ?? "").contains("waits for an operator to accept it"), "\(waiting)")
        #expect(agent.currentSlot("m") == nil)
        let accepted = try otactl(["devices", "accept", "cam-1", "--server", server.url, "--token", server.tokens[.operator]!])
        #expect(accepted.status == 0 && accepted.stdout.contains("cam-1 is accepted"), "\(accepted)")
        #expect(try agent.once().status == 0)
        try agent.checkCurrentSlot("m", holds: Self.files)
    }

    /// Makes `agent` a device from before device keys: a registry row with a bearer token
    /// and no key, and the agent's credentials file holding that token.
    func makeLegacy(_ agent: TestAgent, server: TestServer) throws -> String {
        let token = "ota_dev_" + Hex.encode(SecureRandom.bytes(16))
        let hash = SHA256Digest.of(Array(token.utf8)).hex
        let sql = """
            INSERT INTO devices (id, token_hash, hardware, attributes, registered_at, last_seen)
            VALUES ('\(agent.id)', '\(hash)', 'test-hw', '{}', '2026-11-01T00:00:00Z', 0);
            """
        #expect(try server.sql(sql).status == 0)
        try FileSystem.createDirectory(agent.statePath)
        try FileSystem.writeAtomically(Array(#"{"device_id": "\#(agent.id)", "device_token": "\#(token)"}"#.utf8),
                                       to: agent.statePath + "/credentials.json", permissions: 0o600)
        return token
    }

    @Test("An agent from before device keys binds its key at its next contact; its bearer token stops working")
    func legacyDeviceMigrates() throws {
        let server = try TestServer()
        try server.publish(name: "m", version: "1.0.0", files: Self.files)
        _ = try server.deploy("m", "1.0.0")
        let agent = try TestAgent(server, id: "old-1")
        let token = try makeLegacy(agent, server: server)
        let before = try server.request("POST", DeviceAPI.checkinPath, token: token, body: Array(#"{"installed":[]}"#.utf8))
        #expect(before.status == 200, "the transition accepts the bearer token: \(before)")
        let result = try agent.once()
        #expect(result.status == 0, "\(result)")
        #expect(result.stderr.contains("its bearer token is retired"))
        try agent.checkCurrentSlot("m", holds: Self.files)
        #expect(try server.admin().device("old-1").device.keyID != nil)
        #expect(try server.request("POST", DeviceAPI.checkinPath, token: token, body: Array(#"{"installed":[]}"#.utf8)).status == 401)
    }

    @Test("With --legacy-device-tokens refuse, bearer tokens are refused with the reason")
    func legacyTokensRefused() throws {
        let server = try TestServer(arguments: ["--legacy-device-tokens", "refuse"])
        let agent = try TestAgent(server, id: "old-1")
        let token = try makeLegacy(agent, server: server)
        let refused = try server.request("POST", DeviceAPI.checkinPath, token: token, body: Array(#"{"installed":[]}"#.utf8))
        #expect(refused.status == 401 && String(decoding: refused.body, as: UTF8.self).contains("no longer accepted"), "\(refused)")
    }
}
