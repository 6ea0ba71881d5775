import Foundation
import OTAClient
import OTACore
import TestSupport
import Testing

/// Every update ends: committed, rolled back, given up or abandoned, with a reason, and a
/// bad network alone never condemns a version. Real server, real agent processes, and a
/// proxy that spoils transfers the way flaky links and broken middleboxes do.
@Suite("Every update ends")
struct EveryUpdateEndsTests {
    static let v1 = ["model.onnx": Array("weights-v1".utf8), "labels.txt": Array("0\n1\n".utf8)]
    /// Large enough to be cut in its middle and resumed; random, so a wrong range shows.
    static let v2Model = SecureRandom.bytes(1 << 20)
    static let v2 = ["model.onnx": v2Model, "labels.txt": Array("0\n1\n".utf8)]

    func events(_ server: TestServer, _ device: String) throws -> [AdminAPI.EventRecord] {
        try server.admin().device(try DeviceID(device)).events.reversed()
    }

    /// A device running v1 with v2 deployed; `proxy` puts a spoiling network in between.
    func deviceWithV2Deployed(proxy mode: HostileProxy.Mode? = nil, extra: [String: Any] = [:])
        throws -> (server: TestServer, agent: TestAgent, proxy: HostileProxy?, deployment: AdminAPI.Deployment) {
        let server = try TestServer()
        try server.publish(name: "digits", version: "1.0.0", files: Self.v1)
        _ = try server.deploy("digits", "1.0.0")
        let agent = try TestAgent(server, id: "cam-1", extra: extra)
        try #require(try agent.once().status == 0)
        try server.publish(name: "digits", version: "2.0.0", files: Self.v2)
        let deployment = try server.deploy("digits", "2.0.0")
        var proxy: HostileProxy?
        if let mode {
            proxy = try HostileProxy(mode, upstream: server.url)
            agent.config["server_url"] = proxy!.url
            agent.attachments.append(proxy!)
            try agent.writeConfig()
        }
        return (server, agent, proxy, deployment)
    }

    /// Gives the device a trust root in which no bundle of the server's verifies.
    func trustOnlyAnotherKey(_ agent: TestAgent) throws {
        let otherKey = try Ed25519PrivateKey.generate()
        try FileSystem.writeAtomically(try TrustRoot(keys: [otherKey.publicKey], threshold: 1).encoded(), to: agent.dir.file("trust.json"))
        agent.config["trust_root"] = agent.dir.file("trust.json")
        try agent.writeConfig()
    }

    // MARK: Abandoned updates free the bundle name

    @Test("An update in progress whose deployment is cancelled is abandoned, and the next deployment of the name installs")
    func cancelledDeploymentIsAbandoned() throws {
        let (server, agent, _, deployment) = try deviceWithV2Deployed(extra: ["max_download_bytes_per_s": 1 << 20])
        try #require(try agent.once(crashAt: "download-midway").status == 99)
        try #require(agent.journalExists)
        // The server counts no event for a deployment once it is cancelled; the device's
        // report is kept in its history.
        _ = try server.admin(.operator).control(deployment.id, .cancel)
        let result = try agent.once()
        #expect(result.status == 0, "\(result)")
        try agent.checkCurrentSlot("digits", holds: Self.v1)
        #expect(!agent.journalExists)
        let abandoned = try #require(try events(server, "cam-1").first { $0.state == .abandoned })
        #expect(abandoned.version == "2.0.0")
        #expect(abandoned.detail.contains("the server no longer offers it"), "\(abandoned.detail)")
        #expect(try FileSystem.list(agent.statePath + "/downloads").isEmpty)
        // The name is free: the next deployment installs.
        let v3 = ["model.onnx": Array("weights-v3".utf8), "labels.txt": Array("0\n1\n".utf8)]
        try server.publish(name: "digits", version: "3.0.0", files: v3)
        _ = try server.deploy("digits", "3.0.0")
        #expect(try agent.once().status == 0)
        try agent.checkCurrentSlot("digits", holds: v3)
        #expect(try events(server, "cam-1").last?.state == .succeeded)
    }

    @Test("An update in progress superseded by a newer deployment before it started on the server is abandoned for it")
    func supersededBeforeStart() throws {
        let (server, agent, _, _) = try deviceWithV2Deployed(extra: ["max_download_bytes_per_s": 1 << 20])
        try #require(try agent.once(crashAt: "download-midway").status == 99)
        // The crash came before the "downloading" event reached the server, which therefore
        // offers the newest deployment.
        try FileSystem.writeAtomically(Array("[]".utf8), to: agent.statePath + "/outbox.json")
        let v3 = ["model.onnx": Array("weights-v3".utf8), "labels.txt": Array("0\n1\n".utf8)]
        try server.publish(name: "digits", version: "3.0.0", files: v3)
        _ = try server.deploy("digits", "3.0.0")
        #expect(try agent.once().status == 0)
        try agent.checkCurrentSlot("digits", holds: v3)
        let abandoned = try #require(try events(server, "cam-1").first { $0.state == .abandoned })
        #expect(abandoned.detail.hasPrefix("superseded by 3.0.0"), "\(abandoned.detail)")
    }

    @Test("Content the server refuses (410) three cycles running abandons the update with the reason; the device keeps running v1")
    func goneContentAbandons() throws {
        let (server, agent, _, deployment) = try deviceWithV2Deployed(proxy: .contentGone)
        // A refusal may be a server that restarted and does not know the assignment yet:
        // the first cycles only wait.
        for _ in 0..<2 {
            let waiting = try agent.once()
            #expect(waiting.status == 1, "\(waiting)")
            #expect(agent.journalExists)
        }
        let result = try agent.once()
        #expect(result.status == 0, "\(result)")
        try agent.checkCurrentSlot("digits", holds: Self.v1)
        #expect(!agent.journalExists)
        let last = try #require(try events(server, "cam-1").last)
        #expect(last.state == .abandoned && last.deploymentID == deployment.id)
        #expect(last.detail.contains("the server no longer serves 'model.onnx' (the server answered 410"), "\(last.detail)")
        #expect(try server.admin().deployment(deployment.id).counts.failed == 1)
        // Not taken again from this deployment; the version is not condemned.
        #expect(try agent.once().status == 0)
        #expect(try events(server, "cam-1").filter { $0.state == .abandoned }.count == 1)
        let bundle = try #require((try agent.status()["bundles"] as? [[String: Any]])?.first)
        #expect(bundle["failed_versions"] as? [String] == [])
    }

    @Test("The same bundle deployed again after a cancel carries on and reports to the new deployment")
    func redeployedBundleCarriesOn() throws {
        let (server, agent, _, first) = try deviceWithV2Deployed(extra: ["max_download_bytes_per_s": 1 << 20])
        try #require(try agent.once(crashAt: "download-midway").status == 99)
        _ = try server.admin(.operator).control(first.id, .cancel)
        let second = try server.deploy("digits", "2.0.0")
        let result = try agent.once()
        #expect(result.status == 0, "\(result)")
        #expect(result.stderr.contains("resumed at byte"), "the download started again from zero: \(result)")
        try agent.checkCurrentSlot("digits", holds: Self.v2)
        #expect(try server.admin().deployment(second.id).counts.succeeded == 1)
    }

    @Test("A journal older than max_update_age_s is abandoned before activation")
    func agedJournalIsAbandoned() throws {
        let (server, agent, _, _) = try deviceWithV2Deployed(extra: ["max_download_bytes_per_s": 1 << 20])
        try #require(try agent.once(crashAt: "download-midway").status == 99)
        let path = agent.statePath + "/journal/digits.json"
        var journal = try #require(try JSONSerialization.jsonObject(with: Data(try FileSystem.readFile(path))) as? [String: Any])
        journal["started_at"] = Timestamp.format(secondsSinceEpoch: Timestamp.epochSeconds() - 4 * 86_400)
        try FileSystem.writeAtomically(Array(try JSONSerialization.data(withJSONObject: journal)), to: path)
        _ = try agent.once()
        let abandoned = try #require(try events(server, "cam-1").first { $0.state == .abandoned })
        #expect(abandoned.detail.contains("did not finish within 259200 s"), "\(abandoned.detail)")
        try agent.checkCurrentSlot("digits", holds: Self.v1)
    }

    // MARK: The network alone never condemns a version

    @Test("A transfer that is cut, ends early, is reset or stalls is resumed, and the update commits",
          arguments: [HostileProxy.Mode.contentCutFirst, .contentShortFirst, .contentResetFirst, .contentStallFirst])
    func brokenTransfersResume(mode: HostileProxy.Mode) throws {
        let (server, agent, proxy, _) = try deviceWithV2Deployed(proxy: mode, extra: ["stall_timeout_s": 2])
        let result = try agent.once()
        #expect(result.status == 0, "\(result)")
        try agent.checkCurrentSlot("digits", holds: Self.v2)
        let digest = SHA256Digest.of(Self.v2Model).hex
        let asked = proxy!.requests.filter { $0.contains(digest) }
        #expect(asked.count == 2, "\(asked)")
        #expect(asked.last?.contains("range=bytes=") == true, "the second request must resume: \(asked)")
        #expect(!(try events(server, "cam-1").contains { $0.state == .failed }))
    }

    @Test("A check-in answer trickled a byte a second is cut at request_timeout_s; the agent does not hang")
    func trickledAnswerTimesOut() throws {
        let (_, agent, _, _) = try deviceWithV2Deployed(proxy: .checkinTrickle, extra: ["request_timeout_s": 3])
        let started = Date()
        let result = try agent.once()
        #expect(Date().timeIntervalSince(started) < 15)
        #expect(result.status == 1, "\(result)")
        #expect(try agent.status()["last_error"] as? String ?? "" != "")
    }

    // MARK: After activation, every outcome is commit or rollback

    @Test("A health check that cannot start rolls the update back instead of leaving it on trial",
          arguments: [["/nonexistent/health-check"], ["/etc/hostname"]])
    func unstartableHealthCheckRollsBack(command: [String]) throws {
        let (server, agent, _, deployment) = try deviceWithV2Deployed()
        agent.config["health_command"] = command
        try agent.writeConfig()
        let result = try agent.once()
        #expect(result.status == 2, "\(result)")
        try agent.checkCurrentSlot("digits", holds: Self.v1)
        #expect(!agent.journalExists)
        let last = try #require(try events(server, "cam-1").last)
        #expect(last.state == .rolledBack && last.detail.contains("cannot run \(command[0])"), "\(last.detail)")
        #expect(try server.admin().deployment(deployment.id).counts.rolledBack == 1)
    }

    // MARK: Resumed journals and reused files are checked again

    @Test("A resumed update whose bundle no longer verifies against the trust root is given up before activation")
    func resumedJournalVerifiedAgain() throws {
        let (server, agent, _, _) = try deviceWithV2Deployed(extra: ["max_download_bytes_per_s": 1 << 20])
        try #require(try agent.once(crashAt: "download-midway").status == 99)
        try trustOnlyAnotherKey(agent)
        #expect(try agent.once().status == 2)
        try agent.checkCurrentSlot("digits", holds: Self.v1)
        let last = try #require(try events(server, "cam-1").last { $0.version == "2.0.0" })
        #expect(last.state == .failed && last.detail.contains("no longer verifies against this device's trust root"), "\(last.detail)")
    }

    @Test("A live update whose bundle no longer verifies is rolled back when the agent resumes")
    func resumedLiveJournalVerifiedAgain() throws {
        let (server, agent, _, _) = try deviceWithV2Deployed()
        try #require(try agent.once(crashAt: "activated").status == 99)
        try trustOnlyAnotherKey(agent)
        _ = try agent.once()
        try agent.checkCurrentSlot("digits", holds: Self.v1)
        let last = try #require(try events(server, "cam-1").last { $0.version == "2.0.0" })
        #expect(last.state == .rolledBack && last.detail.contains("no longer verifies"), "\(last.detail)")
    }

    @Test("A file of the live slot damaged on disk is fetched again, not carried into the new slot")
    func damagedReusedFileIsFetched() throws {
        let (server, agent, _, _) = try deviceWithV2Deployed()
        let live = agent.statePath + "/slots/digits/" + agent.currentSlot("digits")! + "/labels.txt"
        try FileSystem.setPermissions(live, 0o644)
        let file = try File.open(live, .readWrite)
        try file.write(Array("X".utf8))
        file.close()
        let before = try server.metric("ota_content_bytes_sent_total")
        #expect(try agent.once().status == 0)
        try agent.checkCurrentSlot("digits", holds: Self.v2)
        try eventually("both files sent") {
            try server.metric("ota_content_bytes_sent_total") - before == Double(Self.v2Model.count + Self.v2["labels.txt"]!.count)
        }
    }

    @Test("Reusing a file that needs other permissions copies it: the live slot's file never changes mode")
    func permissionsNeverChangeTheLiveSlot() throws {
        let server = try TestServer()
        let script = Array("#!/bin/sh\nexit 0\n".utf8)
        try server.publish(name: "digits", version: "1.0.0", files: ["model.onnx": [1], "check.sh": script])
        _ = try server.deploy("digits", "1.0.0")
        let agent = try TestAgent(server, id: "cam-1")
        #expect(try agent.once().status == 0)
        let oldSlot = agent.statePath + "/slots/digits/" + agent.currentSlot("digits")!
        try server.publish(name: "digits", version: "2.0.0", files: ["model.onnx": [2], "check.sh": script], healthCommand: "check.sh")
        _ = try server.deploy("digits", "2.0.0")
        #expect(try agent.once().status == 0)
        let newSlot = agent.statePath + "/slots/digits/" + agent.currentSlot("digits")!
        #expect(FileSystem.mode(of: oldSlot + "/check.sh")?.permissions == 0o444)
        #expect(FileSystem.mode(of: newSlot + "/check.sh")?.permissions == 0o555)
    }

    // MARK: Self-tests are boxed in

    @Test("A bundle self-test runs unprivileged, without the agent's environment or the device's secrets, within the device's timeout")
    func selfTestIsBoxedIn() throws {
        let server = try TestServer()
        let probe = Array("""
            #!/bin/sh
            if cat "$OTA_BUNDLE_DIR/../../../credentials.json" >/dev/null 2>&1; then echo "read the credentials"; exit 1; fi
            if [ -n "$AGENT_SECRET" ]; then echo "saw the agent's environment"; exit 1; fi
            if [ "$(id -u)" = 0 ]; then echo "ran as root"; exit 1; fi
            echo "boxed in as uid $(id -u)"

            """.utf8)
        try server.publish(name: "digits", version: "1.0.0", files: ["model.onnx": [1], "selftest.sh": probe], healthCommand: "selftest.sh")
        _ = try server.deploy("digits", "1.0.0")
        let agent = try TestAgent(server, id: "cam-1", extra: ["allow_bundle_health_check": true])
        let result = try run(Binaries.path("ota-agent"), ["once", "--config", agent.configPath], environment: ["AGENT_SECRET": "hunter2"])
        #expect(result.status == 0, "\(result)")
        let success = try #require(try events(server, "cam-1").last)
        #expect(success.state == .succeeded && success.detail.contains("bundle self-test selftest.sh: exit 0: boxed in as uid 65534"), "\(success.detail)")

        // The bundle allows itself 60 s; the device allows 2.
        let slow = Array("#!/bin/sh\nsleep 30\n".utf8)
        try server.publish(name: "digits", version: "2.0.0", files: ["model.onnx": [2], "selftest.sh": slow], healthCommand: "selftest.sh")
        _ = try server.deploy("digits", "2.0.0")
        agent.config["health_timeout_s"] = 2
        try agent.writeConfig()
        let started = Date()
        #expect(try agent.once().status == 2)
        #expect(Date().timeIntervalSince(started) < 20)
        let rolledBack = try #require(try events(server, "cam-1").last)
        #expect(rolledBack.state == .rolledBack && rolledBack.detail.contains("bundle self-test selftest.sh: timed out"), "\(rolledBack.detail)")
    }
}
