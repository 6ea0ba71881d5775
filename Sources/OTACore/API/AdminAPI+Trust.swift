/// The trust metadata a server holds, for `otactl trust show --server`, `otactl release`
/// and the dashboard. The metadata itself travels as raw envelope bytes (`/api/v1/trust/...`).
extension AdminAPI {
    public static let trustPath = "/api/v1/trust"
    public static let trustRootPath = "/api/v1/trust/root"
    public static let trustTargetsPath = "/api/v1/trust/targets"

    public struct TrustSummary: Codable, Equatable, Sendable {
        /// 0 when the server runs with a legacy trust root (no release metadata).
        public var rootVersion: Int
        public var rootExpires: Timestamp?
        public var roots: [Int]
        public var targetsVersion: Int?
        public var targetsExpires: Timestamp?
        public var snapshotVersion: Int?
        public var timestampVersion: Int?
        public var timestampExpires: Timestamp?
        public var releases: [ReleasedBundle]
        /// Accepted devices whose last report says their trust is stale (`DeviceTrust.isStale`).
        public var staleDevices: Int

        enum CodingKeys: String, CodingKey {
            case rootVersion = "root_version", rootExpires = "root_expires", roots
            case targetsVersion = "targets_version", targetsExpires = "targets_expires"
            case snapshotVersion = "snapshot_version", timestampVersion = "timestamp_version", timestampExpires = "timestamp_expires"
            case releases, staleDevices = "stale_devices"
        }

        public init(rootVersion: Int, rootExpires: Timestamp?, roots: [Int], targetsVersion: Int?, targetsExpires: Timestamp?,
                    snapshotVersion: Int?, timestampVersion: Int?, timestampExpires: Timestamp?, releases: [ReleasedBundle], staleDevices: Int) {
            self.rootVersion = rootVersion
            self.rootExpires = rootExpires
            self.roots = roots
            self.targetsVersion = targetsVersion
            self.targetsExpires = targetsExpires
            self.snapshotVersion = snapshotVersion
            self.timestampVersion = timestampVersion
            self.timestampExpires = timestampExpires
            self.releases = releases
            self.staleDevices = staleDevices
        }
    }

    public struct ReleasedBundle: Codable, Equatable, Sendable {
        public var channel: Channel
        public var name: BundleName
        public var version: String
        public var digest: SHA256Digest

        public init(channel: Channel, name: BundleName, version: String, digest: SHA256Digest) {
            self.channel = channel
            self.name = name
            self.version = version
            self.digest = digest
        }

        /// The releases a targets file lists, by channel, name and version.
        public static func list(_ targets: TargetsMetadata) -> [ReleasedBundle] {
            targets.targets.compactMap { path, file in
                let parts = path.split(separator: "/", omittingEmptySubsequences: false)
                guard parts.count == 3, let channel = Channel(rawValue: String(parts[0])), let name = BundleName(rawValue: String(parts[1])),
                      let digest = file.hashes["sha256"].flatMap({ SHA256Digest(hex: $0) }) else { return nil }
                return ReleasedBundle(channel: channel, name: name, version: String(parts[2]), digest: digest)
            }.sorted { ($0.channel.rawValue, $0.name.rawValue, $0.version) < ($1.channel.rawValue, $1.name.rawValue, $1.version) }
        }
    }

    public struct TrustPublishResponse: Codable, Equatable, Sendable {
        public var role: TUFRoleName
        public var version: Int
        /// What the operator must do next, e.g. re-sign the release metadata after a rotation.
        public var warning: String?
        public init(role: TUFRoleName, version: Int, warning: String? = nil) {
            self.role = role
            self.version = version
            self.warning = warning
        }
    }
}
