import OTACore
import Synchronization

/// The server's side of TUF: the root chain and the release metadata operators publish
/// (signed offline), and the snapshot and timestamp it signs itself with its online key and
/// renews before they expire (`TrustRepository+Publishing.swift`). It never holds a root or
/// release private key.
///
/// Everything devices need is kept in memory (`Published`), encoded once, so a check-in never
/// reads the database or encodes metadata; the database holds every version for restarts.
/// Instances sharing a database keep it in step through the database (`+Sharing.swift`).
final class TrustRepository: Sendable {
    /// The newest root and what it signs, as devices receive them.
    struct Published: Sendable {
        var roots: [Int: Stored<RootMetadata>] = [:]
        var root: RootMetadata
        var targets: Stored<TargetsMetadata>?
        var snapshot: Stored<SnapshotMetadata>?
        var timestamp: Stored<TimestampMetadata>?
        var releases = ReleaseIndex()
        /// The online keys that sign check-in answers under `root`, with their key ids.
        var answerSigners: [CheckinAnswerWriter.Signer] = []
    }

    /// Metadata as stored: its exact bytes, their base64 for answers, and what they say.
    struct Stored<T: TUFSigned>: Sendable {
        let bytes: [UInt8]
        let base64: String
        let signed: T

        init(bytes: [UInt8], signed: T) {
            self.bytes = bytes
            self.base64 = Base64.encode(bytes)
            self.signed = signed
        }

        /// Metadata read back from the database, which verified it when it was published.
        init(stored bytes: [UInt8]) throws {
            self.init(bytes: bytes, signed: try MetadataEnvelope.open(T.self, bytes, verifiedBy: nil))
        }
    }

    /// Which bundles are released on which channel, for the check-in path.
    struct ReleaseIndex: Sendable {
        private var entries = Set<String>()

        init(_ targets: TargetsMetadata? = nil) {
            for (path, file) in targets?.targets ?? [:] { if let digest = file.hashes["sha256"] { entries.insert(path + "#" + digest) } }
        }

        func contains(channel: Channel, name: BundleName, version: SemanticVersion, digest: SHA256Digest) -> Bool {
            entries.contains(Release.targetPath(channel: channel, name: name, version: version) + "#" + digest.hex)
        }
    }

    struct Lifetimes: Sendable {
        var timestampSeconds: Int64 = 86_400
        var snapshotSeconds: Int64 = 7 * 86_400
    }

    /// Nil with a legacy trust root: no metadata, unsigned answers.
    let published: Mutex<Published?>
    let legacyTrust: BundleTrust
    let onlineKeys: [Ed25519PrivateKey]
    let lifetimes: Lifetimes
    let db: any SQLDatabase
    /// Publishing and renewal run one at a time (`serially`): each signs the next version of
    /// what the previous one wrote.
    let writing = AsyncGate()
    let isLegacy: Bool

    private init(published: Published?, legacyTrust: BundleTrust, onlineKeys: [Ed25519PrivateKey], lifetimes: Lifetimes, db: any SQLDatabase) {
        self.isLegacy = published == nil
        self.published = Mutex(published)
        self.legacyTrust = legacyTrust
        self.onlineKeys = onlineKeys
        self.lifetimes = lifetimes
        self.db = db
    }

    /// Loads the stored chain (checking every link again), continuing it with the configured
    /// root where that is the next version.
    static func open(anchor: TrustAnchor, onlineKeys: [Ed25519PrivateKey], lifetimes: Lifetimes = Lifetimes(),
                     db: any SQLDatabase) async throws -> TrustRepository {
        let rows = try await db.read { db in
            try await db.rows("SELECT role, version, envelope FROM trust_metadata ORDER BY role, version")
        }
        var stored: [String: [(Int, [UInt8])]] = [:]
        for row in rows { stored[try row["role"], default: []].append((try row["version"], Array(try row["envelope"] as Data))) }
        let roots = stored["root"] ?? []
        guard case .tuf(let configured, let configuredBytes) = anchor else {
            guard roots.isEmpty else {
                throw TrustSetupError("the registry holds TUF root version \(roots.last!.0): start the server with a TUF root (--trust root.json) and --online-key")
            }
            return TrustRepository(published: nil, legacyTrust: anchor.bundleTrust, onlineKeys: [], lifetimes: lifetimes, db: db)
        }
        guard !onlineKeys.isEmpty else {
            throw TrustSetupError("a TUF root needs the server's online key: pass --online-key FILE (the private key of its snapshot, timestamp and check-in roles)")
        }
        var state = Published(root: configured)
        if roots.isEmpty {
            state.roots[configured.version] = Stored(bytes: configuredBytes, signed: configured)
            try await store(db, [(.root, configured.version, configuredBytes)])
        } else {
            var chain = try TrustedMetadata(trustedRoot: roots[0].1, now: 0)
            state.roots[roots[0].0] = Stored(bytes: roots[0].1, signed: chain.root)
            for (version, bytes) in roots.dropFirst() {
                do { try chain.updateRoot(bytes) } catch { throw TrustSetupError("the registry's root version \(version) does not continue the chain: \(error)") }
                state.roots[version] = Stored(bytes: bytes, signed: chain.root)
            }
            if let stored = state.roots[configured.version], stored.bytes != configuredBytes {
                throw TrustSetupError("--trust holds a root version \(configured.version) that differs from the one the registry stores")
            }
            if configured.version == chain.root.version + 1 {
                try chain.updateRoot(configuredBytes)
                state.roots[configured.version] = Stored(bytes: configuredBytes, signed: chain.root)
                try await store(db, [(.root, configured.version, configuredBytes)])
            } else if configured.version > chain.root.version + 1 {
                throw TrustSetupError("--trust holds root version \(configured.version) but the registry's chain ends at \(chain.root.version): publish the versions between")
            }
            state.root = chain.root
        }
        if let (_, bytes) = stored["targets"]?.last { state.targets = try Stored(stored: bytes) }
        if let (_, bytes) = stored["snapshot"]?.last { state.snapshot = try Stored(stored: bytes) }
        if let (_, bytes) = stored["timestamp"]?.last { state.timestamp = try Stored(stored: bytes) }
        state.releases = ReleaseIndex(state.targets?.signed)
        let repository = TrustRepository(published: state, legacyTrust: anchor.bundleTrust, onlineKeys: onlineKeys, lifetimes: lifetimes, db: db)
        let signers = try repository.onlineSigners(for: state.root)
        repository.published.withLock { $0?.answerSigners = signers }
        try await repository.renew(force: false)
        return repository
    }

    // MARK: What devices and publishers see

    /// The keys a published bundle must be signed by: the newest root's release keys.
    var bundleTrust: BundleTrust { published.withLock { $0?.root.bundleTrust } ?? legacyTrust }

    var current: Published? { published.withLock { $0 } }

    /// What is released where; nil with a legacy root (nothing is checked).
    var releaseIndex: ReleaseIndex? { published.withLock { $0?.releases } }

    /// What is released where, for clients that check no metadata themselves (DDI): only
    /// while the release metadata the server holds has not expired. Nil means nothing is.
    func unexpiredReleaseIndex(at now: Timestamp) -> ReleaseIndex? {
        published.withLock { state in
            guard let state, let targets = state.targets, targets.signed.expiresEpoch > now.secondsSinceEpoch else { return nil }
            return state.releases
        }
    }

    /// The metadata a device lacks, judged from the versions it reported. Roots go out only
    /// as an unbroken run from the device's next version: a device walks them by position.
    func metadata(for report: DeviceAPI.TrustReport?) -> DeviceAPI.TrustMetadata? {
        published.withLock { state -> DeviceAPI.TrustMetadata? in
            guard let state else { return nil }
            var result = DeviceAPI.TrustMetadata()
            let have = report?.rootVersion ?? 0
            if have < state.root.version {
                var roots: [String] = []
                var next = have + 1
                // python-tuf walks at most 256 rotations per refresh too.
                while next <= state.root.version, roots.count < MetadataRefresh.maximumRootRotations, let root = state.roots[next] {
                    roots.append(root.base64)
                    next += 1
                }
                if !roots.isEmpty { result.roots = roots }
            }
            // Only what is newer than the device's: an instance a moment behind another must
            // not offer a device that is ahead an older version (it would see a rollback).
            if let timestamp = state.timestamp, report?.timestampVersion ?? 0 < timestamp.signed.version { result.timestamp = timestamp.base64 }
            if let snapshot = state.snapshot, report?.snapshotVersion ?? 0 < snapshot.signed.version { result.snapshot = snapshot.base64 }
            if let targets = state.targets, report?.targetsVersion ?? 0 < targets.signed.version { result.targets = targets.base64 }
            return result.isEmpty ? nil : result
        }
    }

    /// Checks that the configured online keys can sign every online role of `root`, and
    /// returns those that sign check-in answers.
    func onlineSigners(for root: RootMetadata) throws -> [CheckinAnswerWriter.Signer] {
        for role in [TUFRoleName.snapshot, .timestamp] { _ = try signingKeys(for: root.role(role), named: role.rawValue, in: root) }
        return try signingKeys(for: root.checkin, named: RootMetadata.checkinField, in: root).map { .init(keyid: $0.publicKey.tufKeyID, key: $0) }
    }

    /// The configured online keys `role` lists in `root`, enough for its threshold.
    func signingKeys(for role: TUFRole?, named name: String, in root: RootMetadata) throws -> [Ed25519PrivateKey] {
        let keys = onlineKeys.filter { key in role?.keyids.contains(key.publicKey.tufKeyID) == true }
        guard let role, keys.count >= role.threshold else {
            throw TrustSetupError("root version \(root.version) needs \(role?.threshold ?? 1) of its \(name) keys, and the server holds \(keys.count) of them (--online-key): start it with the keys the root names")
        }
        return Array(keys.prefix(role.threshold))
    }

    /// Stores new versions. A version is never replaced: devices may hold it already. The
    /// same bytes again are fine (instances starting together store the configured root).
    static func store(_ db: any SQLDatabase, _ rows: [(TUFRoleName, Int, [UInt8])]) async throws {
        try await db.write { db in
            for (role, version, bytes) in rows {
                if let stored = try await db.value([UInt8].self, "SELECT envelope FROM trust_metadata WHERE role = \(role.rawValue) AND version = \(version)") {
                    guard stored == bytes else { throw TrustStoreConflict(role: role.rawValue, version: version) }
                    continue
                }
                try await db.execute("INSERT INTO trust_metadata (role, version, envelope, stored_at) VALUES (\(role.rawValue), \(version), \(bytes), \(Timestamp.now()))")
            }
        }
    }
}

struct TrustSetupError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
