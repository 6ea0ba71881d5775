/// The messages of Eclipse hawkBit's Direct Device Integration (DDI) API, as SWUpdate's
/// suricatta and RAUC's hawkBit clients read and write them. Field names are hawkBit's; links
/// keep the HAL shape (`{"rel": {"href": …}}`) in plain JSON too. What clients send is read
/// leniently (they add `id` and `time`, which mean nothing here); every value this server
/// uses is checked as it is decoded.
public enum DDI {
    public struct Link: Codable, Equatable, Sendable {
        public var href: String
        public init(_ href: String) { self.href = href }
    }

    // MARK: What the server sends

    /// The answer to a poll: how long to sleep, and what the device should look at now.
    public struct Base: Codable, Equatable, Sendable {
        public var config: Config
        public var links: [String: Link]
        enum CodingKeys: String, CodingKey { case config, links = "_links" }
        public init(sleep: String, links: [String: Link]) {
            config = Config(polling: .init(sleep: sleep))
            self.links = links
        }
    }

    public struct Config: Codable, Equatable, Sendable {
        public var polling: Polling
    }

    public struct Polling: Codable, Equatable, Sendable {
        /// `HH:MM:SS`, at most `23:59:59` (rauc-hawkbit parses it as a time of day).
        public var sleep: String
    }

    /// One action: the deployment a device is to download and install.
    public struct DeploymentBase: Codable, Equatable, Sendable {
        /// The action id, as text (hawkBit's spelling; SWUpdate reads it either way).
        public var id: String
        public var deployment: Deployment
        public init(id: String, deployment: Deployment) {
            self.id = id
            self.deployment = deployment
        }
    }

    public enum Handling: String, Codable, Sendable, CaseIterable {
        case skip, attempt, forced
    }

    /// Whether a maintenance window lets the device install now.
    public enum MaintenanceWindow: String, Codable, Sendable, CaseIterable {
        case available, unavailable
    }

    public struct Deployment: Codable, Equatable, Sendable {
        public var download: Handling
        public var update: Handling
        /// Only when a maintenance window applies.
        public var maintenanceWindow: MaintenanceWindow?
        public var chunks: [Chunk]
        public init(download: Handling, update: Handling, maintenanceWindow: MaintenanceWindow? = nil, chunks: [Chunk]) {
            self.download = download
            self.update = update
            self.maintenanceWindow = maintenanceWindow
            self.chunks = chunks
        }
    }

    /// A software module: here, the bundle.
    public struct Chunk: Codable, Equatable, Sendable {
        public var part: String
        public var version: String
        public var name: String
        public var artifacts: [Artifact]
        public var metadata: [Metadata]?
        public init(part: String, version: String, name: String, artifacts: [Artifact], metadata: [Metadata]? = nil) {
            self.part = part
            self.version = version
            self.name = name
            self.artifacts = artifacts
            self.metadata = metadata
        }
    }

    public struct Artifact: Codable, Equatable, Sendable {
        public var filename: String
        public var hashes: Hashes
        public var size: UInt64
        public var links: [String: Link]
        enum CodingKeys: String, CodingKey { case filename, hashes, size, links = "_links" }
        public init(filename: String, hashes: Hashes, size: UInt64, links: [String: Link]) {
            self.filename = filename
            self.hashes = hashes
            self.size = size
            self.links = links
        }
    }

    public struct Hashes: Codable, Equatable, Sendable {
        public var sha1: String
        public var md5: String
        public var sha256: String
        public init(sha1: String, md5: String, sha256: String) {
            self.sha1 = sha1
            self.md5 = md5
            self.sha256 = sha256
        }
    }

    public struct Metadata: Codable, Equatable, Sendable {
        public var key: String
        public var value: String
        public init(key: String, value: String) {
            self.key = key
            self.value = value
        }
    }

    /// An action the device should stop (its deployment was cancelled before it finished).
    public struct CancelAction: Codable, Equatable, Sendable {
        public var id: String
        public var cancelAction: Stop
        public init(id: String) {
            self.id = id
            cancelAction = Stop(stopId: id)
        }
    }

    public struct Stop: Codable, Equatable, Sendable {
        public var stopId: String
    }

    // MARK: What clients send

    /// Feedback on an action (`deploymentBase/{id}/feedback`, `cancelAction/{id}/feedback`).
    public struct Feedback: Codable, Equatable, Sendable {
        public var status: Status
        public init(status: Status) { self.status = status }
    }

    public struct Status: Codable, Equatable, Sendable {
        public var execution: Execution
        public var result: Result
        public var details: [String]?

        public static let maximumDetails = 200
        public static let maximumDetailBytes = 4096

        enum CodingKeys: String, CodingKey { case execution, result, details }

        public init(execution: Execution, result: Result, details: [String]? = nil) {
            self.execution = execution
            self.result = result
            self.details = details
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            execution = try container.decode(Execution.self, forKey: .execution)
            result = try container.decode(Result.self, forKey: .result)
            details = try container.decodeIfPresent([String].self, forKey: .details)
            if let details, details.count > Self.maximumDetails || details.contains(where: { $0.utf8.count > Self.maximumDetailBytes }) {
                throw DecodingError.dataCorruptedError(forKey: .details, in: container,
                    debugDescription: "at most \(Self.maximumDetails) details of at most \(Self.maximumDetailBytes) bytes each")
            }
        }
    }

    /// What the device is doing about the action.
    public enum Execution: String, Codable, Sendable, CaseIterable {
        case closed, proceeding, canceled, scheduled, rejected, resumed, downloaded, download
    }

    public struct Result: Codable, Equatable, Sendable {
        public var finished: Finished
        public var progress: Progress?
        public init(finished: Finished, progress: Progress? = nil) {
            self.finished = finished
            self.progress = progress
        }
    }

    public enum Finished: String, Codable, Sendable, CaseIterable {
        case success, failure, none
    }

    /// Steps done of all (SWUpdate), or a percentage (rauc-hawkbit); either may be absent.
    public struct Progress: Codable, Equatable, Sendable {
        public var cnt: Int?
        public var of: Int?
        public var percentage: Int?

        public init(cnt: Int? = nil, of: Int? = nil, percentage: Int? = nil) {
            self.cnt = cnt
            self.of = of
            self.percentage = percentage
        }

        enum CodingKeys: String, CodingKey { case cnt, of, percentage }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            func count(_ key: CodingKeys, _ range: ClosedRange<Int>) throws -> Int? {
                guard let value = try container.decodeIfPresent(Int.self, forKey: key) else { return nil }
                guard range.contains(value) else {
                    throw DecodingError.dataCorruptedError(forKey: key, in: container, debugDescription: "must be \(range.lowerBound) to \(range.upperBound)")
                }
                return value
            }
            cnt = try count(.cnt, 0...1_000_000)
            of = try count(.of, 0...1_000_000)
            percentage = try count(.percentage, 0...100)
        }

        /// "3 of 5", "40%", or nil.
        public var summary: String? {
            if let cnt, let of { return "\(cnt) of \(of)" }
            return percentage.map { "\($0)%" }
        }
    }

    /// Attributes a device reports about itself (`PUT configData`).
    public struct ConfigData: Codable, Equatable, Sendable {
        public var data: [String: String]
        public var mode: Mode?

        public static let maximumEntries = 100
        public static let maximumBytes = 1024

        public enum Mode: String, Codable, Sendable, CaseIterable {
            case merge, replace, remove
        }

        enum CodingKeys: String, CodingKey { case data, mode }

        public init(data: [String: String], mode: Mode? = nil) {
            self.data = data
            self.mode = mode
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            data = try container.decode([String: String].self, forKey: .data)
            mode = try container.decodeIfPresent(Mode.self, forKey: .mode)
            guard !data.isEmpty, data.count <= Self.maximumEntries,
                  data.allSatisfy({ !$0.key.isEmpty && $0.key.utf8.count <= 128 && $0.value.utf8.count <= Self.maximumBytes }) else {
                throw DecodingError.dataCorruptedError(forKey: .data, in: container,
                    debugDescription: "1 to \(Self.maximumEntries) attributes, names of 1 to 128 bytes, values of at most \(Self.maximumBytes) bytes")
            }
        }
    }
}
