import Foundation
import OTACore
import TestSupport
import Testing

/// What a device decodes from the network is range-checked and size-bounded where it is
/// decoded: a hostile value is a clear error, never a trap, and an honest fleet's growing
/// metadata is never refused by a limit sized for something else.
@Suite("Hostile numbers and sizes from the network")
struct HostileInputTests {
    // MARK: Base64

    @Test("Base64 decodes strictly, within the limit the caller gives, and round-trips any bytes")
    func base64() throws {
        for count in [0, 1, 2, 3, 4, 31, 32, 33, 1000] {
            let bytes = SecureRandom.bytes(count)
            let text = Base64.encode(bytes)
            #expect(text == Data(bytes).base64EncodedString())
            #expect(Base64.decode(text, limit: count) == bytes)
            if count > 0 { #expect(Base64.decode(text, limit: count - 1) == nil, "a limit below the size refuses it") }
        }
        for bad in ["A", "AA=", "A===", "AB=C", "====", "QQ==QQ==", "Q Q==", "QR==", "-_8="] {
            #expect(Base64.decode(bad, limit: 100) == nil, "\(bad)")
        }
        #expect(Base64.decode("-_8=", limit: 100, alphabet: .standardOrURLSafe) == [0xfb, 0xff])
        #expect(Base64.decode("+-8=", limit: 100, alphabet: .standardOrURLSafe) == nil, "one text, one alphabet")
        // Large: a metadata file of megabytes, the size a helper for signatures once refused.
        let large = SecureRandom.bytes(3 << 20)
        #expect(Base64.decode(Base64.encode(large), limit: 5_000_000) == large)
    }

    // MARK: Numbers

    @Test("A session answer's lifetime outside a minute to a week is refused, never trapped on", arguments: [
        Int64.min, -1, 0, 59, Int64(7 * 86_400 + 1), Int64.max,
    ] as [Int64])
    func hostileSessionLifetime(seconds: Int64) throws {
        let key = Base64.encode([UInt8](repeating: 7, count: 32))
        let body = #"{"session_id":"s1","session_key":"\#(key)","expires_in_s":\#(seconds)}"#
        #expect(throws: (any Error).self) { try StrictJSON.decode(DeviceAPI.SessionResponse.self, from: Array(body.utf8), what: "session") }
        // A lifetime in range, at any device time, gives a renewal time in range.
        let good = try StrictJSON.decode(DeviceAPI.SessionResponse.self, from: Array(body.replacingOccurrences(of: "\(seconds)", with: "3600").utf8), what: "s")
        for now in [Int64.min, 0, Int64.max] { #expect(try good.accepted(at: now).renewAt > 0) }
    }

    @Test("A check-in answer's poll interval, a signed answer's time and a metadata version out of range are refused")
    func hostileAnswerNumbers() throws {
        for interval in ["0", "86401", "-9223372036854775808", "9223372036854775807"] {
            let body = #"{"assignments":[],"poll_interval_s":\#(interval)}"#
            let error = #expect(throws: (any Error).self) { try StrictJSON.decode(DeviceAPI.CheckinResponse.self, from: Array(body.utf8), what: "answer") }
            #expect(String(describing: error!).contains("poll_interval_s"), "\(String(describing: error))")
        }
        for issued in ["-1", "-9223372036854775808", "253402300800"] {
            let body = #"{"device_id":"d","nonce":"n","issued":\#(issued)}"#
            #expect(throws: (any Error).self) { try StrictJSON.decode(DeviceAPI.AnswerBinding.self, from: Array(body.utf8), what: "answer") }
        }
        let huge = #"{"_type":"timestamp","spec_version":"1.0.31","version":9223372036854775807,"expires":"2030-01-01T00:00:00Z","meta":{"snapshot.json":{"version":1}}}"#
        #expect(throws: (any Error).self) { try StrictJSON.decode(TimestampMetadata.self, from: Array(huge.utf8), what: "timestamp") }
        // The clock floor and the clock difference stay in range whatever the times.
        for issued in [Int64.min, 0, WireRange.epochSeconds.upperBound, Int64.max] {
            for now in [Int64.min, 0, Int64.max] {
                #expect(WireRange.epochSeconds.contains(ClockFloor.raised(nil, issued: issued, deviceNow: now)))
                #expect(abs(ClockFloor.deviceBehind(issued: issued, deviceNow: now)) <= WireRange.epochSeconds.upperBound)
            }
        }
    }

    // MARK: Metadata sizes

    /// Release metadata of a long-lived fleet: `channels` channels with `perChannel` releases
    /// each, spread over `bundles` bundle names.
    static func targets(channels: Int, perChannel: Int, bundles: Int) -> TargetsMetadata {
        var targets: [String: TUFTargetFile] = [:]
        for channel in 0..<channels {
            for release in 0..<perChannel {
                let path = Release.targetPath(channel: Channel(checked: "channel-\(channel)"), name: BundleName(checked: "bundle-\(release % bundles)"), version: SemanticVersion(stringLiteral: "1.\(release / bundles).\(channel)"))
                targets[path] = TUFTargetFile(length: 4000 + release, hashes: ["sha256": SHA256Digest.of(Array(path.utf8)).hex])
            }
        }
        return TargetsMetadata(version: 1, expires: TUFCommon.expires(in: 30 * 86_400), targets: targets)
    }

    @Test("Release metadata of 20 channels with 1,000 releases each over 100 bundles travels in a check-in answer and verifies")
    func largeReleaseMetadata() throws {
        let keys = try TUFKeys(release: try Ed25519PrivateKey.generate())
        let root = keys.root(version: 1)
        let targetsBytes = try TUFKeys.sign(Self.targets(channels: 20, perChannel: 1000, bundles: 100), with: keys.release)
        #expect(targetsBytes.count > 8192 * 100, "large enough to matter: \(targetsBytes.count) bytes")
        #expect(targetsBytes.count <= MetadataEnvelope.maximumSize(of: .targets))
        let snapshotBytes = try TUFKeys.sign(SnapshotMetadata(version: 1, expires: TUFCommon.expires(in: 86_400), meta: [
            "targets.json": TUFMetaFile(version: 1, length: targetsBytes.count, hashes: ["sha256": SHA256Digest.of(targetsBytes).hex]),
        ]), with: [keys.online])
        let timestampBytes = try TUFKeys.sign(TimestampMetadata(version: 1, expires: TUFCommon.expires(in: 86_400), snapshot: TUFMetaFile(
            version: 1, length: snapshotBytes.count, hashes: ["sha256": SHA256Digest.of(snapshotBytes).hex])), with: [keys.online])
        // The answer as the server writes it: the metadata as base64 beside the signed answer.
        var envelope = Envelope(payloadType: DeviceAPI.answerPayloadType,
                                payload: Array(#"{"assignments":[],"device_id":"d","issued":1800000000,"nonce":"n","poll_interval_s":60}"#.utf8))
        try envelope.signTUF(with: keys.online)
        let body = Array(try StrictJSON.encode(DeviceAPI.SignedCheckinResponse(answer: envelope, metadata: .init(
            timestamp: Base64.encode(timestampBytes), snapshot: Base64.encode(snapshotBytes), targets: Base64.encode(targetsBytes)))))
        let answer = try CheckinAnswer(body: body)
        guard case .signed(let signed, var metadata) = answer.form else { Issue.record("not read as a signed answer"); return }
        var trusted = try TrustedMetadata(trustedRoot: try keys.signedRoot(root), now: Timestamp.epochSeconds())
        metadata.rootsAfter = 1
        try MetadataRefresh.run(&trusted, from: metadata, store: ScratchMetadataStore())
        #expect(trusted.targets?.targets.count == 20_000)
        let opened = try CheckinAnswer.open(signed, under: trusted.root, deviceID: "d", nonce: "n")
        #expect(opened.response.pollIntervalSeconds == 60)
    }

    @Test("A metadata field larger than its role may be is refused by name, before it is decoded", arguments: [
        ("timestamp", 16_384), ("snapshot", 2_000_000), ("targets", 5_000_000), ("roots", 512_000),
    ] as [(String, Int)])
    func oversizedRole(field: String, limit: Int) throws {
        let junk = Base64.encode([UInt8](repeating: 0, count: limit + 3))
        let value = field == "roots" ? "[\"\(junk)\"]" : "\"\(junk)\""
        let body = #"{"answer":{"payload":"","payloadType":"x","signatures":[]},"metadata":{"\#(field)":\#(value)}}"#
        let error = #expect(throws: CheckinAnswer.Malformed.self) { try CheckinAnswer(body: Array(body.utf8)) }
        #expect(error?.description.contains("larger than the \(limit) bytes") == true, "\(String(describing: error))")
    }

    @Test("A signed answer with a field beside it that nothing reads is refused, not silently dropped")
    func unknownAnswerField() throws {
        let body = #"{"answer":{"payload":"","payloadType":"x","signatures":[]},"extra":"x"}"#
        #expect(throws: CheckinAnswer.Malformed.self) { try CheckinAnswer(body: Array(body.utf8)) }
        let nested = #"{"answer":{"payload":"","payloadType":"x","signatures":[]},"metadata":{"targets2":"QQ=="}}"#
        #expect(throws: CheckinAnswer.Malformed.self) { try CheckinAnswer(body: Array(nested.utf8)) }
    }

    // MARK: Text for terminals

    @Test("Text from a device or a server cannot rewrite the terminal it is printed on")
    func terminalText() {
        let cases: [(String, String)] = [
            ("plain text, ünïcödé", "plain text, ünïcödé"),
            ("\u{1B}[2K\u{1B}[1Atrust: fresh", "\\x1b[2K\\x1b[1Atrust: fresh"),
            ("\u{1B}]0;title\u{07}", "\\x1b]0;title\\x07"),
            ("\u{1B}]52;c;ZWNobyBoaQ==\u{1B}\\", "\\x1b]52;c;ZWNobyBoaQ==\\x1b\\"),
            ("line\nfake: line", "line\\nfake: line"),
            ("\u{9B}31m", "\\u{009b}31m"),
            ("abc\u{202E}fed", "abc\\u{202e}fed"),
            ("\r", "\\r"),
        ]
        for (input, shown) in cases { #expect(TerminalText.escape(input) == shown) }
    }

    @Test("Content hosts are host or host:port, nothing else")
    func contentHosts() {
        for good in ["bucket.s3.amazonaws.com", "127.0.0.1:9000", "[::1]:9000", "minio", "a-b.example:443"] { #expect(ContentHost.isValid(good), "\(good)") }
        for bad in ["", "https://bucket", "bucket/path", "Bucket.Example", "host:0", "host:65536", "host:", "user@host", "[::1", "a b"] {
            #expect(!ContentHost.isValid(bad), "\(bad)")
        }
        #expect(ContentHost.normalized(host: "Bucket.Example", port: 443, scheme: "https") == "bucket.example")
        #expect(ContentHost.normalized(host: "127.0.0.1", port: 9000, scheme: "http") == "127.0.0.1:9000")
    }
}
