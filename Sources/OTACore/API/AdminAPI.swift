/// The admin API's wire types, shared by `ota-server` and `otactl`.
public enum AdminAPI {
    /// What an admin-API token may do. Each role includes the ones before it in `includes`.
    public enum Role: String, Codable, CaseIterable, Sendable, Comparable {
        case viewer, publisher, `operator`, admin

        /// viewer reads; publisher also uploads content and publishes bundles; operator also
        /// runs deployments, devices and enrollment tokens; admin may do everything.
        public func allows(_ needed: Role) -> Bool {
            switch (self, needed) {
            case (.admin, _): return true
            case (_, .viewer): return true
            case (.publisher, .publisher), (.operator, .operator): return true
            default: return false
            }
        }

        public static func < (lhs: Role, rhs: Role) -> Bool {
            allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
        }
    }

    public struct MissingContentRequest: Codable, Equatable, Sendable {
        /// The most digests one request may ask about.
        public static let maximumCount = 10_000
        public var digests: [SHA256Digest]
        public init(digests: [SHA256Digest]) { self.digests = digests }
    }

    public struct MissingContentResponse: Codable, Equatable, Sendable {
        public var missing: [SHA256Digest]
        public init(missing: [SHA256Digest]) { self.missing = missing }
    }

    public struct ContentUploadResponse: Codable, Equatable, Sendable {
        public var sha256: SHA256Digest
        public var size: UInt64
        public var created: Bool
        public init(sha256: SHA256Digest, size: UInt64, created: Bool) {
            self.sha256 = sha256
            self.size = size
            self.created = created
        }
    }

    public struct BundleFile: Codable, Equatable, Sendable {
        public var path: String
        public var size: UInt64
        public var sha256: SHA256Digest
        public init(path: String, size: UInt64, sha256: SHA256Digest) {
            self.path = path
            self.size = size
            self.sha256 = sha256
        }
    }

    public struct Bundle: Codable, Equatable, Sendable {
        public var name: BundleName
        public var version: SemanticVersion
        public var kind: BundleKind
        public var digest: SHA256Digest
        public var compatible: [HardwareClass]
        public var size: UInt64
        public var signers: [String]
        public var created: Timestamp
        public var publishedAt: Timestamp
        public var metadata: JSONValue?
        public var files: [BundleFile]?
        public var health: Manifest.HealthCheck?
        /// Bytes of the signed manifest (what release metadata lists with the digest); in the detailed view.
        public var manifestSize: Int?
        /// The builds it holds, best first (`Manifest.Variant`); nil for a bundle of one build.
        public var variants: [BundleVariant]?

        enum CodingKeys: String, CodingKey {
            case name, version, kind, digest, compatible, size, signers, created, metadata, files, health, variants
            case publishedAt = "published_at", manifestSize = "manifest_size"
        }

        public init(name: BundleName, version: SemanticVersion, kind: BundleKind, digest: SHA256Digest, compatible: [HardwareClass], size: UInt64,
                    signers: [String], created: Timestamp, publishedAt: Timestamp, metadata: JSONValue?, files: [BundleFile]?,
                    health: Manifest.HealthCheck?, variants: [BundleVariant]? = nil) {
            self.variants = variants
            self.name = name
            self.version = version
            self.kind = kind
            self.digest = digest
            self.compatible = compatible
            self.size = size
            self.signers = signers
            self.created = created
            self.publishedAt = publishedAt
            self.metadata = metadata
            self.files = files
            self.health = health
        }
    }

    public struct BundleList: Codable, Equatable, Sendable {
        public var bundles: [Bundle]
        public init(bundles: [Bundle]) { self.bundles = bundles }
    }

    public struct PublishResponse: Codable, Equatable, Sendable {
        public var bundle: Bundle
        /// False when the identical bundle was already published (publishing is idempotent).
        public var created: Bool
        public init(bundle: Bundle, created: Bool) {
            self.bundle = bundle
            self.created = created
        }
    }

    public struct DeploymentCreateRequest: Codable, Equatable, Sendable {
        public var bundleName: BundleName
        public var version: SemanticVersion
        public var target: Target
        /// Stages in order; omitted means one stage with the whole target.
        public var phases: [Phase]?
        public var autoAdvance: Bool?
        public var soakSeconds: Int?
        public var successRatio: Double?
        public var failureThresholdCount: Int?
        public var failureThresholdPercent: Double?
        public var failureMinFinished: Int?
        public var rateLimitPerMinute: Int?
        /// Prove the candidate on each device's live inputs before it serves (model bundles).
        public var shadow: ShadowSettings?
        /// Quality gates: on each device in shadow, and on each phase's median before it
        /// advances (a failing phase pauses the deployment).
        public var gates: [QualityGate]?
        /// Devices whose figures a phase needs before its gates decide (fewer in a smaller phase).
        public var gateMinDevices: Int?
        /// Only the targeted devices whose inventory meets this (`where` on the wire).
        public var inventoryFilter: InventoryCondition?

        enum CodingKeys: String, CodingKey {
            case shadow, gates, gateMinDevices = "gate_min_devices", inventoryFilter = "where"
            case bundleName = "bundle_name", version, target, phases
            case autoAdvance = "auto_advance", soakSeconds = "soak_s", successRatio = "success_ratio"
            case failureThresholdCount = "failure_threshold_count", failureThresholdPercent = "failure_threshold_percent"
            case failureMinFinished = "failure_min_finished", rateLimitPerMinute = "rate_limit_per_minute"
        }

        /// Every number is range-checked, and the phases must make a rollout, when the request is
        /// decoded: a bad one is a 400 naming the field.
        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            bundleName = try container.decode(BundleName.self, forKey: .bundleName)
            version = try container.decode(SemanticVersion.self, forKey: .version)
            target = try container.decode(Target.self, forKey: .target)
            phases = try container.decodeIfPresent([Phase].self, forKey: .phases)
            if let phases, let problem = Phase.problem(in: phases) {
                throw DecodingError.dataCorrupted(.init(codingPath: container.codingPath + [CodingKeys.phases], debugDescription: problem))
            }
            autoAdvance = try container.decodeIfPresent(Bool.self, forKey: .autoAdvance)
            soakSeconds = try container.decodeIfPresent(Int.self, forKey: .soakSeconds, in: 0...(30 * 86_400))
            successRatio = try container.decodeIfPresent(Double.self, forKey: .successRatio)
            if let ratio = successRatio, !(ratio > 0 && ratio <= 1) {
                throw DecodingError.dataCorrupted(.init(codingPath: container.codingPath + [CodingKeys.successRatio], debugDescription: "must be above 0 and at most 1"))
            }
            failureThresholdCount = try container.decodeIfPresent(Int.self, forKey: .failureThresholdCount, in: 1...Int(Int32.max))
            failureThresholdPercent = try container.decodeIfPresent(Double.self, forKey: .failureThresholdPercent)
            if let percent = failureThresholdPercent, !(percent >= 0 && percent < 100) {
                throw DecodingError.dataCorrupted(.init(codingPath: container.codingPath + [CodingKeys.failureThresholdPercent], debugDescription: "must be from 0 to below 100"))
            }
            failureMinFinished = try container.decodeIfPresent(Int.self, forKey: .failureMinFinished, in: 0...Int(Int32.max))
            rateLimitPerMinute = try container.decodeIfPresent(Int.self, forKey: .rateLimitPerMinute, in: 1...Int(Int32.max))
            shadow = try container.decodeIfPresent(ShadowSettings.self, forKey: .shadow)
            gates = try container.decodeIfPresent([QualityGate].self, forKey: .gates)
            gateMinDevices = try container.decodeIfPresent(Int.self, forKey: .gateMinDevices, in: 1...100_000)
            inventoryFilter = try container.decodeIfPresent(InventoryCondition.self, forKey: .inventoryFilter)
        }

        public init(bundleName: BundleName, version: SemanticVersion, target: Target, phases: [Phase]? = nil, autoAdvance: Bool? = nil,
                    soakSeconds: Int? = nil, successRatio: Double? = nil, failureThresholdCount: Int? = nil,
                    failureThresholdPercent: Double? = nil, failureMinFinished: Int? = nil, rateLimitPerMinute: Int? = nil,
                    shadow: ShadowSettings? = nil, gates: [QualityGate]? = nil, gateMinDevices: Int? = nil,
                    inventoryFilter: InventoryCondition? = nil) {
            self.inventoryFilter = inventoryFilter
            self.shadow = shadow
            self.gates = gates
            self.gateMinDevices = gateMinDevices
            self.bundleName = bundleName
            self.version = version
            self.target = target
            self.phases = phases
            self.autoAdvance = autoAdvance
            self.soakSeconds = soakSeconds
            self.successRatio = successRatio
            self.failureThresholdCount = failureThresholdCount
            self.failureThresholdPercent = failureThresholdPercent
            self.failureMinFinished = failureMinFinished
            self.rateLimitPerMinute = rateLimitPerMinute
        }
    }

    /// Device counts by update state; `pending` means assigned but not started.
    public struct StateCounts: Codable, Equatable, Sendable {
        public var pending = 0
        public var downloading = 0
        public var installing = 0
        public var succeeded = 0
        public var failed = 0
        public var rolledBack = 0

        enum CodingKeys: String, CodingKey {
            case pending, downloading, installing, succeeded, failed
            case rolledBack = "rolled_back"
        }

        public init() {}

        public var total: Int { pending + downloading + installing + succeeded + failed + rolledBack }
        public var finished: Int { succeeded + failed + rolledBack }
        public var unsuccessful: Int { failed + rolledBack }

        public static func + (lhs: StateCounts, rhs: StateCounts) -> StateCounts {
            var sum = StateCounts()
            sum.pending = lhs.pending + rhs.pending
            sum.downloading = lhs.downloading + rhs.downloading
            sum.installing = lhs.installing + rhs.installing
            sum.succeeded = lhs.succeeded + rhs.succeeded
            sum.failed = lhs.failed + rhs.failed
            sum.rolledBack = lhs.rolledBack + rhs.rolledBack
            return sum
        }
    }

    public struct PhaseStatus: Codable, Equatable, Sendable {
        public var index: Int
        public var label: String
        public var counts: StateCounts
        public var startedAt: Timestamp?

        enum CodingKeys: String, CodingKey { case index, label, counts, startedAt = "started_at" }

        public init(index: Int, label: String, counts: StateCounts, startedAt: Timestamp?) {
            self.index = index
            self.label = label
            self.counts = counts
            self.startedAt = startedAt
        }
    }

    public struct FailureReason: Codable, Equatable, Sendable {
        public var reason: String
        public var count: Int
        public init(reason: String, count: Int) {
            self.reason = reason
            self.count = count
        }
    }

    public struct VersionCount: Codable, Equatable, Sendable {
        public var version: String
        public var count: Int
        public init(version: String, count: Int) {
            self.version = version
            self.count = count
        }
    }

    /// The bytes a rollout moved: summed over the devices that finished downloading.
    public struct TransferTotals: Codable, Equatable, Sendable {
        public var devices: Int
        public var fetchedBytes: UInt64
        public var totalBytes: UInt64
        public var savedBytes: UInt64 { totalBytes - min(fetchedBytes, totalBytes) }

        enum CodingKeys: String, CodingKey { case devices, fetchedBytes = "fetched_bytes", totalBytes = "total_bytes", savedBytes = "saved_bytes" }

        public init(devices: Int, fetchedBytes: UInt64, totalBytes: UInt64) {
            self.devices = devices
            self.fetchedBytes = fetchedBytes
            self.totalBytes = totalBytes
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            devices = try container.decode(Int.self, forKey: .devices)
            fetchedBytes = try container.decode(UInt64.self, forKey: .fetchedBytes)
            totalBytes = try container.decode(UInt64.self, forKey: .totalBytes)
        }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(devices, forKey: .devices)
            try container.encode(fetchedBytes, forKey: .fetchedBytes)
            try container.encode(totalBytes, forKey: .totalBytes)
            try container.encode(savedBytes, forKey: .savedBytes)
        }
    }

    public struct Deployment: Codable, Equatable, Sendable {
        public var id: DeploymentID
        public var bundleName: BundleName
        public var version: SemanticVersion
        public var digest: SHA256Digest
        public var target: Target
        /// active, paused, completed, cancelled
        public var status: DeploymentStatus
        public var pausedReason: String?
        public var currentPhase: Int
        public var phases: [PhaseStatus]
        public var counts: StateCounts
        public var autoAdvance: Bool
        public var soakSeconds: Int
        public var successRatio: Double
        public var failureThresholdCount: Int?
        public var failureThresholdPercent: Double?
        public var failureMinFinished: Int
        public var rateLimitPerMinute: Int?
        public var createdAt: Timestamp
        public var createdBy: String
        public var failureReasons: [FailureReason]?
        public var versions: [VersionCount]?
        /// What the devices fetched against the full size (detail only).
        public var transfer: TransferTotals?
        public var shadow: ShadowPolicy?
        public var gates: [QualityGate]?
        public var gateMinDevices: Int?
        /// What each reached phase's devices measured, and the gates' verdicts (detail only).
        public var quality: [PhaseQuality]?
        /// Only the targeted devices whose inventory meets this.
        public var inventoryFilter: InventoryCondition?
        /// For a bundle with variants, each build's devices and figures (detail only).
        public var variants: [VariantProgress]?

        enum CodingKeys: String, CodingKey {
            case shadow, gates, gateMinDevices = "gate_min_devices", quality, inventoryFilter = "where", variants
            case id, target, status, phases, counts, versions, transfer
            case bundleName = "bundle_name", version, digest
            case pausedReason = "paused_reason", currentPhase = "current_phase", autoAdvance = "auto_advance"
            case soakSeconds = "soak_s", successRatio = "success_ratio", failureThresholdCount = "failure_threshold_count"
            case failureThresholdPercent = "failure_threshold_percent", failureMinFinished = "failure_min_finished"
            case rateLimitPerMinute = "rate_limit_per_minute", createdAt = "created_at", createdBy = "created_by"
            case failureReasons = "failure_reasons"
        }

        public init(id: DeploymentID, bundleName: BundleName, version: SemanticVersion, digest: SHA256Digest, target: Target, status: DeploymentStatus,
                    pausedReason: String?, currentPhase: Int, phases: [PhaseStatus], counts: StateCounts, autoAdvance: Bool,
                    soakSeconds: Int, successRatio: Double, failureThresholdCount: Int?, failureThresholdPercent: Double?,
                    failureMinFinished: Int, rateLimitPerMinute: Int?, createdAt: Timestamp, createdBy: String,
                    failureReasons: [FailureReason]? = nil, versions: [VersionCount]? = nil, transfer: TransferTotals? = nil,
                    shadow: ShadowPolicy? = nil, gates: [QualityGate]? = nil, gateMinDevices: Int? = nil, quality: [PhaseQuality]? = nil,
                    inventoryFilter: InventoryCondition? = nil, variants: [VariantProgress]? = nil) {
            self.inventoryFilter = inventoryFilter
            self.variants = variants
            self.shadow = shadow
            self.gates = gates
            self.gateMinDevices = gateMinDevices
            self.quality = quality
            self.id = id
            self.bundleName = bundleName
            self.version = version
            self.digest = digest
            self.target = target
            self.status = status
            self.pausedReason = pausedReason
            self.currentPhase = currentPhase
            self.phases = phases
            self.counts = counts
            self.autoAdvance = autoAdvance
            self.soakSeconds = soakSeconds
            self.successRatio = successRatio
            self.failureThresholdCount = failureThresholdCount
            self.failureThresholdPercent = failureThresholdPercent
            self.failureMinFinished = failureMinFinished
            self.rateLimitPerMinute = rateLimitPerMinute
            self.createdAt = createdAt
            self.createdBy = createdBy
            self.failureReasons = failureReasons
            self.versions = versions
            self.transfer = transfer
        }
    }

    public struct DeploymentList: Codable, Equatable, Sendable {
        public var deployments: [Deployment]
        public init(deployments: [Deployment]) { self.deployments = deployments }
    }

    public struct Device: Codable, Equatable, Sendable {
        public var id: DeviceID
        public var hardware: HardwareClass
        public var tags: [Tag]
        public var group: GroupName?
        public var attributes: [String: String]
        public var registeredAt: Timestamp
        public var lastSeen: Timestamp?
        /// The latest update state the device reported, or `idle`.
        public var state: DeviceUpdateState
        public var installed: [DeviceAPI.InstalledBundle]
        /// pending until an operator accepts it (for tokens that are not auto-accept).
        public var status: DeviceAPI.DeviceStatus
        /// SHA-256 (hex) of the device's public key; nil for a device still on a bearer token.
        public var keyID: String?
        /// What the device last said it trusts; nil before its first report.
        public var trust: DeviceAPI.TrustReport?
        /// The trust report shows a problem or expired release metadata.
        public var trustStale: Bool
        /// `ota-agent`, or a device's own client on hawkBit's DDI API.
        public var `protocol`: DeviceProtocol
        /// What the device last said it is; nil before it said anything (and for DDI devices).
        public var inventory: DeviceInventory?

        enum CodingKeys: String, CodingKey {
            case id, hardware, tags, group, attributes, state, installed, status, trust, `protocol`, inventory
            case registeredAt = "registered_at", lastSeen = "last_seen", keyID = "key_id", trustStale = "trust_stale"
        }

        public init(id: DeviceID, hardware: HardwareClass, tags: [Tag], group: GroupName?, attributes: [String: String],
                    registeredAt: Timestamp, lastSeen: Timestamp?, state: DeviceUpdateState, installed: [DeviceAPI.InstalledBundle],
                    status: DeviceAPI.DeviceStatus = .accepted, keyID: String? = nil, trust: DeviceAPI.TrustReport? = nil,
                    protocol: DeviceProtocol = .agent, inventory: DeviceInventory? = nil, now: Timestamp) {
            self.protocol = `protocol`
            self.inventory = inventory
            self.trust = trust
            self.trustStale = trust?.isStale(at: now) ?? false
            self.status = status
            self.keyID = keyID
            self.id = id
            self.hardware = hardware
            self.tags = tags
            self.group = group
            self.attributes = attributes
            self.registeredAt = registeredAt
            self.lastSeen = lastSeen
            self.state = state
            self.installed = installed
        }
    }

    public struct DevicePage: Codable, Equatable, Sendable {
        public var devices: [Device]
        /// Pass as `cursor` to get the next page; absent on the last page.
        public var nextCursor: String?
        enum CodingKeys: String, CodingKey { case devices, nextCursor = "next_cursor" }
        public init(devices: [Device], nextCursor: String?) {
            self.devices = devices
            self.nextCursor = nextCursor
        }
    }

    public struct EventRecord: Codable, Equatable, Sendable {
        public var id: Int64
        public var deviceID: DeviceID
        public var deploymentID: DeploymentID?
        public var bundleName: BundleName
        public var version: String
        public var state: DeviceAPI.UpdateState
        public var detail: String
        public var at: Timestamp
        public var receivedAt: Timestamp

        enum CodingKeys: String, CodingKey {
            case id, version, state, detail, at
            case deviceID = "device_id", deploymentID = "deployment_id", bundleName = "bundle_name", receivedAt = "received_at"
        }

        public init(id: Int64, deviceID: DeviceID, deploymentID: DeploymentID?, bundleName: BundleName, version: String, state: DeviceAPI.UpdateState,
                    detail: String, at: Timestamp, receivedAt: Timestamp) {
            self.id = id
            self.deviceID = deviceID
            self.deploymentID = deploymentID
            self.bundleName = bundleName
            self.version = version
            self.state = state
            self.detail = detail
            self.at = at
            self.receivedAt = receivedAt
        }
    }

    public struct DeviceDetail: Codable, Equatable, Sendable {
        public var device: Device
        public var events: [EventRecord]
        public init(device: Device, events: [EventRecord]) {
            self.device = device
            self.events = events
        }
    }

    public struct DeviceUpdateRequest: Codable, Equatable, Sendable {
        /// Replaces every tag.
        public var tags: [Tag]?
        public var group: GroupChange?
        public init(tags: [Tag]? = nil, group: GroupChange? = nil) {
            self.tags = tags
            self.group = group
        }
    }

    /// A device's new group, or none: on the wire the group's name, or the empty string.
    public enum GroupChange: Codable, Equatable, Sendable {
        case set(GroupName)
        case remove

        public var group: GroupName? { if case .set(let group) = self { return group } else { return nil } }

        public init(from decoder: any Decoder) throws {
            let text = try decoder.singleValueContainer().decode(String.self)
            self = text.isEmpty ? .remove : .set(try GroupName(from: decoder))
        }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.singleValueContainer()
            try container.encode(group?.rawValue ?? "")
        }
    }

    /// An enrollment token fixes what a device registering with it is: its hardware class
    /// (when set), its tags and group, an id prefix (when set), and whether it is accepted at
    /// once or waits for an operator. One use and 24 hours unless set.
    public struct EnrollmentTokenCreateRequest: Codable, Equatable, Sendable {
        public static let defaultMaxUses = 1
        public static let defaultLifetimeSeconds = 86_400

        public var name: String?
        public var maxUses: Int?
        public var expiresInSeconds: Int?
        public var tags: [Tag]?
        public var group: GroupName?
        public var hardware: HardwareClass?
        public var idPrefix: DeviceIDPrefix?
        public var autoAccept: Bool?

        public static let lifetimeRange = 1...(10 * 365 * 86_400)

        enum CodingKeys: String, CodingKey {
            case name, tags, group, hardware, maxUses = "max_uses", expiresInSeconds = "expires_in_s"
            case idPrefix = "id_prefix", autoAccept = "auto_accept"
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            name = try container.decodeIfPresent(String.self, forKey: .name)
            if let name, name.isEmpty || name.utf8.count > 128 {
                throw DecodingError.dataCorrupted(.init(codingPath: container.codingPath + [CodingKeys.name], debugDescription: "must be 1 to 128 bytes"))
            }
            maxUses = try container.decodeIfPresent(Int.self, forKey: .maxUses, in: 1...Int(Int32.max))
            expiresInSeconds = try container.decodeIfPresent(Int.self, forKey: .expiresInSeconds, in: Self.lifetimeRange)
            tags = try container.decodeIfPresent([Tag].self, forKey: .tags)
            group = try container.decodeIfPresent(GroupName.self, forKey: .group)
            hardware = try container.decodeIfPresent(HardwareClass.self, forKey: .hardware)
            idPrefix = try container.decodeIfPresent(DeviceIDPrefix.self, forKey: .idPrefix)
            autoAccept = try container.decodeIfPresent(Bool.self, forKey: .autoAccept)
        }

        public init(name: String? = nil, maxUses: Int? = nil, expiresInSeconds: Int? = nil, tags: [Tag]? = nil, group: GroupName? = nil,
                    hardware: HardwareClass? = nil, idPrefix: DeviceIDPrefix? = nil, autoAccept: Bool? = nil) {
            self.name = name
            self.maxUses = maxUses
            self.expiresInSeconds = expiresInSeconds
            self.tags = tags
            self.group = group
            self.hardware = hardware
            self.idPrefix = idPrefix
            self.autoAccept = autoAccept
        }
    }

    public struct EnrollmentToken: Codable, Equatable, Sendable {
        public var id: TokenID
        public var name: String
        public var maxUses: Int?
        public var uses: Int
        public var expiresAt: Timestamp?
        public var revoked: Bool
        public var tags: [Tag]
        public var group: GroupName?
        public var hardware: HardwareClass?
        public var idPrefix: DeviceIDPrefix?
        public var autoAccept: Bool
        public var createdAt: Timestamp
        /// The secret itself: present only in the answer to create.
        public var token: String?

        enum CodingKeys: String, CodingKey {
            case id, name, uses, revoked, tags, group, token, hardware
            case maxUses = "max_uses", expiresAt = "expires_at", createdAt = "created_at", idPrefix = "id_prefix", autoAccept = "auto_accept"
        }

        public init(id: TokenID, name: String, maxUses: Int?, uses: Int, expiresAt: Timestamp?, revoked: Bool, tags: [Tag],
                    group: GroupName?, hardware: HardwareClass? = nil, idPrefix: DeviceIDPrefix? = nil, autoAccept: Bool = true, createdAt: Timestamp,
                    token: String? = nil) {
            self.id = id
            self.name = name
            self.maxUses = maxUses
            self.uses = uses
            self.expiresAt = expiresAt
            self.revoked = revoked
            self.tags = tags
            self.group = group
            self.hardware = hardware
            self.idPrefix = idPrefix
            self.autoAccept = autoAccept
            self.createdAt = createdAt
            self.token = token
        }
    }

    /// Devices an operator authorises ahead of their first contact, with their keys.
    /// One line of a factory list: an agent with its public key (accepted when it first
    /// registers with that key), or a device on hawkBit's DDI API (`protocol` `ddi`, no key:
    /// it is accepted at once and the import answers its token).
    public struct PreauthorizedDevice: Codable, Equatable, Sendable {
        public var deviceID: DeviceID
        /// Base64 of the raw 32-byte Ed25519 public key; an agent's only, and required for one.
        public var publicKey: String?
        /// `agent` when absent.
        public var `protocol`: DeviceProtocol?
        public var hardware: HardwareClass
        public var tags: [Tag]?
        public var group: GroupName?

        public var isDDI: Bool { `protocol` == .ddi }
        public static let maxTags = 64

        enum CodingKeys: String, CodingKey { case deviceID = "device_id", publicKey = "public_key", `protocol`, hardware, tags, group }

        public init(deviceID: DeviceID, publicKey: String, hardware: HardwareClass, tags: [Tag]? = nil, group: GroupName? = nil) {
            self.deviceID = deviceID
            self.publicKey = publicKey
            self.hardware = hardware
            self.tags = tags
            self.group = group
        }

        /// A device whose own DDI client (SWUpdate, RAUC) polls with a token made at import.
        public init(ddi deviceID: DeviceID, hardware: HardwareClass, tags: [Tag]? = nil, group: GroupName? = nil) {
            self.deviceID = deviceID
            self.protocol = .ddi
            self.hardware = hardware
            self.tags = tags
            self.group = group
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            deviceID = try container.decode(DeviceID.self, forKey: .deviceID)
            publicKey = try container.decodeIfPresent(String.self, forKey: .publicKey)
            `protocol` = try container.decodeIfPresent(DeviceProtocol.self, forKey: .protocol)
            hardware = try container.decode(HardwareClass.self, forKey: .hardware)
            tags = try container.decodeIfPresent([Tag].self, forKey: .tags)
            if let tags, tags.count > Self.maxTags {
                throw DecodingError.dataCorruptedError(forKey: .tags, in: container, debugDescription: "at most \(Self.maxTags) tags a device")
            }
            group = try container.decodeIfPresent(GroupName.self, forKey: .group)
            switch (isDDI, publicKey) {
            case (false, nil):
                throw DecodingError.dataCorruptedError(forKey: .publicKey, in: container, debugDescription:
                    "an agent device needs its public_key (a DDI device says \"protocol\": \"ddi\" instead)")
            case (true, .some):
                throw DecodingError.dataCorruptedError(forKey: .publicKey, in: container, debugDescription:
                    "a DDI device has no public_key: it authenticates with the token the import answers")
            default: break
            }
        }
    }

    public struct DeviceImportRequest: Codable, Equatable, Sendable {
        public var devices: [PreauthorizedDevice]
        public init(devices: [PreauthorizedDevice]) { self.devices = devices }
    }

    public struct DeviceImportResponse: Codable, Equatable, Sendable {
        public var imported: Int
        /// The DDI devices' tokens, shown this once (the server keeps only their hashes).
        public var ddiTokens: [DDIToken]?

        enum CodingKeys: String, CodingKey { case imported, ddiTokens = "ddi_tokens" }

        public init(imported: Int, ddiTokens: [DDIToken]? = nil) {
            self.imported = imported
            self.ddiTokens = ddiTokens
        }
    }

    /// A device that keeps its own update client and speaks hawkBit's DDI API: it is accepted at
    /// once and authenticates with the token the answer holds.
    public struct DDIDeviceRequest: Codable, Equatable, Sendable {
        public var deviceID: DeviceID
        public var hardware: HardwareClass
        public var tags: [Tag]?
        public var group: GroupName?

        enum CodingKeys: String, CodingKey { case deviceID = "device_id", hardware, tags, group }

        public init(deviceID: DeviceID, hardware: HardwareClass, tags: [Tag]? = nil, group: GroupName? = nil) {
            self.deviceID = deviceID
            self.hardware = hardware
            self.tags = tags
            self.group = group
        }
    }

    /// A DDI device's token, shown once: the server keeps only its hash.
    public struct DDIToken: Codable, Equatable, Sendable {
        public var deviceID: DeviceID
        /// For the client's configuration (`Authorization: TargetToken <token>`).
        public var token: String

        enum CodingKeys: String, CodingKey { case deviceID = "device_id", token }

        public init(deviceID: DeviceID, token: String) {
            self.deviceID = deviceID
            self.token = token
        }
    }

    /// Moves a device to a new key (re-provisioning); its history stays.
    public struct DeviceKeyRequest: Codable, Equatable, Sendable {
        public var publicKey: String
        enum CodingKeys: String, CodingKey { case publicKey = "public_key" }
        public init(publicKey: String) { self.publicKey = publicKey }
    }

    public struct EnrollmentTokenList: Codable, Equatable, Sendable {
        public var tokens: [EnrollmentToken]
        public init(tokens: [EnrollmentToken]) { self.tokens = tokens }
    }

    public struct AuditEntry: Codable, Equatable, Sendable {
        public var id: Int64
        public var at: Timestamp
        public var actor: String
        public var role: AuditRole
        public var action: AuditAction
        public var target: String
        public var detail: String

        public init(id: Int64, at: Timestamp, actor: String, role: AuditRole, action: AuditAction, target: String, detail: String) {
            self.id = id
            self.at = at
            self.actor = actor
            self.role = role
            self.action = action
            self.target = target
            self.detail = detail
        }
    }

    public struct AuditPage: Codable, Equatable, Sendable {
        public var entries: [AuditEntry]
        public var nextCursor: String?
        enum CodingKeys: String, CodingKey { case entries, nextCursor = "next_cursor" }
        public init(entries: [AuditEntry], nextCursor: String?) {
            self.entries = entries
            self.nextCursor = nextCursor
        }
    }
}

extension AdminAPI {
    /// Aggregates for the fleet overview.
    public struct FleetSummary: Codable, Equatable, Sendable {
        public struct Count: Codable, Equatable, Sendable {
            public var key: String
            public var count: Int
            public init(key: String, count: Int) {
                self.key = key
                self.count = count
            }
        }

        public struct BundleVersions: Codable, Equatable, Sendable {
            public var name: BundleName
            public var versions: [VersionCount]
            public init(name: BundleName, versions: [VersionCount]) {
                self.name = name
                self.versions = versions
            }
        }

        public var devices: Int
        public var byState: [Count]
        public var byHardware: [Count]
        public var silent: Int
        public var silentAfterSeconds: Int
        public var bundles: [BundleVersions]
        public var activeDeployments: Int
        /// The live figures of each running version (from the devices' metrics_command).
        public var metrics: [VersionMetrics]?

        enum CodingKeys: String, CodingKey {
            case devices, silent, bundles, metrics
            case byState = "by_state", byHardware = "by_hardware", silentAfterSeconds = "silent_after_s"
            case activeDeployments = "active_deployments"
        }

        public init(devices: Int, byState: [Count], byHardware: [Count], silent: Int, silentAfterSeconds: Int,
                    bundles: [BundleVersions], activeDeployments: Int, metrics: [VersionMetrics]? = nil) {
            self.metrics = metrics
            self.devices = devices
            self.byState = byState
            self.byHardware = byHardware
            self.silent = silent
            self.silentAfterSeconds = silentAfterSeconds
            self.bundles = bundles
            self.activeDeployments = activeDeployments
        }
    }
}
