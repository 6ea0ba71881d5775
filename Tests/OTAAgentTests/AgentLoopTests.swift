import OTAAgent
import OTAClient
import OTACore
import TestSupport
import Testing

/// The agent's cycle in process, against an in-memory fleet and a test clock: every way an
/// update ends, every refusal, what a hostile or slow server gets. Real files, real
/// signatures, real health commands; no server process, no sleep.
@Suite("The agent's cycle, in process")
struct AgentLoopTests {
    @Test("An offered bundle is verified, fetched, swapped in, health-checked and committed in one cycle", arguments: [false, true])
    func installs(tuf: Bool) throws {
        let device = try LocalDevice(tuf: tuf)
        let v1 = try device.bundle("1.0.0")
        try device.deploy(v1)
        let outcome = try device.cycle()
        #expect(outcome.committed == ["digits"] && outcome.error == nil, "\(outcome)")
        #expect(try device.liveFiles() == v1.files)
        #expect(device.reported == [.downloading, .downloaded, .installing, .healthCheck, .succeeded])
        #expect(!device.journalExists)
        // The next check-in says what runs, and nothing is done again.
        #expect(try device.cycle().committed.isEmpty)
        #expect(device.fleet.checkins.last?.installed.map(\.version) == ["1.0.0"])
    }

    @Test("An update replaces the live version and keeps the one before for a rollback")
    func updates() throws {
        let device = try LocalDevice()
        try device.deploy(try device.bundle("1.0.0"))
        try device.cycle()
        let v2 = try device.bundle("2.0.0", files: ["model.onnx": Array("v2".utf8), "labels.txt": [1, 2]])
        try device.deploy(v2, deploymentID: "dep_2")
        #expect(try device.cycle().committed == ["digits"])
        #expect(try device.liveFiles() == v2.files)
        let status = try device.status()
        #expect(status.bundles.first?.version == "2.0.0" && status.bundles.first?.previousVersion == "1.0.0")
    }

    // MARK: Refusals

    /// Offers `offered` to a device that runs `installed` (if any) and returns the one event
    /// the refusal reports.
    func refusal(_ device: LocalDevice, installed: TestBundle? = nil, offered: TestBundle, assignment: DeviceAPI.Assignment? = nil) throws -> DeviceAPI.Event {
        if let installed {
            try device.deploy(installed, deploymentID: "dep_0")
            #expect(try device.cycle().committed == [installed.manifest.name])
        }
        let before = device.fleet.events.count
        try device.deploy(offered, deploymentID: "dep_9")
        if let assignment { device.fleet.assignments = [assignment] }
        let outcome = try device.cycle()
        #expect(outcome.failed == [offered.manifest.name], "\(outcome)")
        // Reported once: the next cycles do not take it again, nor report it again.
        try device.cycle()
        let events = Array(device.fleet.events[before...])
        #expect(events.count == 1, "\(events.map(\.detail))")
        #expect(!device.journalExists)
        return try #require(events.first)
    }

    @Test("A bundle signed by a key the device does not trust is refused, and nothing is fetched")
    func untrusted() throws {
        let device = try LocalDevice()
        let stranger = try TestBundle("digits", "1.0.0", files: ["model.onnx": [1]], signer: try Ed25519PrivateKey.generate())
        let event = try refusal(device, offered: stranger)
        #expect(event.state == .failed && event.detail.hasPrefix("refused: the bundle does not verify against this device's trust root"))
        #expect(device.fleet.calls(.content) == 0)
    }

    @Test("A bundle for other hardware is refused")
    func incompatible() throws {
        let device = try LocalDevice()
        let event = try refusal(device, offered: try device.bundle("1.0.0", compatible: ["other-hw"]))
        #expect(event.detail == "refused: hardware test-hw is not in the bundle's compatible list (other-hw)")
    }

    @Test("An older version than the one installed is refused (anti-rollback)")
    func antiRollback() throws {
        let device = try LocalDevice()
        let event = try refusal(device, installed: try device.bundle("2.0.0"), offered: try device.bundle("1.0.0"))
        #expect(event.detail == "refused: version 1.0.0 is not newer than the installed 2.0.0 (anti-rollback)")
        #expect(try device.status().bundles.first?.version == "2.0.0")
    }

    @Test("A kind the device has no handler for is refused")
    func noHandler() throws {
        let device = try LocalDevice()
        let event = try refusal(device, offered: try device.bundle("1.0.0", name: "boot", kind: "bootloader"))
        #expect(event.detail == "refused: this device has no install handler for kind 'bootloader'")
    }

    @Test("An assignment whose name is not its signed manifest's is refused")
    func nameMismatch() throws {
        let device = try LocalDevice()
        let other = try device.bundle("1.0.0", name: "other")
        let assignment = DeviceAPI.Assignment(deploymentID: "dep_9", name: "digits", version: "1.0.0", digest: other.digest, envelope: other.envelope)
        device.fleet.store(other.files["model.onnx"]!)
        let before = device.fleet.events.count
        device.fleet.assignments = [assignment]
        #expect(try device.cycle().failed == ["digits"])
        #expect(device.fleet.events[before...].map(\.detail) == ["refused: the assignment names digits but the signed manifest is other"])
    }

    @Test("With a TUF root, a signed bundle that is not released on the device's channel is refused")
    func notReleased() throws {
        let device = try LocalDevice(tuf: true)
        let v1 = try device.bundle("1.0.0")
        device.fleet.assign(v1)
        #expect(try device.cycle().failed == ["digits"])
        #expect(device.fleet.events.last?.detail.contains("signed but not released on channel stable") == true)
    }

    @Test("A version whose health check failed is rolled back, and not tried again when offered anew")
    func failedVersionIsNotRetried() throws {
        let device = try LocalDevice()
        try device.deploy(try device.bundle("1.0.0"))
        try device.cycle()
        device.config["health_command"] = ["/bin/sh", "-c", "echo unhealthy; exit 1"]
        let v2 = try device.bundle("2.0.0")
        try device.deploy(v2, deploymentID: "dep_2")
        let outcome = try device.cycle()
        #expect(outcome.failed == ["digits"])
        #expect(device.reported.last == .rolledBack)
        #expect(device.fleet.events.last?.detail.contains("health check failed") == true)
        #expect(device.fleet.events.last?.detail.contains("back on 1.0.0") == true)
        #expect(try device.liveFiles() == (try device.bundle("1.0.0")).files)
        device.config["health_command"] = ["/bin/sh", "-c", "exit 0"]
        try device.deploy(v2, deploymentID: "dep_3")
        #expect(try device.cycle().failed == ["digits"])
        #expect(device.fleet.events.last?.detail == "refused: version 2.0.0 already failed on this device; it is not tried again")
    }

    @Test("A reload command that fails after the swap puts the previous version back, reported")
    func failedReloadRollsBack() throws {
        let device = try LocalDevice()
        try device.deploy(try device.bundle("1.0.0"))
        try device.cycle()
        // The application refuses the new version only: reloading the old one works.
        device.config["reload_command"] = ["/bin/sh", "-c", "[ \"$OTA_BUNDLE_VERSION\" != 2.0.0 ] || { echo refused; exit 3; }"]
        try device.deploy(try device.bundle("2.0.0"), deploymentID: "dep_2")
        let outcome = try device.cycle()
        #expect(outcome.failed == ["digits"])
        #expect(device.reported.last == .rolledBack)
        let detail = device.fleet.events.last?.detail ?? ""
        #expect(detail.contains("reload command failed") && detail.contains("back on 1.0.0"), "\(detail)")
        #expect(try device.liveFiles() == (try device.bundle("1.0.0")).files)
    }

    // MARK: Updates that end before activation

    @Test("An update the server stops offering is abandoned; its bundle name is free for the next")
    func abandonedWhenNoLongerOffered() throws {
        let device = try LocalDevice()
        try device.deploy(try device.bundle("1.0.0"))
        device.fleet.fail(.content, .status(503))
        #expect(try device.cycle().error != nil)
        #expect(device.journalExists)
        device.fleet.assignments = []
        let outcome = try device.cycle()
        #expect(outcome.abandoned == ["digits"] && !device.journalExists)
        #expect(device.fleet.events.last?.detail.hasPrefix("the server no longer offers it") == true)
        #expect(device.currentSlot() == nil)
    }

    @Test("A newer deployment of the same name supersedes one not yet live")
    func superseded() throws {
        let device = try LocalDevice()
        try device.deploy(try device.bundle("1.0.0"))
        device.fleet.fail(.content, .status(503))
        try device.cycle()
        let v2 = try device.bundle("2.0.0")
        try device.deploy(v2, deploymentID: "dep_2")
        let outcome = try device.cycle()
        #expect(outcome.committed == ["digits"], "\(outcome)")
        #expect(device.fleet.events.contains { $0.state == .abandoned && $0.detail == "superseded by 2.0.0 (deployment dep_2)" })
        #expect(try device.liveFiles() == v2.files)
    }

    @Test("An update that cannot finish within max_update_age_s ends, judged by the device's clock")
    func overdue() throws {
        let device = try LocalDevice()
        try device.deploy(try device.bundle("1.0.0"))
        device.fleet.fail(.content, .status(503), .status(503))
        try device.cycle()
        device.clock.advance(seconds: 2 * 86_400)
        #expect(try device.cycle().error != nil, "two days: still resumed")
        device.clock.advance(seconds: 2 * 86_400)
        let outcome = try device.cycle()
        #expect(outcome.abandoned == ["digits"], "\(outcome)")
        #expect(device.fleet.events.last?.detail == "the update did not finish within 259200 s (max_update_age_s)")
    }

    @Test("Corrupt content is fetched again, then given up after three; the version is not condemned")
    func corruptContent() throws {
        let device = try LocalDevice()
        try device.deploy(try device.bundle("1.0.0"))
        device.fleet.fail(.content, .corrupt, .corrupt, .corrupt)
        let outcome = try device.cycle()
        #expect(outcome.failed == ["digits"])
        #expect(device.fleet.events.last?.detail.hasPrefix("gave up after 3 corrupt files") == true)
        // A new deployment of the same version is a new attempt, and honest content installs.
        try device.deploy(try device.bundle("1.0.0"), deploymentID: "dep_2")
        #expect(try device.cycle().committed == ["digits"])
    }

    @Test("A transfer cut while it makes progress resumes at once; one that makes none waits for the next cycle")
    func cutsResume() throws {
        let device = try LocalDevice()
        let big = try device.bundle("1.0.0", files: ["model.onnx": SecureRandom.bytes(200_000)])
        try device.deploy(big)
        device.fleet.fail(.content, .cut(after: 50_000), .cut(after: 50_000), .cut(after: 0))
        #expect(try device.cycle().error != nil)
        #expect(device.journalExists)
        #expect(try device.cycle().committed == ["digits"])
        #expect(try device.liveFiles() == big.files)
        let fetched = try #require(device.fleet.events.first { $0.state == .downloaded }?.transfer)
        #expect(fetched.fetchedBytes == 200_000, "every byte was fetched once: resumed, never restarted")
    }

    // MARK: What the server says

    @Test("A server that asks to slow down is heard: Retry-After is the next wait, nothing changes", arguments: [429, 503])
    func slowDown(status: Int) throws {
        let device = try LocalDevice()
        try device.deploy(try device.bundle("1.0.0"))
        device.fleet.fail(.checkin, .status(status, retryAfter: 120))
        let outcome = try device.cycle()
        #expect(outcome.retryAfterSeconds == 120 && outcome.error != nil)
        #expect(device.fleet.calls(.content) == 0 && !device.journalExists)
    }

    @Test("A device the server no longer knows registers again at the next cycle, without its used token")
    func forgottenDevice() throws {
        let device = try LocalDevice()
        try device.cycle()
        #expect(device.fleet.calls(.register) == 1)
        device.fleet.forget(device.id)
        #expect(try device.cycle().error != nil)
        try device.cycle()
        #expect(device.fleet.calls(.register) == 2)
    }

    @Test("An answer that is not JSON, or names an assignment like a path, changes nothing", arguments: [
        Array("<html>proxy error</html>".utf8),
        Array(#"{"assignments":[{"deployment_id":"d","name":"../../escape","version":"1.0.0","digest":"\#(String(repeating: "a", count: 64))","envelope":{"payload":"","payloadType":"x","signatures":[]}}],"poll_interval_s":60}"#.utf8),
        Array(#"{"assignments":[],"poll_interval_s":-1}"#.utf8),
    ])
    func hostileAnswer(body: [UInt8]) throws {
        let device = try LocalDevice()
        try device.deploy(try device.bundle("1.0.0"))
        device.fleet.fail(.checkin, .answer(body))
        let outcome = try device.cycle()
        #expect(outcome.error?.contains("not what this client understands") == true, "\(outcome)")
        #expect(device.fleet.calls(.content) == 0 && !device.journalExists && device.fleet.events.isEmpty)
        #expect(try device.cycle().committed == ["digits"], "the next honest answer is taken")
    }
}
