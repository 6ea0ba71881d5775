import Foundation
import OTAClient
import OTACore
import TestSupport
import Testing
@testable import OTAAgent

/// The update logic in process, through its fetcher seam: a scripted fetcher plays every way
/// a transfer goes wrong, fast and exactly, and the test counts what the updater asked for.
/// Real files, real signatures; only the network is scripted.
@Suite("The updater's transfer policy, in process")
struct UpdaterInProcessTests {
    /// What the scripted fetcher does on one call.
    enum Step {
        /// Appends this many of the file's next bytes, then breaks off like a cut connection.
        case cutAfter(Int)
        /// Appends the rest honestly.
        case honest
        /// Appends the rest with one byte flipped.
        case corrupt
        case status(Int)
    }

    final class ScriptedFetcher: ContentFetcher {
        let content: [UInt8]
        var script: [Step]
        private(set) var calls: [UInt64] = []

        init(content: [UInt8], script: [Step]) {
            self.content = content
            self.script = script
        }

        func fetch(_ digest: SHA256Digest, to file: String, expectedSize: UInt64,
                   progress: ((UInt64, UInt64) -> Void)?) throws -> HTTPClient.DownloadResult {
            let start = FileSystem.fileSize(file) ?? 0
            calls.append(start)
            let step = script.isEmpty ? .honest : script.removeFirst()
            var rest = Array(content[Int(start)...])
            switch step {
            case .status(let code):
                throw HTTPClientError.status(code, code: nil, message: "scripted \(code)", retryAfterSeconds: nil)
            case .cutAfter(let count):
                try append(Array(rest.prefix(count)), to: file)
                throw HTTPClientError.transport("Transferred a partial file (scripted)")
            case .corrupt:
                rest[rest.count / 2] ^= 0xff
                fallthrough
            case .honest:
                try append(rest, to: file)
                let whole = try FileSystem.readFile(file, limit: 1 << 26)
                return HTTPClient.DownloadResult(received: UInt64(rest.count), resumed: start > 0, sha256: SHA256Digest.of(whole))
            }
        }

        /// Ranges are served honestly (the chunked path has its own tests with real processes).
        func fetchRanges(_ digest: SHA256Digest, _ ranges: [DeviceAPI.RangesRequest.Range], to file: String) throws -> UInt64 {
            let bytes = ranges.flatMap { content[Int($0.offset)..<Int($0.offset + $0.length)] }
            try FileSystem.writeAtomically(bytes, to: file)
            return UInt64(bytes.count)
        }

        private func append(_ bytes: [UInt8], to path: String) throws {
            let file = try File.open(path, .append(permissions: 0o600))
            try file.write(bytes)
            file.close()
        }
    }

    /// A state folder, a trust root and a verified journal for one 64 KiB model file.
    struct Fixture {
        let dir = TemporaryDirectory("ota-updater")
        let content = SecureRandom.bytes(64 * 1024)
        let context: AgentContext
        let journal: Journal

        init() throws {
            let key = try Ed25519PrivateKey.generate()
            try FileSystem.writeAtomically(try TrustRoot(keys: [key.publicKey], threshold: 1).encoded(), to: dir.file("trust.json"))
            let config: [String: Any] = ["server_url": "http://127.0.0.1:9", "device_id": "dev-1", "hardware": "test-hw",
                                         "trust_root": "trust.json", "state_dir": "state", "allow_insecure_http": true,
                                         "health_command": ["/bin/true"]]
            try dir.write("agent.json", Array(try JSONSerialization.data(withJSONObject: config)))
            context = try AgentContext(config: try AgentConfig.load(from: dir.file("agent.json")),
                                       environment: AgentEnvironment(clock: TestClock(), logger: .readable("ota-agent", level: .critical)))
            let manifest = Manifest(name: "digits", kind: "model", version: try SemanticVersion("1.0.0"), compatible: ["test-hw"],
                                    created: SystemClock().now, files: [.init(path: try PayloadPath("model.onnx"), size: UInt64(content.count),
                                                                            sha256: SHA256Digest.of(content))])
            let envelope = try Envelope.signing(manifest, with: key)
            let verified = try context.trust.bundleTrust().verify(envelope)
            journal = Journal(name: "digits", kind: .model, version: "1.0.0", digest: verified.digest, slot: SlotName(verified),
                              envelope: envelope, deploymentID: "dep_1", previous: nil, startedAt: context.clock.now, step: .verified)
            try StateFile.write(journal, to: context.layout.journal("digits"))
        }

        func run(_ fetcher: ScriptedFetcher) -> Updater.Result {
            var updater = Updater(agent: context, fetcher: fetcher, journal: journal)
            return updater.run()
        }

        var states: [DeviceAPI.UpdateState] { context.outbox.pending.map(\.state) }
        var journalExists: Bool { FileSystem.exists(context.layout.journal("digits")) }
    }

    @Test("Cuts that make progress are resumed within the cycle; each request starts where the last stopped")
    func cutsResume() throws {
        let fixture = try Fixture()
        let fetcher = ScriptedFetcher(content: fixture.content, script: [.cutAfter(10_000), .cutAfter(20_000), .honest])
        #expect(fixture.run(fetcher) == .committed)
        #expect(fetcher.calls == [0, 10_000, 30_000])
        #expect(fixture.states.last == .succeeded)
    }

    @Test("A cut without progress waits for the next cycle with the journal kept; the next cycle resumes")
    func noProgressRetriesLater() throws {
        let fixture = try Fixture()
        let stalled = ScriptedFetcher(content: fixture.content, script: [.cutAfter(0)])
        guard case .retryLater = fixture.run(stalled) else { Issue.record("expected retryLater"); return }
        #expect(fixture.journalExists)
        var journal = try #require(try StateFile.read(Journal.self, from: fixture.context.layout.journal("digits")))
        #expect(journal.step == .downloading)
        journal.step = .downloading
        var updater = Updater(agent: fixture.context, fetcher: ScriptedFetcher(content: fixture.content, script: []), journal: journal)
        #expect(updater.run() == .committed)
    }

    @Test("Corrupt complete files are fetched again up to the limit, then the attempt is given up; the version is not condemned")
    func corruptionIsBounded() throws {
        let fixture = try Fixture()
        let fetcher = ScriptedFetcher(content: fixture.content, script: Array(repeating: .corrupt, count: 10))
        guard case .ended(let problem) = fixture.run(fetcher), case .corruptContent = problem else { Issue.record("expected corrupt content"); return }
        #expect(fetcher.calls == [0, 0, 0], "every corrupt file is discarded whole and fetched from the start, three times")
        #expect(problem.description.hasPrefix("gave up after 3 corrupt files"))
        #expect(problem.ending == .gaveUp)
        #expect(!fixture.journalExists)
        #expect(fixture.context.ledger.failedVersions.isEmpty)
        #expect(fixture.context.ledger.hasEnded(AssignmentKey(deploymentID: "dep_1", digest: fixture.journal.digest)))
        #expect(fixture.states.last == .failed)
    }

    @Test("One corrupt file followed by an honest one commits")
    func oneCorruptionRecovers() throws {
        let fixture = try Fixture()
        let fetcher = ScriptedFetcher(content: fixture.content, script: [.corrupt, .honest])
        #expect(fixture.run(fetcher) == .committed)
        #expect(fetcher.calls == [0, 0])
    }

    @Test("Content refused three cycles running abandons the update; a server error only delays it",
          arguments: [(403, true), (404, true), (410, true), (500, false), (503, false), (429, false)])
    func statusesDecide(code: Int, abandons: Bool) throws {
        let fixture = try Fixture()
        var results: [Updater.Result] = []
        for _ in 0..<3 {
            let journal = try StateFile.read(Journal.self, from: fixture.context.layout.journal("digits")) ?? fixture.journal
            var updater = Updater(agent: fixture.context, fetcher: ScriptedFetcher(content: fixture.content, script: [.status(code)]),
                                  journal: journal)
            results.append(updater.run())
        }
        for result in results.prefix(2) {
            guard case .retryLater = result else { Issue.record("expected retryLater, got \(result)"); return }
        }
        if abandons {
            guard case .ended(let problem) = results[2], case .contentRefused = problem else { Issue.record("expected abandoned, got \(results[2])"); return }
            #expect(problem.ending == .abandoned)
            #expect(problem.description.contains("3 cycles running"))
            #expect(!fixture.journalExists)
            #expect(fixture.states.last == .abandoned)
        } else {
            guard case .retryLater = results[2] else { Issue.record("expected retryLater, got \(results[2])"); return }
            #expect(fixture.journalExists)
        }
        #expect(fixture.context.ledger.failedVersions.isEmpty)
    }

    @Test("A refusal followed by a successful transfer starts the count again")
    func refusalCountResets() throws {
        let fixture = try Fixture()
        var updater = Updater(agent: fixture.context, fetcher: ScriptedFetcher(content: fixture.content, script: [.status(403)]),
                              journal: fixture.journal)
        guard case .retryLater = updater.run() else { Issue.record("expected retryLater"); return }
        let journal = try #require(try StateFile.read(Journal.self, from: fixture.context.layout.journal("digits")))
        #expect(journal.transfer.refused == 1)
        var next = Updater(agent: fixture.context, fetcher: ScriptedFetcher(content: fixture.content, script: []), journal: journal)
        #expect(next.run() == .committed)
    }

    @Test("A journal whose envelope was altered on disk is given up, never activated")
    func tamperedJournal() throws {
        let fixture = try Fixture()
        var journal = fixture.journal
        journal.envelope.signatures = []
        var updater = Updater(agent: fixture.context, fetcher: ScriptedFetcher(content: fixture.content, script: []), journal: journal)
        guard case .ended(let problem) = updater.run(), case .noLongerVerifies(let reason) = problem else { Issue.record("expected given up"); return }
        #expect(reason.contains("no longer verifies"))
        #expect(FileSystem.readSymlink(fixture.context.layout.current("digits")) == nil)
    }
}
