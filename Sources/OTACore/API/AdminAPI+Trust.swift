/// The trust metadata a server holds, for `otactl trust show --server`, `otactl release`
/// and the dashboard. The metadata itself travels as raw envelope bytes (`/api/v1/trust/...`).
extension AdminAPI {
    public static let trustPath = "/api/v1/trust"
    public static let trustRootPath = "/api/v1/trust/root"
    public static let trustTargetsPath = "/api/v1/trust/targets"

    public struct TrustSummary: Codable, Equatable, Sendable {
        /// 0 when the server runs with a legacy trust root (no release metadata).
        public var rootVersion: Int
        public var rootExpires: String?
        public var roots: [Int]
        public var targetsVersion: Int?
        public var targetsExpires: String?
        public var snapshotVersion: Int?
        public var timestampVersion: Int?
        public var timestampExpires: String?
        public var releases: [ReleasedBundle]
        /// Accepted devices whose last report says their trust is stale (`DeviceTrust.isStale`).
        public var staleDevices: Int

        enum CodingKeys: String, CodingKey {
            case rootVersion = "root_version", rootExpires = "root_expires", roots
            case targetsVersion = "targets_version", targetsExpires = "targets_expires"
            case snapshotVersion = "snapshot_version", timestampVersion = "timestamp_version", timestampExpires = "timestamp_expires"
            case releases, staleDevices = "stale_devices"
        }

        public init(rootVersion: Int, rootExpires: String?, roots: [Int], targetsVersion: Int?, targetsExpires: String?,
                    snapshotVersion: Int?, timestampVersion: Int?, timestampExpires: String?, releases: [ReleasedBundle], staleDevices: Int) {
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
        public var channel: String
        public var name: String
        public var version: String
        public var digest: String

        public init(channel: String, name: String, version: String, digest: String) {
            self.channel = channel
            self.name = name
            self.version = version
            self.digest = digest
        }

        /// The releases a targets file lists, by channel, name and version.
        public static func list(_ targets: TargetsMetadata) -> [ReleasedBundle] {
            targets.targets.compactMap { path, file in
                let parts = path.split(separator: "/", omittingEmptySubsequences: false)
                guard parts.count == 3 else { return nil }
                return ReleasedBundle(channel: String(parts[0]), name: String(parts[1]), version: String(parts[2]), digest: file.hashes["sha256"] ?? "")
            }.sorted { ($0.channel, $0.name, $0.version) < ($1.channel, $1.name, $1.version) }
        }
    }

    public struct TrustPublishResponse: Codable, Equatable, Sendable {
        public var role: String
        public var version: Int
        /// What the operator must do next, e.g. re-sign the release metadata after a rotation.
        public var warning: String?
        public init(role: String, version: Int, warning: String? = nil) {
            self.role = role
            self.version = version
            self.warning = warning
        }
    }
}
