/// The device API's wire types, shared by `ota-server` and `ota-agent`.
/// Paths: see `Sources/OTAServer/Resources/openapi.yaml`.
public enum DeviceAPI {
    public static let registerPath = "/api/v1/device/register"
    public static let checkinPath = "/api/v1/device/checkin"
    public static let eventsPath = "/api/v1/device/events"
    public static let contentPathPrefix = "/api/v1/device/content/"

    public struct RegisterRequest: Codable, Equatable, Sendable {
        public var enrollmentToken: String
        public var deviceID: String
        public var hardware: String
        public var attributes: [String: String]?
        public var tags: [String]?

        enum CodingKeys: String, CodingKey {
            case enrollmentToken = "enrollment_token", deviceID = "device_id", hardware, attributes, tags
        }

        public init(enrollmentToken: String, deviceID: String, hardware: String, attributes: [String: String]? = nil, tags: [String]? = nil) {
            self.enrollmentToken = enrollmentToken
            self.deviceID = deviceID
            self.hardware = hardware
            self.attributes = attributes
            self.tags = tags
        }
    }

    public struct RegisterResponse: Codable, Equatable, Sendable {
        public var deviceID: String
        public var deviceToken: String

        enum CodingKeys: String, CodingKey { case deviceID = "device_id", deviceToken = "device_token" }

        public init(deviceID: String, deviceToken: String) {
            self.deviceID = deviceID
            self.deviceToken = deviceToken
        }
    }

    /// What a device has installed for one bundle name.
    public struct InstalledBundle: Codable, Equatable, Hashable, Sendable {
        public var name: String
        public var version: String
        public var digest: String
        /// `committed`, or `trial` while a new version is on probation.
        public var state: String

        public init(name: String, version: String, digest: String, state: String = "committed") {
            self.name = name
            self.version = version
            self.digest = digest
            self.state = state
        }
    }

    public struct CheckinRequest: Codable, Equatable, Sendable {
        public var installed: [InstalledBundle]
        public var attributes: [String: String]?

        public init(installed: [InstalledBundle], attributes: [String: String]? = nil) {
            self.installed = installed
            self.attributes = attributes
        }
    }

    public struct CheckinResponse: Codable, Equatable, Sendable {
        public var pollIntervalSeconds: Int
        public var assignments: [Assignment]

        enum CodingKeys: String, CodingKey { case pollIntervalSeconds = "poll_interval_s", assignments }

        public init(pollIntervalSeconds: Int, assignments: [Assignment]) {
            self.pollIntervalSeconds = pollIntervalSeconds
            self.assignments = assignments
        }
    }

    /// A bundle the server wants this device to run. Nothing in it is trusted until the
    /// envelope verifies against the device's own trust root.
    public struct Assignment: Codable, Equatable, Sendable {
        public var deploymentID: String
        public var name: String
        public var version: String
        public var digest: String
        public var envelope: Envelope

        enum CodingKeys: String, CodingKey { case deploymentID = "deployment_id", name, version, digest, envelope }

        public init(deploymentID: String, name: String, version: String, digest: String, envelope: Envelope) {
            self.deploymentID = deploymentID
            self.name = name
            self.version = version
            self.digest = digest
            self.envelope = envelope
        }
    }

    /// The steps of an update as devices report them.
    public enum UpdateState: String, Codable, CaseIterable, Sendable {
        case downloading, downloaded, installing
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
        public var deploymentID: String?
        public var bundleName: String
        public var version: String
        public var state: UpdateState
        public var detail: String
        /// When it happened on the device (RFC 3339).
        public var at: String

        enum CodingKeys: String, CodingKey {
            case deploymentID = "deployment_id", bundleName = "bundle_name", version, state, detail, at
        }

        public init(deploymentID: String?, bundleName: String, version: String, state: UpdateState, detail: String, at: String = Timestamp.now()) {
            self.deploymentID = deploymentID
            self.bundleName = bundleName
            self.version = version
            self.state = state
            self.detail = detail
            self.at = at
        }
    }

    public struct EventsRequest: Codable, Equatable, Sendable {
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
        public var code: String
        public var message: String
    }
    public var error: Detail

    public init(code: String, message: String) { error = Detail(code: code, message: message) }
}
