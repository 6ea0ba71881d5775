/// Where new metadata comes from: a repository folder (`otactl trust check`, tests) or a
/// check-in answer. This seam keeps the workflow below free of I/O.
public protocol MetadataSource {
    /// Root version `version`, or nil when there is no newer one.
    /// Each throws when what it has cannot be read (too large for its role, not base64).
    func root(version: Int) throws -> [UInt8]?
    func timestamp() throws -> [UInt8]?
    /// `version` is set when the root asks for consistent snapshots.
    func snapshot(version: Int?) throws -> [UInt8]?
    func targets(version: Int?) throws -> [UInt8]?
    /// A repository always has a timestamp (a missing one is an error, as in python-tuf); a
    /// check-in answer leaves it out when the device already holds the newest.
    var alwaysHasTimestamp: Bool { get }
}

/// Where a client keeps the metadata it trusts between refreshes.
public protocol MetadataStore {
    func load(_ role: TUFRoleName) -> [UInt8]?
    func save(_ role: TUFRoleName, _ bytes: [UInt8]) throws
}

/// TUF's detailed client workflow, as python-tuf's `Updater.refresh()` runs it: walk the root
/// chain, then timestamp, snapshot and targets, each from the store if still valid, else from
/// the source. Each piece is saved as soon as it verifies, so a root walked stays walked even
/// when a later step fails.
public enum MetadataRefresh {
    public static let maximumRootRotations = 256

    public static func run(_ trusted: inout TrustedMetadata, from source: some MetadataSource, store: some MetadataStore) throws {
        let first = trusted.root.version + 1
        for version in first..<(first + maximumRootRotations) {
            guard let bytes = try source.root(version: version) else { break }
            try trusted.updateRoot(bytes)
            try store.save(.root, bytes)
        }

        if let local = store.load(.timestamp) { try? trusted.updateTimestamp(local) }
        if let remote = try source.timestamp() {
            do {
                try trusted.updateTimestamp(remote)
                try store.save(.timestamp, remote)
            } catch TUFError.equalVersion(_) {}
        } else if source.alwaysHasTimestamp {
            throw TUFError.missing(.timestamp, "the repository has no timestamp")
        }
        guard trusted.timestamp != nil else {
            throw TUFError.missing(.timestamp, "none was sent, and none trusted before still verifies under root version \(trusted.root.version)")
        }
        try trusted.checkFinalTimestamp()

        var snapshotLoaded = false
        if let local = store.load(.snapshot) {
            do {
                try trusted.updateSnapshot(local, trusted: true)
                snapshotLoaded = true
            } catch {}
        }
        if !snapshotLoaded {
            let version = trusted.root.consistentSnapshot == true ? trusted.timestamp?.snapshot.version : nil
            guard let bytes = try source.snapshot(version: version) else {
                throw TUFError.missing(.snapshot, "the timestamp names snapshot version \(trusted.timestamp?.snapshot.version ?? 0), which was not sent")
            }
            try trusted.updateSnapshot(bytes)
            try store.save(.snapshot, bytes)
        }

        if let local = store.load(.targets), (try? trusted.updateTargets(local)) != nil { return }
        guard let meta = trusted.snapshot?.meta["targets.json"] else {
            throw TUFError.missing(.targets, "the snapshot does not list targets.json")
        }
        guard let bytes = try source.targets(version: trusted.root.consistentSnapshot == true ? meta.version : nil) else {
            throw TUFError.missing(.targets, "the snapshot names targets version \(meta.version), which was not sent")
        }
        try trusted.updateTargets(bytes)
        try store.save(.targets, bytes)
    }
}

/// Keeps nothing: for checks that must not change what is trusted.
public struct ScratchMetadataStore: MetadataStore {
    let initial: [TUFRoleName: [UInt8]]
    public init(_ initial: [TUFRoleName: [UInt8]] = [:]) { self.initial = initial }
    public func load(_ role: TUFRoleName) -> [UInt8]? { initial[role] }
    public func save(_ role: TUFRoleName, _ bytes: [UInt8]) throws {}
}

/// Metadata as files in a folder, by TUF's names: `N.root.json`, `timestamp.json`, and
/// `snapshot.json` / `targets.json` (or `V.snapshot.json` / `V.targets.json` with consistent
/// snapshots).
public struct MetadataFolder: MetadataSource, MetadataStore {
    public let path: String
    public init(_ path: String) { self.path = path }

    func read(_ name: String) -> [UInt8]? {
        try? FileSystem.readFile(path + "/" + name, limit: MetadataEnvelope.maximumSize + 1)
    }

    public func root(version: Int) -> [UInt8]? { read("\(version).root.json") }
    public func timestamp() -> [UInt8]? { read("timestamp.json") }
    public func snapshot(version: Int?) -> [UInt8]? { read(version.map { "\($0).snapshot.json" } ?? "snapshot.json") }
    public func targets(version: Int?) -> [UInt8]? { read(version.map { "\($0).targets.json" } ?? "targets.json") }
    public var alwaysHasTimestamp: Bool { true }

    public func load(_ role: TUFRoleName) -> [UInt8]? { read("\(role.rawValue).json") }
    public func save(_ role: TUFRoleName, _ bytes: [UInt8]) throws {
        try FileSystem.writeAtomically(bytes, to: path + "/" + "\(role.rawValue).json")
    }
}
