/// The device API's wire types, shared by `ota-server` and `ota-agent`.
/// Paths: see `Sources/OTAServer/Resources/openapi.yaml`.
public enum DeviceAPI {
    public static let registerPath = "/api/v1/device/register"
    public static let checkinPath = "/api/v1/device/checkin"
    public static let eventsPath = "/api/v1/device/events"
    public static let contentPathPrefix = "/api/v1/device/content/"
    /// `contentPathPrefix + digest + rangesPathSuffix`: several ranges of one file in one answer.
    public static let rangesPathSuffix = "/ranges"

    public static let sessionPath = "/api/v1/device/session"
    public static let keyPath = "/api/v1/device/key"

    /// A device's signature of a purpose, its id, its key, a time and a nonce (`DeviceProof`).
    public struct Proof: Codable, Equatable, Sendable {
        /// Seconds since 1970, from the device's clock.
        public var created: Int64
        public var nonce: String
        /// Base64 of the Ed25519 signature.
        public var signature: String

        public init(created: Int64, nonce: String, signature: String) {
            self.created = created
            self.nonce = nonce
            self.signature = signature
        }
    }

    /// Where a device stands with its server: only accepted devices get sessions.
    public enum DeviceStatus: String, Codable, CaseIterable, Sendable {
        /// Registered with a token that is not auto-accept: waits for an operator.
        case pending
        case accepted
        case rejected
    }

    /// A device introducing its key. With an enrollment token, the token decides what the
    /// device is (hardware, tags, group, id prefix) and whether it is accepted at once;
    /// without one, only a device an operator pre-authorised with this very key is taken.
    public struct RegisterRequest: Codable, Equatable, Sendable {
        public var enrollmentToken: String?
        public var deviceID: DeviceID
        public var hardware: HardwareClass
        public var attributes: [String: String]?
        /// Base64 of the raw 32-byte Ed25519 public key.
        public var publicKey: String
        /// `DeviceProof` for `.register`: the device holds the key it names.
        public var proof: Proof

        enum CodingKeys: String, CodingKey {
            case enrollmentToken = "enrollment_token", deviceID = "device_id", hardware, attributes
            case publicKey = "public_key", proof
        }

        public init(enrollmentToken: String?, deviceID: DeviceID, hardware: HardwareClass, attributes: [String: String]? = nil,
                    publicKey: String, proof: Proof) {
            self.enrollmentToken = enrollmentToken
            self.deviceID = deviceID
            self.hardware = hardware
            self.attributes = attributes
            self.publicKey = publicKey
            self.proof = proof
        }
    }

    public struct RegisterResponse: Codable, Equatable, Sendable {
        public var deviceID: DeviceID
        public var status: DeviceStatus

        enum CodingKeys: String, CodingKey { case deviceID = "device_id", status }

        public init(deviceID: DeviceID, status: DeviceStatus) {
            self.deviceID = deviceID
            self.status = status
        }
    }

    /// Opens a session: the device proves it holds its key.
    public struct SessionRequest: Codable, Equatable, Sendable {
        public var deviceID: DeviceID
        public var proof: Proof

        enum CodingKeys: String, CodingKey { case deviceID = "device_id", proof }

        public init(deviceID: DeviceID, proof: Proof) {
            self.deviceID = deviceID
            self.proof = proof
        }
    }

    /// A session: its id names it in every request's signature, its key signs them.
    public struct SessionResponse: Codable, Equatable, Sendable {
        public var sessionID: String
        /// Base64 of the 32-byte HMAC key; it leaves the server once, here, over TLS.
        public var sessionKey: String
        /// A minute to a week: a device renews a minute before the end.
        public var expiresInSeconds: Int
        public static let lifetimeRange = 60...(7 * 86_400)

        enum CodingKeys: String, CodingKey { case sessionID = "session_id", sessionKey = "session_key", expiresInSeconds = "expires_in_s" }

        public init(sessionID: String, sessionKey: String, expiresInSeconds: Int) {
            self.sessionID = sessionID
            self.sessionKey = sessionKey
            self.expiresInSeconds = expiresInSeconds
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            sessionID = try container.decode(String.self, forKey: .sessionID)
            sessionKey = try container.decode(String.self, forKey: .sessionKey)
            expiresInSeconds = try container.decode(Int.self, forKey: .expiresInSeconds, in: Self.lifetimeRange)
        }

        /// A session as a device keeps it: its id, its 32-byte key and when to open the next
        /// one (a minute before the server's expiry, at most a day on).
        public struct Accepted: Sendable, Equatable {
            public let id: String
            public let key: [UInt8]
            public let renewAt: Int64
        }

        /// The session this answer grants, checked: a hostile answer is an error, never a trap.
        public func accepted(at now: Int64) throws(SessionAnswerError) -> Accepted {
            guard Self.lifetimeRange.contains(expiresInSeconds) else { throw SessionAnswerError("expires_in_s is outside \(Self.lifetimeRange)") }
            guard let key = Base64.decode(sessionKey, limit: 32), key.count == 32 else { throw SessionAnswerError("session_key is not 32 bytes of base64") }
            guard !sessionID.isEmpty, sessionID.utf8.count < 256, !sessionID.utf8.contains(where: { $0 < 0x21 || $0 > 0x7e || $0 == UInt8(ascii: "\"") }) else {
                throw SessionAnswerError("session_id must be 1 to 255 visible ASCII characters without quotes")
            }
            let start = min(max(now, WireRange.epochSeconds.lowerBound), WireRange.epochSeconds.upperBound)
            return Accepted(id: sessionID, key: key, renewAt: start + Int64(max(1, min(expiresInSeconds, 86_400) - 60)))
        }
    }

    public struct SessionAnswerError: Error, CustomStringConvertible, Equatable, Sendable {
        public let description: String
        public init(_ description: String) { self.description = description }
    }

    /// A device registered before device keys (bearer token) binds its new key, once; from
    /// then on its bearer token is refused.
    public struct BindKeyRequest: Codable, Equatable, Sendable {
        public var publicKey: String
        public var proof: Proof

        enum CodingKeys: String, CodingKey { case publicKey = "public_key", proof }

        public init(publicKey: String, proof: Proof) {
            self.publicKey = publicKey
            self.proof = proof
        }
    }

    /// What a device has installed for one bundle name.
    public struct InstalledBundle: Codable, Equatable, Hashable, Sendable {
        public var name: BundleName
        public var version: SemanticVersion
        public var digest: SHA256Digest
        public var state: InstalledState
        /// The build it runs, for a bundle with variants (absent for one of a single build, so
        /// that servers older than variants read the report as before).
        public var variant: VariantName?

        public init(name: BundleName, version: SemanticVersion, digest: SHA256Digest, state: InstalledState = .committed, variant: VariantName? = nil) {
            self.variant = variant
            self.name = name
            self.version = version
            self.digest = digest
            self.state = state
        }
    }

    public struct CheckinRequest: Codable, Equatable, Sendable {
        public var installed: [InstalledBundle]
        public var attributes: [String: String]?
        /// What this agent can do beyond the basics (`Feature`): the server offers a
        /// deployment that needs a feature only to agents that name it.
        public var features: [String]?
        /// Hex of 16 fresh random bytes: the server binds its signed answer to it.
        public var nonce: String?
        public var trust: TrustReport?
        /// What the device is (`DeviceInventory`): sent when the agent starts and whenever it
        /// changes; absent, the server keeps what it last heard.
        public var inventory: DeviceInventory?

        public init(installed: [InstalledBundle], attributes: [String: String]? = nil, features: [String]? = nil,
                    nonce: String? = nil, trust: TrustReport? = nil, inventory: DeviceInventory? = nil) {
            self.installed = installed
            self.attributes = attributes
            self.features = features
            self.nonce = nonce
            self.trust = trust
            self.inventory = inventory
        }
    }

    public enum Feature: String, Sendable {
        /// Runs a candidate model beside the live one before activation (`ShadowPolicy`).
        case shadow
        /// Picks the build of a bundle with variants that fits its inventory (manifest schema 2).
        case variants
    }

    public struct CheckinResponse: Codable, Equatable, Sendable {
        /// One second to a day: a server can neither make a device hammer it nor silence it.
        public var pollIntervalSeconds: Int
        public static let pollIntervalRange = 1...86_400
        public var assignments: [Assignment]
        /// Hosts (`host` or `host:port`) the server keeps content on (its object store), to
        /// which a device may follow a content redirect. Trusted only in a signed answer.
        public var contentHosts: [String]?
        public static let maximumContentHosts = 16

        enum CodingKeys: String, CodingKey { case pollIntervalSeconds = "poll_interval_s", assignments, contentHosts = "content_hosts" }

        public init(pollIntervalSeconds: Int, assignments: [Assignment], contentHosts: [String]? = nil) {
            self.pollIntervalSeconds = pollIntervalSeconds
            self.assignments = assignments
            self.contentHosts = contentHosts
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            pollIntervalSeconds = try container.decode(Int.self, forKey: .pollIntervalSeconds, in: Self.pollIntervalRange)
            assignments = try container.decode([Assignment].self, forKey: .assignments)
            // A host this device cannot read is left out (it is then not followed), rather than
            // making the whole answer unreadable.
            contentHosts = try container.decodeIfPresent([String].self, forKey: .contentHosts)
                .map { Array($0.prefix(Self.maximumContentHosts).filter(ContentHost.isValid)) }
        }
    }

    /// A bundle the server wants this device to run. Nothing in it is trusted until the
    /// envelope verifies against the device's own trust root.
    public struct Assignment: Codable, Equatable, Sendable {
        public var deploymentID: DeploymentID
        public var name: BundleName
        public var version: SemanticVersion
        public var digest: SHA256Digest
        public var envelope: Envelope
        /// Prove the candidate on live inputs before it serves (model bundles).
        public var shadow: ShadowPolicy?

        enum CodingKeys: String, CodingKey { case deploymentID = "deployment_id", name, version, digest, envelope, shadow }

        public init(deploymentID: DeploymentID, name: BundleName, version: SemanticVersion, digest: SHA256Digest, envelope: Envelope,
                    shadow: ShadowPolicy? = nil) {
            self.deploymentID = deploymentID
            self.name = name
            self.version = version
            self.digest = digest
            self.envelope = envelope
            self.shadow = shadow
        }
    }

    /// The steps of an update as devices report them.
    public enum UpdateState: String, Codable, CaseIterable, Sendable {
        case downloading, downloaded
        /// The candidate runs beside the live model on live inputs; it serves nothing yet.
        case shadow
        case installing
        case healthCheck = "health-check"
        case succeeded, failed
        case rolledBack = "rolled-back"
        /// Ended before activation without condemning the version: the server stopped
        /// offering it (cancelled or superseded), stopped serving its content, or it aged out.
        case abandoned

        /// The update is over on this device, one way or the other.
        public var isFinal: Bool { [.succeeded, .failed, .rolledBack, .abandoned].contains(self) }
    }

    public struct Event: Codable, Equatable, Sendable {
        /// A longer detail (in Unicode scalars, as JSON Schema counts) is refused; the server
        /// keeps the first `storedDetailBytes`.
        public static let maximumDetailLength = 8192
        public static let storedDetailBytes = 4000
        public var deploymentID: DeploymentID?
        public var bundleName: BundleName
        /// The version as the device names it (at most 256 bytes).
        public var version: String
        public var state: UpdateState
        public var detail: String
        /// When it happened on the device (RFC 3339).
        public var at: Timestamp
        /// Sent with `downloaded`: what the transfer cost.
        public var transfer: Transfer?
        /// Sent when a shadow phase ended: the figures and the device's verdict.
        public var shadow: ShadowOutcome?
        /// The build of a bundle with variants this device chose (`Manifest.Variant`).
        public var variant: VariantName?

        enum CodingKeys: String, CodingKey {
            case deploymentID = "deployment_id", bundleName = "bundle_name", version, state, detail, at, transfer, shadow, variant
        }

        public init(deploymentID: DeploymentID?, bundleName: BundleName, version: String, state: UpdateState, detail: String,
                    at: Timestamp = SystemClock().now, transfer: Transfer? = nil, shadow: ShadowOutcome? = nil, variant: VariantName? = nil) {
            self.shadow = shadow
            self.variant = variant
            self.deploymentID = deploymentID
            self.bundleName = bundleName
            self.version = version
            self.state = state
            self.detail = detail
            self.at = at
            self.transfer = transfer
        }
    }

    /// Several byte ranges of one payload file, answered back to back in this order (the
    /// chunks a device does not hold). In order, not overlapping, at most `maximumCount`.
    public struct RangesRequest: Codable, Equatable, Sendable {
        public static let maximumCount = 4096
        /// The reads of its store a server makes for one request: an answer holds at most so
        /// many stored chunks, and is cut short (a prefix of the bytes asked for) beyond.
        public static let storeReadsPerRequest = 16

        public struct Range: Codable, Equatable, Sendable {
            public var offset: UInt64
            public var length: UInt64
            public init(offset: UInt64, length: UInt64) { self.offset = offset; self.length = length }
        }

        public var ranges: [Range]
        public init(ranges: [Range]) { self.ranges = ranges }

        /// Nil when every range is inside a file of `fileSize` bytes, in order and apart.
        public func problem(fileSize: UInt64) -> String? {
            guard !ranges.isEmpty, ranges.count <= Self.maximumCount else { return "ask for 1 to \(Self.maximumCount) ranges" }
            var next: UInt64 = 0
            for (index, range) in ranges.enumerated() {
                guard range.length > 0 else { return "range \(index) is empty" }
                guard range.offset >= next else { return "range \(index) starts at \(range.offset), before the end of the one before it (\(next)): ranges must be in order and not overlap" }
                guard range.offset < fileSize, range.length <= fileSize - range.offset else {
                    return "range \(index) (\(range.offset)+\(range.length)) is outside the file's \(fileSize) bytes"
                }
                next = range.offset + range.length
            }
            return nil
        }
    }

    /// What a device fetched for an update, against the full size of the files it needed:
    /// the rest came from files and chunks it already held.
    public struct Transfer: Codable, Equatable, Sendable {
        public var fetchedBytes: UInt64
        public var totalBytes: UInt64

        enum CodingKeys: String, CodingKey { case fetchedBytes = "fetched_bytes", totalBytes = "total_bytes" }

        public init(fetchedBytes: UInt64, totalBytes: UInt64) {
            self.fetchedBytes = fetchedBytes
            self.totalBytes = totalBytes
        }

        public var isPlausible: Bool { fetchedBytes <= totalBytes && totalBytes <= 1 << 50 }
    }

    public struct EventsRequest: Codable, Equatable, Sendable {
        /// The most a batch may hold, in events and in bytes of JSON.
        public static let maximumCount = 500
        public static let maximumBytes = 1 << 20
        public var events: [Event]
        public init(events: [Event]) { self.events = events }
    }

    public struct EventsResponse: Codable, Equatable, Sendable {
        public var accepted: Int
        public init(accepted: Int) { self.accepted = accepted }
    }
}

/// The JSON body of every 4xx and 5xx answer.
public struct APIErrorBody: Codable, Equatable, Sendable {
    public struct Detail: Codable, Equatable, Sendable {
        /// A code this build does not know (a newer server's) decodes as `.unknown`.
        public var code: APIErrorCode
        public var message: String
    }
    public var error: Detail

    public init(code: APIErrorCode, message: String) { error = Detail(code: code, message: message) }
}
