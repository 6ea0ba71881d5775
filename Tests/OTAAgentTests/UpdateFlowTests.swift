import Foundation
import OTAClient
import OTACore
import TestSupport
import Testing

/// End to end: a real server, a real agent process, real files. On SQLite only: what these
/// stories prove is in the agent; what the server stores of them (assignments, memberships,
/// events, what runs) is proven on PostgreSQL by `FleetAPITests`, `RolloutTests` and
/// `ClusterEndToEndTests` (14 CPU seconds of the PostgreSQL pass saved).
@Suite("Agent updates end to end")
struct UpdateFlowTests {
    static let v1 = ["model.onnx": Array("weights-v1".utf8), "labels.txt": Array("0\n1\n".utf8)]
    static let v2 = ["model.onnx": Array("weights-v2-better".utf8), "labels.txt": Array("0\n1\n".utf8)]

    func events(_ server: TestServer, _ device: String) throws -> [AdminAPI.EventRecord] {
        try server.admin().device(try DeviceID(device)).events.reversed()
    }

    func running(_ server: TestServer, _ device: String) throws -> [String] {
        try server.admin().device(try DeviceID(device)).device.installed.map { "\($0.name) \($0.version) \($0.state)" }
    }

    @Test("Happy path: the agent registers, installs, health-checks and commits; the server sees it run")
    func happyPath() throws {
        let server = try TestServer()
        try server.publish(name: "digits", version: "1.0.0", files: Self.v1)
        let deployment = try server.deploy("digits", "1.0.0")
        let agent = try TestAgent(server, id: "cam-1")
        let result = try agent.once()
        #expect(result.status == 0, "\(result)")
        try agent.checkCurrentSlot("digits", holds: Self.v1)
        #expect(!agent.journalExists)
        try eventually("server sees 1.0.0") { try running(server, "cam-1") == ["digits 1.0.0 committed"] }
        #expect(try events(server, "cam-1").map(\.state.rawValue) == ["downloading", "downloaded", "installing", "health-check", "succeeded"])
        #expect(try server.admin().deployment(deployment.id).counts.succeeded == 1)
        // Nothing more to do on the next cycle.
        #expect(try agent.once().status == 0)
        #expect(try events(server, "cam-1").count == 5)
    }

    @Test("The second update downloads only the changed file and hard-links the rest")
    func onlyChangedFilesTravel() throws {
        let server = try TestServer()
        try server.publish(name: "digits", version: "1.0.0", files: Self.v1)
        _ = try server.deploy("digits", "1.0.0")
        let agent = try TestAgent(server, id: "cam-1")
        #expect(try agent.once().status == 0)
        try server.publish(name: "digits", version: "2.0.0", files: Self.v2)
        _ = try server.deploy("digits", "2.0.0")
        let before = try server.metric("ota_content_bytes_sent_total")
        #expect(try agent.once().status == 0)
        try agent.checkCurrentSlot("digits", holds: Self.v2)
        let sent = try server.metric("ota_content_bytes_sent_total") - before
        #expect(Int(sent) == Self.v2["model.onnx"]!.count)
        let downloaded = try #require(try events(server, "cam-1").last { $0.state == .downloaded })
        #expect(downloaded.detail == "fetched \(Self.v2["model.onnx"]!.count) of \(Self.v2["model.onnx"]!.count + Self.v2["labels.txt"]!.count) bytes; 1 of 2 files already on the device")
        let slots = agent.statePath + "/slots/digits/"
        let old = try FileManager.default.attributesOfItem(atPath: slots + "1.0.0-" + (try TestAgentSlots.digest(server, "1.0.0")) + "/labels.txt")
        let new = try FileManager.default.attributesOfItem(atPath: slots + agent.currentSlot("digits")! + "/labels.txt")
        #expect(old[.systemFileNumber] as? Int == new[.systemFileNumber] as? Int)
    }

    @Test("A failing health check rolls back to the previous version, reported; the server shows the old version running")
    func healthFailureRollsBack() throws {
        let server = try TestServer()
        try server.publish(name: "digits", version: "1.0.0", files: Self.v1)
        _ = try server.deploy("digits", "1.0.0")
        let agent = try TestAgent(server, id: "cam-1", extra: [
            "health_command": ["/bin/sh", "-c", #"if [ "$OTA_BUNDLE_VERSION" = "2.0.0" ]; then echo "accuracy 0.025 is below 0.9"; exit 1; fi"#],
        ])
        #expect(try agent.once().status == 0)
        let goodSlot = agent.currentSlot("digits")
        try server.publish(name: "digits", version: "2.0.0", files: Self.v2)
        let deployment = try server.deploy("digits", "2.0.0")
        let result = try agent.once()
        #expect(result.status == 2, "\(result)")
        #expect(agent.currentSlot("digits") == goodSlot)
        try agent.checkCurrentSlot("digits", holds: Self.v1)
        try eventually("server shows 1.0.0 running") { try running(server, "cam-1") == ["digits 1.0.0 committed"] }
        let rolledBack = try #require(try events(server, "cam-1").last)
        #expect(rolledBack.state == .rolledBack)
        #expect(rolledBack.detail.contains("health check failed: exit 1: accuracy 0.025 is below 0.9"))
        #expect(rolledBack.detail.contains("back on 1.0.0"))
        #expect(try server.admin().deployment(deployment.id).counts.rolledBack == 1)
        // Not retried in a loop.
        let count = try events(server, "cam-1").count
        #expect(try agent.once().status == 0)
        #expect(try events(server, "cam-1").count == count)
        let status = try agent.status()
        let bundle = try #require((status["bundles"] as? [[String: Any]])?.first)
        #expect(bundle["failed_versions"] as? [String] == ["2.0.0"])
        #expect(bundle["version"] as? String == "1.0.0")
    }

    @Test("Tampered content on the server's disk is given up after 3 tries with the reason; the version is not condemned and a new deployment installs it once fixed")
    func tamperedContent() throws {
        let server = try TestServer()
        try server.publish(name: "digits", version: "1.0.0", files: Self.v1)
        _ = try server.deploy("digits", "1.0.0")
        let agent = try TestAgent(server, id: "cam-1")
        #expect(try agent.once().status == 0)
        try server.publish(name: "digits", version: "2.0.0", files: Self.v2)
        let digest = SHA256Digest.of(Self.v2["model.onnx"]!)
        let stored = server.dataPath + "/content/\(digest.hex.prefix(2))/\(digest.hex)"
        try FileSystem.setPermissions(stored, 0o644)
        try FileSystem.writeAtomically(Array("weights-v2-EVILER".utf8), to: stored)
        let first = try server.deploy("digits", "2.0.0")
        #expect(try agent.once().status == 2)
        try agent.checkCurrentSlot("digits", holds: Self.v1)
        let failed = try #require(try events(server, "cam-1").last)
        #expect(failed.state == .failed)
        #expect(failed.detail.contains("gave up after 3 corrupt files: 'model.onnx' arrived complete but does not match its signed SHA-256"), "\(failed.detail)")
        #expect(!FileSystem.exists(agent.statePath + "/downloads/\(digest.hex).part"))
        #expect(!agent.journalExists)
        let bundle = try #require((try agent.status()["bundles"] as? [[String: Any]])?.first)
        #expect(bundle["failed_versions"] as? [String] == [])
        // This deployment is over for the device: not taken again, not reported again.
        let count = try events(server, "cam-1").count
        #expect(try agent.once().status == 0)
        #expect(try events(server, "cam-1").count == count)
        // The operator fixes the content and deploys the same version again: it installs.
        try FileSystem.writeAtomically(Self.v2["model.onnx"]!, to: stored)
        let second = try server.deploy("digits", "2.0.0")
        #expect(second.id != first.id)
        #expect(try agent.once().status == 0)
        try agent.checkCurrentSlot("digits", holds: Self.v2)
    }

    @Test("Wrong-hardware and older-version bundles are refused once, with the reason reported")
    func refusals() throws {
        let server = try TestServer()
        try server.publish(name: "digits", version: "2.0.0", files: Self.v2, compatible: ["test-hw"])
        _ = try server.deploy("digits", "2.0.0")
        let agent = try TestAgent(server, id: "cam-1")
        #expect(try agent.once().status == 0)
        // An older version: refused (anti-rollback).
        try server.publish(name: "digits", version: "1.5.0", files: Self.v1)
        _ = try server.deploy("digits", "1.5.0")
        #expect(try agent.once().status == 2)
        try agent.checkCurrentSlot("digits", holds: Self.v2)
        let refusal = try #require(try events(server, "cam-1").last)
        #expect(refusal.state == .failed && refusal.detail.contains("not newer than the installed 2.0.0 (anti-rollback)"))
        // The device now says it is other hardware (a misconfigured server or a lying one):
        // the bundle's signed compatible list decides.
        try server.publish(name: "other", version: "1.0.0", files: ["f": [1]], compatible: ["test-hw"])
        agent.config["hardware"] = "different-hw"
        try agent.writeConfig()
        _ = try server.deploy("other", "1.0.0")
        #expect(try agent.once().status == 2)
        let hardware = try #require(try events(server, "cam-1").last)
        #expect(hardware.detail.contains("hardware different-hw is not in the bundle's compatible list (test-hw)"))
        #expect(agent.currentSlot("other") == nil)
        // Reported once, not on every poll.
        let count = try events(server, "cam-1").count
        #expect(try agent.once().status == 0)
        #expect(try events(server, "cam-1").count == count)
    }

    @Test("A bundle the device's own trust root does not accept is refused even if the server trusts it")
    func deviceTrustRootDecides() throws {
        let server = try TestServer()
        try server.publish(name: "digits", version: "1.0.0", files: Self.v1)
        _ = try server.deploy("digits", "1.0.0")
        let otherKey = try Ed25519PrivateKey.generate()
        let agent = try TestAgent(server, id: "cam-1")
        try FileSystem.writeAtomically(try TrustRoot(keys: [otherKey.publicKey], threshold: 1).encoded(), to: agent.dir.file("trust.json"))
        agent.config["trust_root"] = agent.dir.file("trust.json")
        try agent.writeConfig()
        #expect(try agent.once().status == 2)
        #expect(agent.currentSlot("digits") == nil)
        let refusal = try #require(try events(server, "cam-1").last)
        #expect(refusal.detail.contains("does not verify against this device's trust root"))
    }

    @Test("An interrupted download resumes: the server sends only the rest")
    func downloadResumes() throws {
        let server = try TestServer()
        let big = (0..<(8 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ $0 >> 9) }
        try server.publish(name: "digits", version: "1.0.0", files: ["model.onnx": big])
        _ = try server.deploy("digits", "1.0.0")
        let agent = try TestAgent(server, id: "cam-1", extra: ["max_download_bytes_per_s": 4 << 20])
        let crashed = try agent.once(crashAt: "download-midway")
        #expect(crashed.status == 99)
        let digest = SHA256Digest.of(big)
        let partial = FileSystem.fileSize(agent.statePath + "/downloads/\(digest.hex).part") ?? 0
        #expect(partial >= UInt64(big.count / 2) && partial < UInt64(big.count))
        try eventually("first transfer ended") { try server.metric("ota_content_downloads_total") == 1 }
        Thread.sleep(forTimeInterval: 0.5)
        let before = try server.metric("ota_content_bytes_sent_total")
        agent.config["max_download_bytes_per_s"] = nil
        try agent.writeConfig()
        let result = try agent.once()
        #expect(result.status == 0, "\(result)")
        #expect(result.stderr.contains("resumed at byte \(partial)"))
        try agent.checkCurrentSlot("digits", holds: ["model.onnx": big])
        try eventually("bytes counted") { try server.metric("ota_content_bytes_sent_total") - before == Double(UInt64(big.count) - partial) }
    }

    @Test("A queued event this agent cannot read is dropped from the outbox; the events after it still arrive")
    func refusedEventDoesNotBlockTheOutbox() throws {
        let server = try TestServer()
        try server.publish(name: "digits", version: "1.0.0", files: Self.v1)
        let deployment = try server.deploy("digits", "1.0.0")
        let agent = try TestAgent(server, id: "cam-1")
        #expect(try agent.once().status == 0)
        // An event written by an older agent with a time the server cannot read, then a good one.
        func event(detail: String, at: String) -> [String: Any] {
            ["deployment_id": deployment.id.rawValue, "bundle_name": "digits", "version": "1.0.0", "state": "succeeded", "detail": detail, "at": at]
        }
        let queued = [event(detail: "unreadable time", at: "yesterday"), event(detail: "queued after the refused one", at: SystemClock().now.rfc3339)]
        try FileSystem.writeAtomically(Array(try JSONSerialization.data(withJSONObject: queued)), to: agent.statePath + "/outbox.json")
        let result = try agent.once()
        #expect(result.status == 0, "\(result)")
        #expect(result.stderr.contains("cannot read a queued event"), "\(result.stderr)")
        let details = try events(server, "cam-1").map(\.detail)
        #expect(details.contains("queued after the refused one"))
        #expect(!details.contains("unreadable time"))
        let left = try JSONSerialization.jsonObject(with: Data(try FileSystem.readFile(agent.statePath + "/outbox.json", limit: 1 << 20)))
        #expect((left as? [Any])?.isEmpty == true)
    }

    @Test("Several independently versioned bundles live side by side")
    func severalBundles() throws {
        let server = try TestServer()
        try server.publish(name: "detector", version: "1.0.0", files: ["d.bin": [1]])
        try server.publish(name: "classifier", version: "3.1.0", files: ["c.bin": [2]])
        _ = try server.deploy("detector", "1.0.0")
        _ = try server.deploy("classifier", "3.1.0")
        let agent = try TestAgent(server, id: "cam-1")
        #expect(try agent.once().status == 0)
        try agent.checkCurrentSlot("detector", holds: ["d.bin": [1]])
        try agent.checkCurrentSlot("classifier", holds: ["c.bin": [2]])
        try eventually("both reported") { try running(server, "cam-1") == ["classifier 3.1.0 committed", "detector 1.0.0 committed"] }
        try server.publish(name: "detector", version: "1.1.0", files: ["d.bin": [3]])
        _ = try server.deploy("detector", "1.1.0")
        #expect(try agent.once().status == 0)
        try agent.checkCurrentSlot("detector", holds: ["d.bin": [3]])
        try agent.checkCurrentSlot("classifier", holds: ["c.bin": [2]])
    }

    @Test("The bundle's own self-test runs only where the device allows it")
    func bundleSelfTest() throws {
        let server = try TestServer()
        let failing = Array("#!/bin/sh\necho self-test says no\nexit 3\n".utf8)
        try server.publish(name: "digits", version: "1.0.0", files: ["model.onnx": [1], "selftest.sh": failing], healthCommand: "selftest.sh")
        _ = try server.deploy("digits", "1.0.0")
        let trusting = try TestAgent(server, id: "allows", extra: ["allow_bundle_health_check": true])
        #expect(try trusting.once().status == 2)
        #expect(trusting.currentSlot("digits") == nil)
        let detail = try #require(try events(server, "allows").last).detail
        #expect(detail.contains("bundle self-test selftest.sh: exit 3: self-test says no"))
        let cautious = try TestAgent(server, id: "refuses")
        #expect(try cautious.once().status == 0)
        try cautious.checkCurrentSlot("digits", holds: ["model.onnx": [1], "selftest.sh": failing])
    }

    @Test("The daemon checks in by itself and stops cleanly on SIGTERM")
    func daemon() throws {
        let server = try TestServer()
        try server.publish(name: "digits", version: "1.0.0", files: Self.v1)
        _ = try server.deploy("digits", "1.0.0")
        let agent = try TestAgent(server, id: "cam-1")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Binaries.path("ota-agent"))
        process.arguments = ["run", "--config", agent.configPath]
        process.standardError = FileHandle.nullDevice
        try process.run()
        try eventually("installed by the daemon") { agent.currentSlot("digits") != nil && !agent.journalExists }
        try server.publish(name: "digits", version: "2.0.0", files: Self.v2)
        _ = try server.deploy("digits", "2.0.0")
        try eventually("updated by the daemon") { (try? agent.checkCurrentSlot("digits", holds: Self.v2)) != nil }
        process.terminate()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
    }
}

enum TestAgentSlots {
    static func digest(_ server: TestServer, _ version: String) throws -> String {
        try server.admin().bundle(name: "digits", version: try SemanticVersion(version)).digest.short
    }
}
