import OTACore

/// This device's registration. `device_token` is only in files of agents from before device
/// keys (it is retired when the key is bound).
struct Credentials: Codable, Equatable {
    var deviceID: DeviceID
    var deviceToken: String?
    var registered: Bool?
    /// SHA-256 of the enrollment token this device registered with: never sent again.
    var usedEnrollmentToken: String?

    init(deviceID: DeviceID, deviceToken: String? = nil, registered: Bool = true, usedEnrollmentToken: String? = nil) {
        self.deviceID = deviceID
        self.deviceToken = deviceToken
        self.registered = registered
        self.usedEnrollmentToken = usedEnrollmentToken
    }

    enum CodingKeys: String, CodingKey {
        case deviceID = "device_id", deviceToken = "device_token", registered, usedEnrollmentToken = "used_enrollment_token"
    }
}

/// What is committed for one bundle name: the version that runs when no update is in progress.
struct InstalledRecord: Codable, Equatable {
    var name: BundleName
    var kind: BundleKind
    var version: SemanticVersion
    var digest: SHA256Digest
    var slot: SlotName
    /// The committed files, to hard-link unchanged ones into the next version's slot.
    var files: [Manifest.FileEntry]
    var committedAt: Timestamp
    var previous: Previous?
    /// What installing this version fetched, against the full size of its files.
    var transfer: DeviceAPI.Transfer?
    /// The build of a bundle with variants that runs (its files are `files`).
    var variant: VariantName?

    /// The version before: what a rollback of the next update puts back. Version and digest
    /// are absent only in records of agents that did not keep them.
    struct Previous: Codable, Equatable {
        var version: SemanticVersion?
        var digest: SHA256Digest?
        var slot: SlotName

        init(version: SemanticVersion?, digest: SHA256Digest?, slot: SlotName) {
            self.version = version
            self.digest = digest
            self.slot = slot
        }

        init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            // Older agents wrote "" for a version or digest they did not know.
            version = try c.decodeIfPresent(String.self, forKey: .version).flatMap { $0.isEmpty ? nil : try SemanticVersion($0) }
            digest = try c.decodeIfPresent(String.self, forKey: .digest).flatMap { $0.isEmpty ? nil : SHA256Digest(hex: $0) }
            slot = try c.decode(SlotName.self, forKey: .slot)
        }
    }

    enum CodingKeys: String, CodingKey {
        case name, kind, version, digest, slot, files, previous, transfer, variant
        case committedAt = "committed_at"
    }
}

/// A pending report for the server. Kept until the server acknowledged it.
typealias PendingEvent = DeviceAPI.Event

/// The last things worth telling an operator who runs `ota-agent status`.
struct AgentStatus: Codable, Equatable {
    var lastCheckin: Timestamp?
    var lastError: String?
    var lastErrorAt: Timestamp?
    var pollIntervalSeconds: Int?
    /// When the live models' figures were last collected (epoch seconds on disk).
    var lastMetricsEpoch: Int64?
    enum CodingKeys: String, CodingKey {
        case lastCheckin = "last_checkin", lastError = "last_error", lastErrorAt = "last_error_at"
        case pollIntervalSeconds = "poll_interval_s", lastMetricsEpoch = "last_metrics_epoch"
    }
}
