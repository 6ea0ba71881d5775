import Foundation
@testable import OTAAgent
import OTAClient
import OTACore
import TestSupport
import Testing

/// A power cut at every crash point of an update, in process: the agent's thread ends dead
/// at the point (nothing after it runs, as after `kill -9`), and a fresh agent over the same
/// state folder takes over. Whatever the point, the update ends: committed, or (after
/// activation, when the new version is unhealthy) rolled back, and the device runs a version
/// whose every file matches its signature. Its outcome is reported at least once (a crash
/// between the report and the journal's removal repeats it; the server counts it once).
@Suite("A crash at any point of an update, in process")
struct CrashPointTests {
    static let updatePoints: [CrashPoint] = [.verified, .downloading, .downloadMidway, .downloaded, .staged, .activated, .reloaded,
                                             .trial, .committing, .committed]

    @Test("A crash at any step of a healthy update still ends with the new version committed, once", arguments: updatePoints)
    func healthyUpdate(point: CrashPoint) throws {
        let device = try LocalDevice(config: ["reload_command": ["/bin/true"]])
        let v1 = try device.bundle("1.0.0", files: ["model.onnx": SecureRandom.bytes(40_000)])
        try device.deploy(v1)
        try device.cycle()
        let v2 = try device.bundle("2.0.0", files: ["model.onnx": SecureRandom.bytes(40_000), "labels.txt": [1]])
        try device.deploy(v2, deploymentID: "dep_2")
        #expect(try device.cycle(crashingAt: point), "the update passed \(point.rawValue)")
        // The next start, and the one after it, finish the update and do nothing more.
        try device.cycle()
        try device.cycle()
        #expect(try device.liveFiles() == v2.files)
        #expect(!device.journalExists)
        let commits = device.fleet.events.filter { $0.state == .succeeded && $0.version == "2.0.0" }
        #expect(commits.count == (point == .committed ? 2 : 1), "\(device.reported)")
        #expect(try device.status().bundles.first?.previousVersion == "1.0.0")
    }

    @Test("A crash at any step of an unhealthy update still ends with the old version back, once",
          arguments: [CrashPoint.activated, .reloaded, .trial, .rollingBack, .rolledBack])
    func unhealthyUpdate(point: CrashPoint) throws {
        let device = try LocalDevice(config: ["reload_command": ["/bin/true"]])
        let v1 = try device.bundle("1.0.0")
        try device.deploy(v1)
        try device.cycle()
        device.config["health_command"] = ["/bin/sh", "-c", "exit 3"]
        try device.deploy(try device.bundle("2.0.0"), deploymentID: "dep_2")
        #expect(try device.cycle(crashingAt: point), "the update passed \(point.rawValue)")
        try device.cycle()
        try device.cycle()
        #expect(try device.liveFiles() == v1.files)
        #expect(!device.journalExists)
        #expect(device.fleet.events.filter { $0.state == .rolledBack }.count == (point == .rolledBack ? 2 : 1), "\(device.reported)")
        #expect(try device.status().bundles.first?.failedVersions == ["2.0.0"])
    }

    @Test("A journal written by the agent before typed steps is read, and its update completes")
    func journalFromThePreviousAgent() throws {
        let device = try LocalDevice()
        let v1 = try device.bundle("1.0.0")
        try device.deploy(v1)
        // The first cycle downloads and stops at `downloaded`, as an older agent left it.
        #expect(try device.cycle(crashingAt: .downloaded))
        let path = device.statePath + "/journal/digits.json"
        var journal = try #require(try JSONSerialization.jsonObject(with: Data(FileSystem.readFile(path, limit: 1 << 20))) as? [String: Any])
        #expect(journal["step"] as? String == "downloaded")
        // Exactly the fields and spellings the previous agent wrote (optionals it left out included).
        journal["corrupt_downloads"] = nil
        journal["fetched_bytes"] = nil
        journal["started_at"] = "2026-11-30T23:59:59Z"
        try FileSystem.writeAtomically(Array(try JSONSerialization.data(withJSONObject: journal)), to: path)
        #expect(try device.cycle().committed == ["digits"])
        #expect(try device.liveFiles() == v1.files)
    }

    @Test("A shadow step written by the previous agent keeps its phase id, start and verdict")
    func shadowJournalFromThePreviousAgent() throws {
        let json = #"""
        {"name":"digits","kind":"model","version":"2.0.0","digest":"\#(String(repeating: "a", count: 64))","slot":"2.0.0-aaaaaaaaaaaa",
         "envelope":{"payload":"e30=","payloadType":"application/vnd.ota.manifest+json","signatures":[]},"step":"shadow",
         "deployment_id":"dep_2","previous_slot":"1.0.0-bbbbbbbbbbbb","previous_version":"1.0.0","previous_digest":"\#(String(repeating: "b", count: 64))",
         "started_at":"2026-11-30T00:00:00Z","shadow_id":"abc","shadow_started_epoch":1764460800,"shadow_command_ran":true,
         "shadow_outcome":{"passed":false,"gates":[]},"failure":"stopped in shadow: no report"}
        """#
        let journal = try StrictJSON.decode(Journal.self, from: Array(json.utf8), what: "journal")
        guard case .shadow(let phase) = journal.step, case .failed(_, let reason) = phase.verdict else {
            Issue.record("not a failed shadow step: \(journal.step)")
            return
        }
        #expect(phase.id == "abc" && phase.commandRan && phase.startedAt == Timestamp(clamping: 1_764_460_800))
        #expect(reason == "stopped in shadow: no report")
        #expect(journal.previous?.version == "1.0.0" && journal.previous?.slot.rawValue == "1.0.0-bbbbbbbbbbbb")
        // Written back in the same flat form, it reads the same.
        let again = try StrictJSON.decode(Journal.self, from: try StrictJSON.encode(journal), what: "journal")
        #expect(again == journal)
        let keys = Set((try JSONSerialization.jsonObject(with: try StrictJSON.encode(journal)) as? [String: Any] ?? [:]).keys)
        #expect(keys.isSuperset(of: ["step", "shadow_id", "shadow_started_epoch", "shadow_command_ran", "shadow_outcome", "failure", "previous_slot"]))
    }
}
