import Foundation
import OTAClient
import OTACore
import TestSupport
import Testing

/// The network between a device and its server is hostile: a proxy spoils the real server's
/// answers, and the agent must refuse them with a clear error, keep running what it ran,
/// never let a partial slot become current, and never crash.
@Suite("The agent treats the network as hostile")
struct HostileServerTests {
    static let v1 = ["model.onnx": Array("weights-v1".utf8)]
    /// Large enough to arrive in many chunks and to be resumed from its middle; random, so
    /// that no stretch of it equals another (a wrong range must give wrong bytes).
    static let v2Model = SecureRandom.bytes(1 << 20)
    static let v2 = ["model.onnx": v2Model]
    static let v2Digest = SHA256Digest.of(v2Model)

    /// A device running v1, with v2 deployed, whose agent talks to the server through a proxy.
    struct Device {
        let server: TestServer
        let agent: TestAgent
        let proxy: HostileProxy
        let runningSlot: String

        var partialDownload: String { agent.statePath + "/downloads/\(HostileServerTests.v2Digest.hex).part" }

        /// `ota-agent status --json`'s last error.
        func lastError() throws -> String { try agent.status()["last_error"] as? String ?? "" }
    }

    /// With `halfDownloaded`, the agent first crashes half-way through v2's download (talking
    /// to the server directly), so that its next attempt resumes with a range request.
    func device(behind mode: HostileProxy.Mode, deployingV2: Bool = true, halfDownloaded: Bool = false) throws -> Device {
        let server = try TestServer()
        try server.publish(name: "digits", version: "1.0.0", files: Self.v1)
        _ = try server.deploy("digits", "1.0.0")
        let agent = try TestAgent(server, id: "cam-1")
        try #require(try agent.once().status == 0)
        let runningSlot = try #require(agent.currentSlot("digits"))
        if deployingV2 {
            try server.publish(name: "digits", version: "2.0.0", files: Self.v2)
            _ = try server.deploy("digits", "2.0.0")
        }
        if halfDownloaded { try #require(try agent.once(crashAt: "download-midway").status == 99) }
        let proxy = try HostileProxy(mode, upstream: server.url)
        agent.config["server_url"] = proxy.url
        try agent.writeConfig()
        return Device(server: server, agent: agent, proxy: proxy, runningSlot: runningSlot)
    }

    /// The device still runs v1 from the same slot; no other slot exists, none is being
    /// assembled, and no download holds more than the manifest declares.
    func checkStillRunsV1(_ device: Device, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let state = device.agent.statePath
        #expect(device.agent.currentSlot("digits") == device.runningSlot, sourceLocation: sourceLocation)
        try device.agent.checkCurrentSlot("digits", holds: Self.v1)
        #expect(try FileSystem.list(state + "/slots/digits") == [device.runningSlot], sourceLocation: sourceLocation)
        #expect(((try? FileSystem.list(state + "/staging/digits")) ?? []).isEmpty, sourceLocation: sourceLocation)
        for file in try FileSystem.list(state + "/downloads") {
            #expect(FileSystem.fileSize(state + "/downloads/" + file)! <= UInt64(Self.v2Model.count), "\(file)", sourceLocation: sourceLocation)
        }
    }

    /// An exit with `code`, not a crash.
    func expectExit(_ result: ProcessResult, _ code: Int32, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(!result.killedBySignal && result.status == code, "\(result)", sourceLocation: sourceLocation)
    }

    /// Points the agent back at the real server: the update then completes from what is on
    /// disk, which proves nothing wrong was kept.
    func checkHonestServerFinishes(_ device: Device) throws {
        device.agent.config["server_url"] = device.server.url
        try device.agent.writeConfig()
        expectExit(try device.agent.once(), 0)
        try device.agent.checkCurrentSlot("digits", holds: Self.v2)
    }

    /// After an answer longer than declared, the device runs v1 unchanged (and an honest server
    /// then finishes the update), or, when the declared bytes all arrived before the extra ones
    /// and their SHA-256 matched, exactly v2: never anything unverified.
    func checkRefusedOrExactlyInstalled(_ device: Device, _ result: ProcessResult, sourceLocation: SourceLocation = #_sourceLocation) throws {
        if result.status == 0 {
            try device.agent.checkCurrentSlot("digits", holds: Self.v2)
        } else {
            expectExit(result, 1, sourceLocation: sourceLocation)
            try checkStillRunsV1(device, sourceLocation: sourceLocation)
            try checkHonestServerFinishes(device)
        }
    }

    @Test("Content with more bytes than the manifest declares is cut off at the declared size; nothing unverified is installed",
          arguments: [HostileProxy.Mode.contentExtraBytes, .contentExtraBytesUnframed])
    func contentLongerThanDeclared(mode: HostileProxy.Mode) throws {
        let device = try device(behind: mode)
        let result = try device.agent.once()
        let refusal = "the server sent more than the \(Self.v2Model.count) bytes expected; transfer stopped"
        #expect(result.stderr.contains(refusal), "\(result)")
        try checkRefusedOrExactlyInstalled(device, result)
    }

    @Test("Content that never ends is cut off at the declared size at once; nothing unverified is installed")
    func endlessContent() throws {
        let device = try device(behind: .contentEndless)
        let started = Date()
        let result = try device.agent.once()
        #expect(Date().timeIntervalSince(started) < 10, "the agent waited for an endless answer to end")
        #expect(result.stderr.contains("the server sent more than the \(Self.v2Model.count) bytes expected; transfer stopped"), "\(result)")
        try checkRefusedOrExactlyInstalled(device, result)
    }

    @Test("A huge check-in answer is refused at the client's size limit, in bounded memory; nothing changes")
    func hugeCheckinAnswer() throws {
        let device = try device(behind: .checkinHuge)
        // GNU time reports the agent's peak memory, where it is installed.
        let timer = "/usr/bin/time"
        let measured = FileManager.default.isExecutableFile(atPath: timer)
        let result = measured
            ? try run(timer, ["-v", Binaries.path("ota-agent"), "once", "--config", device.agent.configPath])
            : try device.agent.once()
        expectExit(result, 1)
        let refusal = "the server sent more than the \(DeviceClient.maxAnswerBytes) bytes expected; transfer stopped"
        #expect(result.stderr.contains(refusal), "\(result)")
        #expect(try device.lastError().contains(refusal))
        if measured {
            let line = try #require(result.stderr.split(separator: "\n").first { $0.contains("Maximum resident set size (kbytes):") })
            let peakKiB = try #require(Int(line.split(separator: " ").last ?? ""))
            #expect(peakKiB < 100_000, "the agent held \(peakKiB) KiB for a check-in answer")
        }
        try checkStillRunsV1(device)
        #expect(!device.agent.journalExists)
    }

    @Test("A malformed check-in answer is a clear error: exit 1, last error in the status, nothing changes",
          arguments: [HostileProxy.Mode.checkinWrongTypes, .checkinTruncated])
    func malformedCheckinAnswer(mode: HostileProxy.Mode) throws {
        let device = try device(behind: mode)
        let result = try device.agent.once()
        expectExit(result, 1)
        let complaint = "the server's answer to POST /api/v1/device/checkin is not what this client understands"
        #expect(result.stderr.contains(complaint), "\(result)")
        let lastError = try device.lastError()
        #expect(lastError.contains(complaint))
        #expect(!lastError.contains("cannot reach the server"), "the server was reached: \(lastError)")
        try checkStillRunsV1(device)
        #expect(!device.agent.journalExists)
    }

    @Test("A check-in redirect is not followed, even to the real server; the error names it")
    func checkinRedirectNotFollowed() throws {
        let device = try device(behind: .checkinRedirect)
        let result = try device.agent.once()
        expectExit(result, 1)
        let lastError = try device.lastError()
        #expect(lastError.contains("the server answered 302: a redirect to \(device.server.url)/api/v1/device/"), "\(lastError)")
        #expect(lastError.contains("which is not followed"))
        // The redirect leads to the real server: had it been followed, v2 would now run.
        try checkStillRunsV1(device)
    }

    @Test("A content redirect to a host the signed answer does not name is not followed, and v1 keeps running")
    func contentRedirectOnlyToNamedHosts() throws {
        let device = try device(behind: .contentRedirect)
        let result = try device.agent.once()
        expectExit(result, 1)
        let lastError = try device.lastError()
        // Object storage answers downloads with a presigned URL to a host the server names in
        // its signed answers; anything else (here the real server again) is not followed, so a
        // server cannot make devices fetch from wherever they sit.
        #expect(lastError.contains("the server answered 302: the server redirected the download to 127.0.0.1:"), "\(lastError)")
        #expect(lastError.contains("which is not a content host this device was told of; not followed"), "\(lastError)")
        #expect(!device.proxy.requests.contains { $0.contains("moved to") })
        // The refusal's body ("moved to ...") never reaches the server in an event.
        let details = try device.server.admin().device("cam-1").events.map(\.detail)
        #expect(!details.contains { $0.contains("moved to") }, "\(details)")
        try checkStillRunsV1(device)
    }

    @Test("A resumed download answered with another range than asked splices nothing into the file",
          arguments: [HostileProxy.Mode.contentRangeFromZero, .contentRangeWrongStart])
    func wrongRangeNotSpliced(mode: HostileProxy.Mode) throws {
        let device = try device(behind: mode, halfDownloaded: true)
        let half = try FileSystem.readFile(device.partialDownload, limit: 1 << 21)
        #expect(half.count >= Self.v2Model.count / 2 && half.count < Self.v2Model.count)
        let result = try device.agent.once()
        expectExit(result, 1)
        #expect(device.proxy.requests.contains { $0.hasSuffix("\(Self.v2Digest.hex) range=bytes=\(half.count)-") })
        #expect(try device.lastError().contains("the server answered the resume request with an unexpected range: bytes "))
        #expect(try FileSystem.readFile(device.partialDownload, limit: 1 << 21) == half)
        try checkStillRunsV1(device)
        try checkHonestServerFinishes(device)
    }

    @Test("Wrong bytes labelled as the asked range are caught by the SHA-256 check and fetched again; the version is not condemned")
    func mislabelledRangeCaught() throws {
        let device = try device(behind: .contentRangeMislabelled, halfDownloaded: true)
        let result = try device.agent.once()
        expectExit(result, 0)
        #expect(result.stderr.contains("'model.onnx' arrived complete but does not match its signed SHA-256 (1 of 2 allowed); fetching it again"), "\(result)")
        try device.agent.checkCurrentSlot("digits", holds: Self.v2)
        let states = try device.server.admin().device("cam-1").events.map(\.state)
        #expect(!states.contains(.failed), "\(states)")
    }

    @Test("An assignment named like a path is refused whole: nothing read or written outside the state folder, nothing reported that blocks the outbox")
    func pathAsBundleName() throws {
        let device = try device(behind: .checkinPathNames)
        let result = try device.agent.once()
        expectExit(result, 1)
        let lastError = try device.lastError()
        #expect(lastError.contains("field 'assignments[0].name': bundle name '../../escape' must start with a letter or digit"), "\(lastError)")
        #expect(try device.agent.status()["events_waiting"] as? Int == 0)
        #expect(try device.agent.dir.listing().filter { !$0.hasPrefix("state/") } == ["agent.json"])
        try checkStillRunsV1(device)
        // The honest server then gets every event: none of them is one it refuses.
        try checkHonestServerFinishes(device)
        #expect(try device.agent.status()["events_waiting"] as? Int == 0)
    }

    @Test("An error page from something in between is reported with its status and text")
    func htmlErrorPage() throws {
        let device = try device(behind: .checkinHTMLError)
        let result = try device.agent.once()
        expectExit(result, 1)
        let lastError = try device.lastError()
        #expect(lastError.hasPrefix("the server answered 502: <html>"), "\(lastError)")
        #expect(lastError.contains("<h1>502 Bad Gateway</h1>"))
        try checkStillRunsV1(device)
    }

    @Test("An absurd Retry-After or poll interval neither crashes the daemon nor makes it hammer the server",
          arguments: [HostileProxy.Mode.checkinRetryAfterHuge, .checkinPollHuge, .checkinPollZero])
    func absurdWaits(mode: HostileProxy.Mode) throws {
        let device = try device(behind: mode, deployingV2: false)
        let log = device.agent.dir.file("daemon.log")
        FileManager.default.createFile(atPath: log, contents: nil)
        let daemon = Process()
        daemon.executableURL = URL(fileURLWithPath: Binaries.path("ota-agent"))
        daemon.arguments = ["run", "--config", device.agent.configPath]
        daemon.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        try daemon.run()
        // A daemon left behind by a failed expectation would sleep for a day.
        defer { if daemon.isRunning { kill(daemon.processIdentifier, SIGKILL) } }
        let waits = { ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").components(separatedBy: "next check-in in ").dropFirst() }
        try eventually(timeout: 10, "the daemon's first wait") { !waits().isEmpty }
        // A poll interval outside 1 s to a day is a malformed answer, and a Retry-After beyond
        // a day is not believed: either way the daemon backs off as on any error (2.5 to 5 s
        // first, a minute for a 503 without a believable Retry-After), neither hammering the
        // server nor going silent.
        let first = try #require(waits().first.flatMap { Int($0.prefix { $0.isNumber }) })
        #expect((2...(mode == .checkinRetryAfterHuge ? 60 : 5)).contains(first), "\(waits())")
        let written = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        if mode != .checkinRetryAfterHuge { #expect(written.contains("poll_interval_s"), "\(written)") }
        #expect(daemon.isRunning)
        daemon.terminate()
        daemon.waitUntilExit()
        #expect(daemon.terminationReason == .exit && daemon.terminationStatus == 0,
                "\(daemon.terminationReason == .exit ? "exit" : "signal") \(daemon.terminationStatus)")
        try checkStillRunsV1(device)
    }
}
