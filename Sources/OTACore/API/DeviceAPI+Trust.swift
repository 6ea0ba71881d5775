/// Signed, fresh check-in answers and the trust metadata that travels with them.
///
/// A device sends a fresh random nonce and the versions of the metadata it trusts. The server
/// answers with the answer proper in a DSSE envelope signed by the check-in key of the
/// device's root, bound to the device id, the nonce and the time, plus whatever metadata the
/// device lacks (newer roots, timestamp, snapshot, targets: each verifies on its own, so it
/// sits outside the signed answer, byte for byte as the repository holds it).
extension DeviceAPI {
    public static let answerPayloadType = "application/vnd.ota.checkin-answer.v1+json"
    /// A nonce is 16 random bytes, sent as 32 hex digits.
    public static let nonceHexDigits = 32

    /// What a device trusts and how fresh that is, sent with every check-in.
    public struct TrustReport: Codable, Equatable, Sendable {
        public var rootVersion: Int
        public var timestampVersion: Int?
        public var snapshotVersion: Int?
        public var targetsVersion: Int?
        public var targetsExpires: Timestamp?
        public var channel: Channel
        /// When the device last verified a signed answer from its server.
        public var verifiedAt: Timestamp?
        /// The last trust problem, until a refresh succeeds (e.g. expired release metadata).
        public var problem: String?

        enum CodingKeys: String, CodingKey {
            case rootVersion = "root_version", timestampVersion = "timestamp_version", snapshotVersion = "snapshot_version"
            case targetsVersion = "targets_version", targetsExpires = "targets_expires", channel
            case verifiedAt = "verified_at", problem
        }

        public init(rootVersion: Int, timestampVersion: Int? = nil, snapshotVersion: Int? = nil, targetsVersion: Int? = nil,
                    targetsExpires: Timestamp? = nil, channel: Channel, verifiedAt: Timestamp? = nil, problem: String? = nil) {
            self.rootVersion = rootVersion
            self.timestampVersion = timestampVersion
            self.snapshotVersion = snapshotVersion
            self.targetsVersion = targetsVersion
            self.targetsExpires = targetsExpires
            self.channel = channel
            self.verifiedAt = verifiedAt
            self.problem = problem
        }

        /// Stale: a problem is reported, or the release metadata the device holds has expired.
        public func isStale(at now: Timestamp) -> Bool {
            if problem != nil { return true }
            guard rootVersion > 0 else { return false }
            guard let expires = targetsExpires else { return true }
            return now >= expires
        }

        public func malformation() -> String? {
            guard rootVersion <= 1 << 30, (timestampVersion ?? 0) <= 1 << 40, (snapshotVersion ?? 0) <= 1 << 40, (targetsVersion ?? 0) <= 1 << 40,
                  [rootVersion, timestampVersion ?? 0, snapshotVersion ?? 0, targetsVersion ?? 0].allSatisfy({ $0 >= 0 }) else {
                return "trust: metadata versions must be between 0 and 2^40"
            }
            if let problem, problem.utf8.count > 2048 { return "trust: problem is longer than 2048 bytes" }
            return nil
        }
    }

    /// What binds a signed answer to one request of one device.
    public struct AnswerBinding: Codable, Equatable, Sendable {
        public var deviceID: String
        public var nonce: String
        /// Seconds since 1970 on the server's clock.
        public var issued: Int64

        enum CodingKeys: String, CodingKey { case deviceID = "device_id", nonce, issued }

        public init(deviceID: String, nonce: String, issued: Int64) {
            self.deviceID = deviceID
            self.nonce = nonce
            self.issued = issued
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            deviceID = try container.decode(String.self, forKey: .deviceID)
            nonce = try container.decode(String.self, forKey: .nonce)
            issued = try container.decode(Int64.self, forKey: .issued, in: WireRange.epochSeconds)
        }
    }

    /// The body of a signed check-in answer.
    public struct SignedCheckinResponse: Codable, Sendable {
        /// DSSE envelope of `AnswerBinding` and `CheckinResponse` fields in one JSON object.
        public var answer: Envelope
        public var metadata: TrustMetadata?

        public init(answer: Envelope, metadata: TrustMetadata?) {
            self.answer = answer
            self.metadata = metadata
        }
    }

    /// Metadata files as base64 of their exact bytes (hashes in snapshot and timestamp cover
    /// the bytes, so they must not be re-encoded).
    public struct TrustMetadata: Codable, Equatable, Sendable {
        /// Consecutive root versions after the one the device reported.
        public var roots: [String]?
        public var timestamp: String?
        public var snapshot: String?
        public var targets: String?

        public init(roots: [String]? = nil, timestamp: String? = nil, snapshot: String? = nil, targets: String? = nil) {
            self.roots = roots
            self.timestamp = timestamp
            self.snapshot = snapshot
            self.targets = targets
        }

        public var isEmpty: Bool { (roots ?? []).isEmpty && timestamp == nil && snapshot == nil && targets == nil }
    }
}
