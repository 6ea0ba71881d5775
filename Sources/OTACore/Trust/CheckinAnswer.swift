/// A check-in answer as a device receives it: either the signed form (the answer in a DSSE
/// envelope, with the metadata the device lacks beside it) or, from a server on a legacy
/// trust root, the plain answer.
///
/// The body is read where it lies: the parts are found by `JSONScan`, each metadata file's
/// size is checked against its role's limit before it is decoded (a field too large is
/// refused by name instead of being decoded or dropped), and the pieces are decoded from
/// their base64 straight into bytes. The body itself is not kept: a device never holds an
/// answer and its parsed form at once longer than it takes to read it.
public struct CheckinAnswer: Sendable {
    public enum Form: Sendable {
        case unsigned(DeviceAPI.CheckinResponse)
        case signed(answer: Envelope, metadata: AnswerMetadata)
    }

    public let form: Form

    public struct Malformed: Error, CustomStringConvertible, Equatable, Sendable {
        public let description: String
        public init(_ description: String) { self.description = description }
    }

    /// The keys a signed answer's body may have; anything else is refused (nothing may ride
    /// along unsigned without the device noticing).
    static let signedKeys: Set<String> = ["answer", "metadata"]
    static let metadataKeys: Set<String> = ["roots", "timestamp", "snapshot", "targets"]
    /// More roots than any device walks in one answer (`MetadataRefresh.maximumRootRotations`).
    static let maximumRoots = MetadataRefresh.maximumRootRotations

    public init(body: [UInt8]) throws(Malformed) {
        do {
            form = try body.withUnsafeBytes { bytes throws -> Form in try Self.parse(bytes) }
        } catch let error as Malformed {
            throw error
        } catch {
            throw Malformed(String(describing: error))
        }
    }

    private static func parse(_ bytes: UnsafeRawBufferPointer) throws -> Form {
        let members: [(key: String, value: Range<Int>)]
        do { members = try JSONScan.members(bytes, 0..<bytes.count) } catch { throw Malformed("the answer is not a JSON object: \(error)") }
        guard let answer = members.first(where: { $0.key == "answer" }) else {
            return .unsigned(try decode(DeviceAPI.CheckinResponse.self, bytes, 0..<bytes.count, what: "check-in answer"))
        }
        if let unknown = members.first(where: { !signedKeys.contains($0.key) }) {
            throw Malformed("the signed answer has an unknown field '\(unknown.key.prefix(60))'")
        }
        var metadata = AnswerMetadata(rootsAfter: 0)
        if let field = members.first(where: { $0.key == "metadata" }), !JSONScan.isNull(bytes, field.value) {
            let parts = try JSONScan.members(bytes, field.value)
            for (key, range) in parts {
                guard metadataKeys.contains(key) else { throw Malformed("metadata has an unknown field '\(key.prefix(60))'") }
                if JSONScan.isNull(bytes, range) { continue }
                switch key {
                case "roots":
                    let roots = try JSONScan.elements(bytes, range)
                    guard roots.count <= maximumRoots else { throw Malformed("metadata.roots lists more than \(maximumRoots) roots") }
                    metadata.roots = try roots.map { try base64Field(bytes, $0, "metadata.roots", role: .root) }
                case "timestamp": metadata.timestampBytes = try base64Field(bytes, range, "metadata.timestamp", role: .timestamp)
                case "snapshot": metadata.snapshotBytes = try base64Field(bytes, range, "metadata.snapshot", role: .snapshot)
                default: metadata.targetsBytes = try base64Field(bytes, range, "metadata.targets", role: .targets)
                }
            }
        }
        return .signed(answer: try answerEnvelope(bytes, answer.value), metadata: metadata)
    }

    /// The answer's DSSE envelope. Its payload holds the assignments' own envelopes, so it may
    /// be larger than a bundle's: it is bounded by the answer it came in.
    private static func answerEnvelope(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) throws -> Envelope {
        do { return try Envelope.scan(bytes, range, payloadLimit: bytes.count) } catch { throw Malformed("the signed answer's \(error)") }
    }

    /// A metadata file's bytes, once the length of its base64 fits its role's limit.
    private static func base64Field(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>, _ name: String, role: TUFRoleName) throws -> [UInt8] {
        guard let inner = try JSONScan.plainString(bytes, range) else { throw Malformed("\(name) is not plain base64") }
        let limit = MetadataEnvelope.maximumSize(of: role)
        guard Base64.decodedLength(ofEncoded: inner.count) <= limit + 2 else {
            throw Malformed("\(name) is larger than the \(limit) bytes \(role.rawValue) metadata may have")
        }
        guard let decoded = Base64.decode(bytes: UnsafeBufferPointer(rebasing: bytes.assumingMemoryBound(to: UInt8.self)[inner]), limit: limit) else {
            throw Malformed("\(name) is not valid base64")
        }
        return decoded
    }

    static func decode<T: Decodable>(_ type: T.Type, _ bytes: UnsafeRawBufferPointer, _ range: Range<Int>, what: String) throws -> T {
        do {
            return try StrictJSON.decode(T.self, from: UnsafeRawBufferPointer(rebasing: bytes[range]), what: what)
        } catch { throw Malformed(String(describing: error)) }
    }
}

/// The metadata beside a signed answer, as the refresh workflow reads it (`MetadataSource`).
public struct AnswerMetadata: MetadataSource, Sendable {
    var roots: [[UInt8]] = []
    var timestampBytes: [UInt8]?
    var snapshotBytes: [UInt8]?
    var targetsBytes: [UInt8]?
    /// The root version the device reported: `roots` are the ones after it.
    public var rootsAfter: Int

    public init(roots: [[UInt8]] = [], timestamp: [UInt8]? = nil, snapshot: [UInt8]? = nil, targets: [UInt8]? = nil, rootsAfter: Int) {
        self.roots = roots
        timestampBytes = timestamp
        snapshotBytes = snapshot
        targetsBytes = targets
        self.rootsAfter = rootsAfter
    }

    public var isEmpty: Bool { roots.isEmpty && timestampBytes == nil && snapshotBytes == nil && targetsBytes == nil }

    public func root(version: Int) throws -> [UInt8]? {
        guard version > rootsAfter, version - rootsAfter - 1 < roots.count else { return nil }
        return roots[version - rootsAfter - 1]
    }
    public func timestamp() throws -> [UInt8]? { timestampBytes }
    public func snapshot(version: Int?) throws -> [UInt8]? { snapshotBytes }
    public func targets(version: Int?) throws -> [UInt8]? { targetsBytes }
    public var alwaysHasTimestamp: Bool { false }
}

extension CheckinAnswer {
    /// Why a signed answer is refused.
    public struct Refusal: Error, CustomStringConvertible, Equatable, Sendable {
        public let description: String
        public init(_ description: String) { self.description = description }
    }

    /// What a verified answer says, and when the server says it said it.
    public struct Opened: Sendable {
        public var response: DeviceAPI.CheckinResponse
        /// The server's clock when it signed (seconds since 1970, range-checked).
        public var issued: Int64
    }

    /// Checks the answer envelope against `root`'s check-in key (none on a legacy root) and
    /// that it is bound to this device and this request's nonce; then decodes it.
    public static func open(_ envelope: Envelope, under root: RootMetadata, deviceID: String, nonce: String) throws(Refusal) -> Opened {
        guard envelope.payloadType == DeviceAPI.answerPayloadType else { throw Refusal("its payloadType is '\(envelope.payloadType.prefix(60))'") }
        if root.version > 0 {
            guard let role = root.checkin else { throw Refusal("root version \(root.version) names no check-in key (\(RootMetadata.checkinField))") }
            guard MetadataEnvelope.validSigners(envelope, keysOf: role, in: root) >= role.threshold else {
                throw Refusal("it is not signed by the check-in key of root version \(root.version)")
            }
        }
        let binding: DeviceAPI.AnswerBinding
        let response: DeviceAPI.CheckinResponse
        do {
            binding = try StrictJSON.decode(DeviceAPI.AnswerBinding.self, from: envelope.payload, what: "answer")
            response = try StrictJSON.decode(DeviceAPI.CheckinResponse.self, from: envelope.payload, what: "answer")
        } catch { throw Refusal("its payload is malformed: \(error)") }
        guard binding.deviceID == deviceID else { throw Refusal("it is addressed to device '\(binding.deviceID.prefix(80))', not this one") }
        guard binding.nonce == nonce else { throw Refusal("it answers another request (its nonce is not the one sent): a replay") }
        return Opened(response: response, issued: binding.issued)
    }
}

/// The device's sense of time for expiry: never earlier than its clock floor, the latest time
/// that both its own clock and a verified answer had reached. A clock reset to 1970 cannot
/// revive expired metadata, and no server (not even one holding the online key) can push it
/// forward. Every input is range-checked (`WireRange.epochSeconds`), so nothing here traps.
public enum ClockFloor {
    /// The floor after an answer signed at `issued` (server clock) arrived at `deviceNow`.
    public static func raised(_ floor: Int64?, issued: Int64, deviceNow: Int64) -> Int64 {
        max(floor ?? 0, min(clamp(issued), clamp(deviceNow)))
    }

    /// How far the device's clock is behind the server's (negative: ahead).
    public static func deviceBehind(issued: Int64, deviceNow: Int64) -> Int64 { clamp(issued) - clamp(deviceNow) }

    static func clamp(_ seconds: Int64) -> Int64 { min(max(seconds, WireRange.epochSeconds.lowerBound), WireRange.epochSeconds.upperBound) }
}
