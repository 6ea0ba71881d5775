import OTAAgent
import OTAClient
import OTACore
import TestSupport
import Testing

/// The device's trust in process, with a TUF repository in memory and a clock the test moves:
/// what stale or withdrawn releases, and a server that signs wrongly, do to updates.
@Suite("The device's trust, in process")
struct TrustInProcessTests {
    @Test("Release metadata that expires stops new updates and pauses one before activation; fresh metadata lets it go on")
    func staleMetadataPauses() throws {
        let device = try LocalDevice(tuf: true)
        let repository = try #require(device.repository)
        repository.lifetimeSeconds = 3600
        try repository.publish()
        try device.cycle()
        // Offered, but the server renews nothing: two hours on, what the device holds expired.
        let v1 = try device.bundle("1.0.0")
        device.fleet.assign(v1)
        device.clock.advance(seconds: 7200)
        let outcome = try device.cycle()
        #expect(outcome.waitingForTrust == ["digits"] && outcome.trustProblem != nil, "\(outcome)")
        #expect(device.fleet.calls(.content) == 0 && device.currentSlot() == nil)
        #expect(try device.status().trust.stale)
        // Fresh metadata that releases it: the update goes on.
        repository.lifetimeSeconds = 7 * 86_400
        try repository.release(v1)
        #expect(try device.cycle().committed == ["digits"])
    }

    @Test("A release withdrawn before activation ends the update; nothing goes live")
    func withdrawn() throws {
        let device = try LocalDevice(tuf: true)
        let v1 = try device.bundle("1.0.0")
        try device.deploy(v1)
        device.fleet.fail(.content, .status(503))
        try device.cycle()
        #expect(device.journalExists)
        try device.repository?.withdraw(v1)
        let outcome = try device.cycle()
        #expect(outcome.abandoned == ["digits"], "\(outcome)")
        #expect(device.fleet.events.last?.detail.hasPrefix("withdrawn before activation") == true)
        #expect(device.currentSlot() == nil)
    }

    @Test("An answer signed by a key the root does not name, or bound to another device, is refused whole", arguments: [true, false])
    func compromisedServer(wrongKey: Bool) throws {
        let device = try LocalDevice(tuf: true)
        try device.cycle()
        try device.deploy(try device.bundle("1.0.0"))
        if wrongKey { device.repository?.answerKey = try Ed25519PrivateKey.generate() } else { device.fleet.answerAs = "dev-2" }
        let outcome = try device.cycle()
        #expect(outcome.error?.contains("refused the server's answer") == true, "\(outcome)")
        #expect(device.fleet.calls(.content) == 0 && !device.journalExists)
        #expect(try device.status().trust.report.problem?.contains("refused the server's answer") == true)
    }

    @Test("A device clock set back to 1970 cannot revive expired metadata: expiry is judged against the clock floor")
    func clockFloor() throws {
        let device = try LocalDevice(tuf: true, serverClock: TestClock())
        try device.cycle()
        device.clock.set("1970-01-02T00:00:00Z")
        try device.deploy(try device.bundle("1.0.0"))
        let outcome = try device.cycle()
        // The answer is issued at the server's time; the device's trust is judged no earlier than
        // the latest time both clocks reached, so the update goes on with honest metadata.
        #expect(outcome.committed == ["digits"], "\(outcome)")
        #expect(try device.status().trust.clockBehindServerSeconds ?? 0 > 86_400)
    }
}
