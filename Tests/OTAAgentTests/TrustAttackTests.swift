import Foundation
import OTAClient
import OTACore
import Testing
import TestSupport

/// Each attack on trust, with real processes: the device keeps running a verified version,
/// and the reason shows in `ota-agent status` and on the server.
@Suite("Trust: signed releases, fresh answers, rotatable roots", .serialized)
struct TrustAttackTests {
    static let v1: [String: [UInt8]] = ["model.onnx": Array("weights v1".utf8)]
    static let v2: [String: [UInt8]] = ["model.onnx": Array("weights v2".utf8)]

    func trust(_ agent: TestAgent) throws -> [String: Any] { try agent.status()["trust"] as? [String: Any] ?? [:] }
    func report(_ agent: TestAgent) throws -> [String: Any] { try trust(agent)["report"] as? [String: Any] ?? [:] }
    func problem(_ agent: TestAgent) throws -> String { try report(agent)["problem"] as? String ?? "" }

    func expectProblem(_ agent: TestAgent, _ text: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let problem = try problem(agent)
        #expect(problem.contains(text), "\(problem)", sourceLocation: sourceLocation)
    }

    /// The life of metadata that a test lets expire: the device's clock then moves past it
    /// (`ProcessClock`), so the fleet acts on it first however busy the machine is, and no test
    /// waits for it to pass.
    static let shortLife: Int64 = 120

    /// Moves the device's time of day past metadata made now with `shortLife`.
    func letShortLifePass(_ agent: TestAgent) throws {
        if agent.clock == nil { agent.clock = try ProcessClock() }
        try agent.clock!.advance(seconds: Self.shortLife + 1)
    }

    /// A fleet with v1 released on stable and installed on `cam-1`.
    func installedFleet(rootExpiresIn: Int64 = 365 * 86_400) throws -> (TestServer, TestAgent) {
        let server = try TestServer(tuf: true, rootExpiresIn: rootExpiresIn)
        try server.publish(name: "digits", version: "1.0.0", files: Self.v1)
        try server.release([("digits", "1.0.0", "stable")])
        try server.deploy("digits", "1.0.0")
        let agent = try TestAgent(server, id: "cam-1")
        #expect(try agent.once().status == 0)
        try agent.checkCurrentSlot("digits", holds: Self.v1)
        return (server, agent)
    }

    func serverTrust(_ server: TestServer, _ device: String) throws -> AdminAPI.Device {
        try server.admin().device(try DeviceID(device)).device
    }

    @Test("A released bundle installs through signed answers, and the device reports fresh trust")
    func releasedBundleInstalls() throws {
        let (server, agent) = try installedFleet()
        let report = try report(agent)
        #expect(report["root_version"] as? Int == 1)
        #expect(report["targets_version"] as? Int == 1)
        #expect(report["verified_at"] != nil)
        #expect(report["problem"] == nil)
        try eventually("the server knows the device's trust") { try serverTrust(server, "cam-1").trust?.targetsVersion == 1 }
        #expect(try serverTrust(server, "cam-1").trustStale == false)
    }

    @Test("The server offers a bundle only to devices whose channel releases it")
    func releasedPerChannel() throws {
        let (server, stable) = try installedFleet()
        let beta = try TestAgent(server, id: "cam-beta", extra: ["channel": "beta"])
        try server.publish(name: "digits", version: "2.0.0", files: Self.v2)
        try server.release([("digits", "1.0.0", "stable"), ("digits", "2.0.0", "beta")])
        let deployment = try server.deploy("digits", "2.0.0")
        #expect(try beta.once().status == 0)
        _ = try beta.once()
        try beta.checkCurrentSlot("digits", holds: Self.v2)
        #expect(try stable.once().status == 0)
        try stable.checkCurrentSlot("digits", holds: Self.v1)
        try eventually("the beta device succeeded") { try server.admin().deployment(deployment.id).counts.succeeded == 1 }
        #expect(try server.admin().device("cam-1").events.allSatisfy { !$0.detail.contains("refused") })
        // A bundle released nowhere cannot even be deployed.
        try server.publish(name: "digits", version: "3.0.0", files: ["model.onnx": Array("weights v3".utf8)])
        #expect(errorText { _ = try server.deploy("digits", "3.0.0") }?.contains("is not released on any channel") == true)
    }

    /// A bundle's assignment as the server would send it, for a compromised server to inject.
    func assignment(_ bundle: String, deployment: String, name: String, version: String) throws -> String {
        let envelope = try BundleArchive.open(bundle).envelope
        let digest = SHA256Digest.of(envelope.payload).hex
        let json = #"{"deployment_id":"\#(deployment)","name":"\#(name)","version":"\#(version)","digest":"\#(digest)","envelope":"#
            + String(decoding: try envelope.encoded(), as: UTF8.self) + "}"
        return json
    }

    @Test("A compromised server (holding the online key) that offers an unreleased bundle is refused")
    func compromisedServerOffersUnreleased() throws {
        let (server, agent) = try installedFleet()
        let bundle = try server.publish(name: "digits", version: "2.0.0", files: Self.v2)
        try KeyFiles.writePrivateKey(server.tuf!.online, to: agent.dir.file("stolen-online.key"))
        try FileSystem.writeAtomically(Array(try assignment(bundle, deployment: "dep_evil", name: "digits", version: "2.0.0").utf8),
                                       to: agent.dir.file("assignment.json"))
        let proxy = try HostileProxy(.checkinCompromised, upstream: server.url,
                                     arguments: ["--key", agent.dir.file("stolen-online.key"), "--assignment", agent.dir.file("assignment.json")])
        agent.config["server_url"] = proxy.url
        try agent.writeConfig()
        _ = try agent.once()
        try agent.checkCurrentSlot("digits", holds: Self.v1)
        try eventually("the refusal reaches the server") {
            try server.admin().device("cam-1").events.contains { $0.detail.contains("signed but not released on channel stable") }
        }
    }

    @Test("A compromised server cannot push a device's sense of time forward, so it cannot freeze it by expiry")
    func compromisedServerClock() throws {
        let (server, agent) = try installedFleet()
        try KeyFiles.writePrivateKey(server.tuf!.online, to: agent.dir.file("stolen-online.key"))
        let year3000 = "32503680000"
        let proxy = try HostileProxy(.checkinCompromised, upstream: server.url, arguments: ["--key", agent.dir.file("stolen-online.key"), "--issued", year3000])
        agent.config["server_url"] = proxy.url
        try agent.writeConfig()
        #expect(try agent.once().status == 0)
        let state = try JSONSerialization.jsonObject(with: Data(try FileSystem.readFile(agent.statePath + "/trust/state.json", limit: 1 << 16))) as? [String: Any]
        let floor = state?["clock_floor"] as? Int64 ?? 0
        #expect(floor > 0 && floor <= Timestamp.epochSeconds(), "clock floor \(floor)")
        let text = try run(Binaries.path("ota-agent"), ["status", "--config", agent.configPath]).stdout
        #expect(text.contains("behind the server's"), "\(text)")
        // The device is not bricked: back on the honest server, a new release installs.
        agent.config["server_url"] = server.url
        try agent.writeConfig()
        try server.publish(name: "digits", version: "2.0.0", files: Self.v2)
        try server.release([("digits", "2.0.0", "stable")])
        try server.deploy("digits", "2.0.0")
        #expect(try agent.once().status == 0)
        try agent.checkCurrentSlot("digits", holds: Self.v2)
    }

    @Test("A walked root that can no longer be read fails closed: no fallback to older keys")
    func unreadableWalkedRoot() throws {
        let (server, agent) = try installedFleet()
        var keys = server.tuf!
        keys.release = [try Ed25519PrivateKey.generate()]
        _ = try server.admin().publishRoot(try keys.signedRoot(keys.root(version: 2)))
        _ = try agent.once()
        #expect(try report(agent)["root_version"] as? Int == 2)
        try FileSystem.writeAtomically(Array("{ not a root".utf8), to: agent.statePath + "/trust/root.json")
        let result = try agent.once()
        #expect(result.status != 0)
        #expect(result.stderr.contains("cannot be used"), "\(result.stderr)")
        try FileSystem.remove(agent.statePath + "/trust/root.json")
        let again = try agent.once()
        #expect(again.stderr.contains("older than version 2 this device trusted before"), "\(again.stderr)")
        try agent.checkCurrentSlot("digits", holds: Self.v1)
    }

    @Test("A root whose online threshold the server cannot meet is refused before it is published")
    func unsatisfiableOnlineRole() throws {
        let server = try TestServer(tuf: true)
        let keys = server.tuf!
        var root = keys.root(version: 2)
        let extra = try Ed25519PrivateKey.generate().publicKey
        root.keys[extra.tufKeyID] = TUFKey(extra)
        root.roles["timestamp"] = TUFRole(keyids: [keys.online.publicKey.tufKeyID, extra.tufKeyID].sorted(), threshold: 2)
        #expect(errorText { _ = try server.admin().publishRoot(try keys.signedRoot(root)) }?.contains("needs 2 of its timestamp keys, and the server holds 1") == true)
        #expect(try server.admin().trustSummary().rootVersion == 1)
    }

    @Test("A replayed answer, and an answer meant for another device, are refused")
    func replayedAndMisaddressedAnswers() throws {
        let (server, direct) = try installedFleet()
        let proxy = try HostileProxy(.checkinReplay, upstream: server.url)
        direct.config["server_url"] = proxy.url
        try direct.writeConfig()
        #expect(try direct.once().status == 0)  // recorded by the proxy, and verified
        let replayed = try direct.once()
        #expect(replayed.status != 0)
        try expectProblem(direct, "a replay")
        let other = try TestAgent(server, id: "cam-2", extra: ["server_url": proxy.url])
        _ = try other.once()
        _ = try other.once()
        try expectProblem(other, "addressed to device 'cam-1'")
        try direct.checkCurrentSlot("digits", holds: Self.v1)
        _ = try direct.once()  // its next check-in carries the report
        try eventually("the server sees the device's report of the replay") {
            try serverTrust(server, "cam-1").trust?.problem?.contains("a replay") == true && serverTrust(server, "cam-1").trustStale
        }
    }

    @Test("An answer signed by a key the device's root does not name is refused")
    func answerSignedByUnknownKey() throws {
        let server = try TestServer(tuf: true)
        // The device holds a root whose online key is another one.
        var keys = server.tuf!
        keys.online = try Ed25519PrivateKey.generate()
        let agent = try TestAgent(server, id: "cam-1")
        try FileSystem.writeAtomically(try keys.signedRoot(keys.root(version: 1)), to: agent.dir.file("trust.json"))
        agent.config["trust_root"] = agent.dir.file("trust.json")
        try agent.writeConfig()
        #expect(try agent.once().status != 0)
        try expectProblem(agent, "not signed by the check-in key of root version 1")
    }

    @Test("Expired release metadata stops new updates; the device and the server show stale trust")
    func expiredReleaseMetadata() throws {
        let (server, agent) = try installedFleet()
        try server.publish(name: "digits", version: "2.0.0", files: Self.v2)
        try server.release([("digits", "1.0.0", "stable"), ("digits", "2.0.0", "stable")], expiresIn: Self.shortLife)
        try letShortLifePass(agent)
        try server.deploy("digits", "2.0.0")
        _ = try agent.once()
        try agent.checkCurrentSlot("digits", holds: Self.v1)
        try expectProblem(agent, "targets version 2 expired")
        #expect(try trust(agent)["stale"] as? Bool == true)
        let text = try run(Binaries.path("ota-agent"), ["status", "--config", agent.configPath]).stdout
        #expect(text.contains("STALE"), "\(text)")
        _ = try agent.once()  // its next check-in carries the report
        try eventually("the server shows the device's trust as stale") { try serverTrust(server, "cam-1").trustStale }
        #expect(try server.admin().trustSummary().staleDevices == 1)
        // Renewed release metadata makes it fresh again, and the update goes on.
        try server.release([("digits", "1.0.0", "stable"), ("digits", "2.0.0", "stable")])
        #expect(try agent.once().status == 0)
        try agent.checkCurrentSlot("digits", holds: Self.v2)
        #expect(try report(agent)["problem"] == nil)
    }

    @Test("An update under way pauses while trust is stale, and still ends at max_update_age_s")
    func stalePauseEnds() throws {
        let (server, agent) = try installedFleet()
        try server.publish(name: "digits", version: "2.0.0", files: Self.v2)
        try server.release([("digits", "1.0.0", "stable"), ("digits", "2.0.0", "stable")], expiresIn: Self.shortLife)
        try server.deploy("digits", "2.0.0")
        _ = try agent.once(crashAt: "downloaded")
        let journal = agent.statePath + "/journal/digits.json"
        #expect(FileSystem.exists(journal))
        try letShortLifePass(agent)
        _ = try agent.once()
        #expect(FileSystem.exists(journal), "paused, not ended, while the release metadata is expired")
        try agent.checkCurrentSlot("digits", holds: Self.v1)
        // Started three days and a minute ago: it ends now, whatever holds it up.
        var object = try JSONSerialization.jsonObject(with: Data(try FileSystem.readFile(journal, limit: 1 << 20))) as! [String: Any]
        object["started_at"] = Timestamp.format(secondsSinceEpoch: Timestamp.epochSeconds() - 3 * 86_400 - 60)
        try FileSystem.writeAtomically(Array(try JSONSerialization.data(withJSONObject: object)), to: journal)
        _ = try agent.once()
        #expect(!FileSystem.exists(journal))
        try agent.checkCurrentSlot("digits", holds: Self.v1)
        try eventually("the server learns why it ended") {
            try server.admin().device("cam-1").events.contains { $0.detail.contains("did not finish within") && $0.detail.contains("trust was not fresh") }
        }
    }

    @Test("Release metadata rolled back to an older version by a compromised server is refused")
    func rolledBackReleaseMetadata() throws {
        let (server, agent) = try installedFleet()
        try server.release([("digits", "1.0.0", "stable")])
        _ = try agent.once()
        #expect(try report(agent)["targets_version"] as? Int == 2)
        // The attacker holds the server and its online key: it serves targets version 1 again.
        server.stop()
        let deleted = try server.sql("DELETE FROM trust_metadata WHERE role = 'targets' AND version = 2")
        #expect(deleted.status == 0, "\(deleted)")
        try server.start()
        agent.config["server_url"] = server.url  // a new port
        try agent.writeConfig()
        _ = try agent.once()
        try expectProblem(agent, "names targets.json version 1, older than the trusted 2 (rollback)")
        #expect(try report(agent)["targets_version"] as? Int == 2)
        try agent.checkCurrentSlot("digits", holds: Self.v1)
    }

    @Test("A root link signed by too few keys, or going back a version, is refused; the device keeps its root")
    func badRootLinks() throws {
        let (server, agent) = try installedFleet()
        let keys = server.tuf!
        var stranger = keys
        stranger.rootKeys = [try Ed25519PrivateKey.generate()]
        for (bytes, reason) in [(try stranger.signedRoot(keys.root(version: 2)), "has 0 valid signatures of the 1 required from the root keys of trusted version 1"),
                                (try keys.signedRoot(keys.root(version: 1)), "expected root version 2, got version 1")] {
            // The server itself refuses the link.
            #expect(throws: (any Error).self) { _ = try server.admin().publishRoot(bytes) }
            // A network attacker adds it to the (unsigned) metadata beside the signed answer.
            let root = agent.dir.file("injected-root.json")
            try FileSystem.writeAtomically(bytes, to: root)
            let proxy = try HostileProxy(.checkinInjectRoot, upstream: server.url, arguments: ["--root", root])
            agent.config["server_url"] = proxy.url
            try agent.writeConfig()
            _ = try agent.once()
            try expectProblem(agent, reason)
            #expect(try report(agent)["root_version"] as? Int == 1)
            try agent.checkCurrentSlot("digits", holds: Self.v1)
        }
    }

    @Test("Rotating the release key: devices follow the chain, and bundles signed only by the old key are refused")
    func releaseKeyRotation() throws {
        let (server, agent) = try installedFleet()
        let oldRelease = server.key
        var keys = server.tuf!
        keys.release = [try Ed25519PrivateKey.generate()]
        _ = try server.admin().publishRoot(try keys.signedRoot(keys.root(version: 2)))
        // Publishing with the old key is refused by the server too.
        #expect(throws: (any Error).self) { try server.publish(name: "digits", version: "2.0.0", files: Self.v2, signer: oldRelease) }
        // Until the release metadata is signed again with the new key, the device's trust is
        // not fresh, and `once` says so with its own exit code.
        #expect(try agent.once().status == 4)
        #expect(try report(agent)["root_version"] as? Int == 2)
        try server.publish(name: "digits", version: "2.0.0", files: Self.v2, signer: keys.release[0])
        try server.release([("digits", "2.0.0", "stable")], signer: keys.release[0])
        try server.deploy("digits", "2.0.0")
        #expect(try agent.once().status == 0)
        try agent.checkCurrentSlot("digits", holds: Self.v2)
        // Release metadata signed by the revoked key no longer publishes.
        #expect(throws: (any Error).self) { try server.release([("digits", "2.0.0", "stable")], signer: oldRelease) }
    }

    @Test("A device whose root expired keeps running, reports it, and accepts the next root from the chain")
    func expiredRoot() throws {
        let (server, agent) = try installedFleet(rootExpiresIn: Self.shortLife)
        try letShortLifePass(agent)
        try server.publish(name: "digits", version: "2.0.0", files: Self.v2)
        try server.release([("digits", "1.0.0", "stable"), ("digits", "2.0.0", "stable")])
        try server.deploy("digits", "2.0.0")
        _ = try agent.once()
        try expectProblem(agent, "root version 1 expired")
        try agent.checkCurrentSlot("digits", holds: Self.v1)
        #expect(try trust(agent)["stale"] as? Bool == true)
        // The operator extends it: the device walks to version 2 and goes on.
        let keys = server.tuf!
        _ = try server.admin().publishRoot(try keys.signedRoot(keys.root(version: 2)))
        #expect(try agent.once().status == 0)
        #expect(try report(agent)["root_version"] as? Int == 2)
        #expect(try report(agent)["problem"] == nil)
        try agent.checkCurrentSlot("digits", holds: Self.v2)
    }

    @Test("A device with a legacy trust.json moves to the TUF root its keys co-signed")
    func legacyDeviceMigrates() throws {
        // Root 1 co-signed by the legacy root's key (the release key): the chain starts at 0.
        let server = try TestServer(tuf: true, rootAlsoSignedByReleaseKey: true)
        try server.publish(name: "digits", version: "1.0.0", files: Self.v1)
        try server.release([("digits", "1.0.0", "stable")])
        try server.deploy("digits", "1.0.0")
        let agent = try TestAgent(server, id: "cam-1")
        try FileSystem.writeAtomically(try TrustRoot(keys: [server.key.publicKey], threshold: 1).encoded(), to: agent.dir.file("legacy.json"))
        agent.config["trust_root"] = agent.dir.file("legacy.json")
        try agent.writeConfig()
        #expect(try agent.once().status == 0)
        #expect(try report(agent)["root_version"] as? Int == 1)
        try agent.checkCurrentSlot("digits", holds: Self.v1)
    }
}
