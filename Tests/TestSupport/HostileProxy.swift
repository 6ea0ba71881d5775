import Foundation

/// A misbehaving network between an agent and a real `ota-server`: Tests/Fixtures/hostile_proxy.py,
/// run as a process on 127.0.0.1. The agent must treat everything the network says as
/// hostile, and only a real socket shows what libcurl and the agent really do with an
/// oversized, endless, redirected or mislabelled answer (a mock inside the test would not).
public final class HostileProxy: @unchecked Sendable {
    /// What the proxy spoils; the names are the script's modes.
    public enum Mode: String, Sendable, CaseIterable {
        case contentExtraBytes = "content-extra-bytes"
        case contentExtraBytesUnframed = "content-extra-bytes-unframed"
        case contentEndless = "content-endless"
        case contentRedirect = "content-redirect"
        case contentRangeFromZero = "content-range-from-zero"
        case contentRangeWrongStart = "content-range-wrong-start"
        case contentRangeMislabelled = "content-range-mislabelled"
        case checkinHuge = "checkin-huge"
        case checkinWrongTypes = "checkin-wrong-types"
        case checkinTruncated = "checkin-truncated"
        case checkinRedirect = "checkin-redirect"
        case checkinHTMLError = "checkin-html-error"
        case checkinRetryAfterHuge = "checkin-retry-after-huge"
        case checkinPollZero = "checkin-poll-zero"
        case checkinPollHuge = "checkin-poll-huge"
        case checkinPathNames = "checkin-path-names"
        case contentCutFirst = "content-cut-first"
        case contentShortFirst = "content-short-first"
        case contentResetFirst = "content-reset-first"
        case contentStallFirst = "content-stall-first"
        case contentCorruptFirst = "content-corrupt-first"
        case contentCorruptAlways = "content-corrupt-always"
        case contentGone = "content-gone"
        case contentFlaky = "content-flaky"
        case checkinTrickle = "checkin-trickle"
        /// The first check-in answer, again for every later check-in of any device.
        case checkinReplay = "checkin-replay"
        /// Adds the root file given with `--root` as the next root beside the signed answer.
        case checkinInjectRoot = "checkin-inject-root"
        /// Holds the online key (`--key`): re-signs the answer with `--issued N` (a clock far
        /// ahead) or an extra assignment (`--assignment FILE`).
        case checkinCompromised = "checkin-compromised"
        /// The session answer's `expires_in_s` set to -2^63.
        case sessionExpiryHostile = "session-expiry-hostile"
        /// Junk base64 (`--pad BYTES`) as the metadata field `--field ROLE` of a signed answer.
        case checkinPadMetadata = "checkin-pad-metadata"
    }

    public static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/hostile_proxy.py").path

    public let url: String
    private let process: Process
    private let logPath: String
    private let dir = TemporaryDirectory("ota-proxy")

    /// Starts the proxy in front of `upstream` and waits for the port it prints.
    public init(_ mode: Mode, upstream: String, arguments: [String] = []) throws {
        logPath = dir.file("requests.log")
        process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", Self.script, upstream, mode.rawValue, "--log", logPath] + arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        var buffer = Data()
        while !buffer.contains(UInt8(ascii: "\n")) {
            let chunk = output.fileHandleForReading.availableData
            if chunk.isEmpty { throw TestFailure("hostile_proxy.py \(mode.rawValue) did not start") }
            buffer.append(chunk)
        }
        let port = String(decoding: buffer.prefix { $0 != UInt8(ascii: "\n") }, as: UTF8.self)
        url = "http://127.0.0.1:\(port)"
    }

    deinit {
        guard process.isRunning else { return }
        process.terminate()
        process.waitUntilExit()
    }

    /// The requests the proxy saw, as "METHOD PATH range=RANGE", oldest first.
    public var requests: [String] {
        ((try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }
}
