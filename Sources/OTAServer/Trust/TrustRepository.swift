import GRDB
import OTACore
import Synchronization

/// The server's side of TUF: the root chain and the release metadata operators publish
/// (signed offline), and the snapshot and timestamp it signs itself with its online key and
/// renews before they expire. It never holds a root or release private key.
///
/// Everything devices need is kept in memory (`Published`), so a check-in never reads the
/// database for metadata; the database holds every version for restarts.
final class TrustRepository: Sendable {
    /// The newest root and what it signs, as devices receive them.
    struct Published: Sendable {
        var roots: [Int: [UInt8]] = [:]
        var root: RootMetadata
        var targets: Stored<TargetsMetadata>?
        var snapshot: Stored<SnapshotMetadata>?
        var timestamp: Stored<TimestampMetadata>?
    }

    struct Stored<T: TUFSigned>: Sendable {
        let bytes: [UInt8]
        let signed: T
        var base64: String { Base64.encode(bytes) }
    }

    struct Lifetimes: Sendable {
        var timestampSeconds: Int64 = 86_400
        var snapshotSeconds: Int64 = 7 * 86_400
    }

    /// Nil with a legacy trust root: no metadata, unsigned answers.
    private let published: Mutex<Published?>
    private let legacyTrust: BundleTrust
    private let onlineKeys: [Ed25519PrivateKey]
    private let lifetimes: Lifetimes
    private let db: DatabasePool
    /// Publishing and renewal run one at a time: each signs the next version of what the
    /// previous one wrote. They are rare (operators, and a check every 30 s).
    private let writing = Mutex(())

    let isLegacy: Bool

    private init(published: Published?, legacyTrust: BundleTrust, onlineKeys: [Ed25519PrivateKey], lifetimes: Lifetimes, db: DatabasePool) {
        self.isLegacy = published == nil
        self.published = Mutex(published)
        self.legacyTrust = legacyTrust
        self.onlineKeys = onlineKeys
        self.lifetimes = lifetimes
        self.db = db
    }

    /// Loads the stored chain, continuing it with the configured root where that is newer.
    static func open(anchor: TrustAnchor, onlineKeys: [Ed25519PrivateKey], lifetimes: Lifetimes = Lifetimes(),
                     db: DatabasePool) async throws -> TrustRepository {
        let rows = try await db.read { db in
            try Row.fetchAll(db, sql: "SELECT role, version, envelope FROM trust_metadata ORDER BY role, version")
        }
        var stored: [String: [(Int, [UInt8])]] = [:]
        for row in rows { stored[row["role"], default: []].append((row["version"], Array(row["envelope"] as Data))) }
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
            state.roots[configured.version] = configuredBytes
            try Self.store(db, .root, configured.version, configuredBytes)
        } else {
            var chain = TrustedMetadata(root: try TrustedMetadata(trustedRoot: roots[0].1, now: 0).root, rootBytes: roots[0].1, now: 0)
            state.roots[roots[0].0] = roots[0].1
            for (version, bytes) in roots.dropFirst() {
                try chain.updateRoot(bytes)
                state.roots[version] = bytes
            }
            if let stored = state.roots[configured.version], stored != configuredBytes {
                throw TrustSetupError("--trust holds a root version \(configured.version) that differs from the one the registry stores")
            }
            if configured.version == chain.root.version + 1 {
                try chain.updateRoot(configuredBytes)
                state.roots[configured.version] = configuredBytes
                try Self.store(db, .root, configured.version, configuredBytes)
            } else if configured.version > chain.root.version + 1 {
                throw TrustSetupError("--trust holds root version \(configured.version) but the registry's chain ends at \(chain.root.version): publish the versions between")
            }
            state.root = chain.root
        }
        if let (_, bytes) = stored["targets"]?.last { state.targets = Stored(bytes: bytes, signed: try MetadataEnvelope.open(TargetsMetadata.self, bytes, verifiedBy: nil)) }
        if let (_, bytes) = stored["snapshot"]?.last { state.snapshot = Stored(bytes: bytes, signed: try MetadataEnvelope.open(SnapshotMetadata.self, bytes, verifiedBy: nil)) }
        if let (_, bytes) = stored["timestamp"]?.last { state.timestamp = Stored(bytes: bytes, signed: try MetadataEnvelope.open(TimestampMetadata.self, bytes, verifiedBy: nil)) }
        let repository = TrustRepository(published: state, legacyTrust: anchor.bundleTrust, onlineKeys: onlineKeys, lifetimes: lifetimes, db: db)
        _ = try repository.onlineKey(for: .timestamp)
        try repository.renew(force: false)
        return repository
    }

    // MARK: What devices and publishers see

    /// The keys a published bundle must be signed by: the newest root's release keys.
    var bundleTrust: BundleTrust { published.withLock { $0?.root.bundleTrust } ?? legacyTrust }

    var current: Published? { published.withLock { $0 } }

    /// The metadata a device lacks, judged from the versions it reported.
    func metadata(for report: DeviceAPI.TrustReport?) -> DeviceAPI.TrustMetadata? {
        return published.withLock { state -> DeviceAPI.TrustMetadata? in
            guard let state else { return nil }
            let have = report?.rootVersion ?? 0
            var result = DeviceAPI.TrustMetadata()
            if have < state.root.version {
                let newer = (have + 1...state.root.version).compactMap { state.roots[$0] }
                // A device too far behind walks in steps; python-tuf allows 256 rotations too.
                result.roots = Array(newer.prefix(MetadataRefresh.maximumRootRotations)).map { Base64.encode($0) }
            }
            if let timestamp = state.timestamp, report?.timestampVersion != timestamp.signed.version { result.timestamp = timestamp.base64 }
            if let snapshot = state.snapshot, report?.snapshotVersion != snapshot.signed.version { result.snapshot = snapshot.base64 }
            if let targets = state.targets, report?.targetsVersion != targets.signed.version { result.targets = targets.base64 }
            return result.isEmpty ? nil : result
        }
    }

    /// Signs a check-in answer payload with the check-in key; nil with a legacy root.
    func signAnswer(_ payload: [UInt8]) throws -> Envelope? {
        guard !isLegacy else { return nil }
        var envelope = Envelope(payloadType: DeviceAPI.answerPayloadType, payload: payload)
        try envelope.signTUF(with: try onlineKey(for: nil))
        return envelope
    }

    /// The configured online key the newest root lists for `role` (nil: check-in answers).
    private func onlineKey(for role: TUFRoleName?) throws -> Ed25519PrivateKey {
        guard let root = current?.root else { throw TrustPublishError.legacy }
        let roleKeys = role.map { root.role($0) } ?? root.checkin
        guard let roleKeys, let key = onlineKeys.first(where: { roleKeys.keyids.contains($0.publicKey.tufKeyID) }) else {
            throw TrustSetupError("none of the server's --online-key keys is listed in root version \(root.version) for \(role?.rawValue ?? RootMetadata.checkinField): start the server with the key the root names")
        }
        return key
    }

    static func store(_ db: DatabasePool, _ role: TUFRoleName, _ version: Int, _ bytes: [UInt8]) throws {
        try db.write { db in
            try db.execute(sql: "INSERT OR REPLACE INTO trust_metadata (role, version, envelope, stored_at) VALUES (?, ?, ?, ?)",
                           arguments: [role.rawValue, version, Data(bytes), Timestamp.now()])
        }
    }

    // MARK: Publishing and renewal

    /// Takes root version N+1 after checking it as a device will.
    func publishRoot(_ bytes: [UInt8]) throws -> RootMetadata {
        try writing.withLock { _ in try publishRootLocked(bytes) }
    }

    private func publishRootLocked(_ bytes: [UInt8]) throws -> RootMetadata {
        guard let state = current else { throw TrustPublishError.legacy }
        var chain = TrustedMetadata(root: state.root, rootBytes: state.roots[state.root.version] ?? [], now: Timestamp.epochSeconds())
        do { try chain.updateRoot(bytes) } catch { throw TrustPublishError.refused(error.description) }
        let next = chain.root
        guard !next.isExpired(at: Timestamp.epochSeconds()) else { throw TrustPublishError.refused("root version \(next.version) has already expired (\(next.expires))") }
        for role in [TUFRoleName.snapshot, .timestamp] where !onlineKeys.contains(where: { next.role(role).keyids.contains($0.publicKey.tufKeyID) }) {
            throw TrustPublishError.refused("root version \(next.version) does not list any of this server's online keys for \(role.rawValue): restart the server with the new key as well (--online-key) before publishing")
        }
        guard let checkin = next.checkin, onlineKeys.contains(where: { checkin.keyids.contains($0.publicKey.tufKeyID) }) else {
            throw TrustPublishError.refused("root version \(next.version) does not list any of this server's online keys for \(RootMetadata.checkinField)")
        }
        try Self.store(db, .root, next.version, bytes)
        published.withLock { state in
            state?.roots[next.version] = bytes
            state?.root = next
        }
        // New online keys, or new thresholds: sign snapshot and timestamp again under this root.
        try renewLocked(force: true)
        return next
    }

    /// Takes new release metadata, signed by a threshold of the release keys.
    func publishTargets(_ bytes: [UInt8]) throws -> TargetsMetadata {
        try writing.withLock { _ in try publishTargetsLocked(bytes) }
    }

    private func publishTargetsLocked(_ bytes: [UInt8]) throws -> TargetsMetadata {
        guard let state = self.current else { throw TrustPublishError.legacy }
        let (root, current) = (state.root, state.targets?.signed)
        let targets: TargetsMetadata
        do { targets = try MetadataEnvelope.open(TargetsMetadata.self, bytes, verifiedBy: root, signers: "the release keys of root version \(root.version)") } catch {
            throw TrustPublishError.refused(error.description)
        }
        if let current, targets.version <= current.version {
            throw TrustPublishError.refused("release metadata version \(targets.version) is not newer than the published \(current.version)")
        }
        guard !targets.isExpired(at: Timestamp.epochSeconds()) else { throw TrustPublishError.refused("release metadata version \(targets.version) has already expired (\(targets.expires))") }
        for path in targets.targets.keys {
            let parts = path.split(separator: "/", omittingEmptySubsequences: false)
            guard parts.count == 3, Release.channelProblem(String(parts[0])) == nil, SafeName.problem(with: String(parts[1]), what: "name") == nil,
                  (try? SemanticVersion(String(parts[2]))) != nil else {
                throw TrustPublishError.refused("release target '\(path.prefix(120))' is not CHANNEL/NAME/VERSION")
            }
        }
        try Self.store(db, .targets, targets.version, bytes)
        published.withLock { $0?.targets = Stored(bytes: bytes, signed: targets) }
        try renewLocked(force: true)
        return targets
    }

    /// Signs a new snapshot when the targets changed or it nears expiry, and a new timestamp
    /// when anything changed or it is past half its life.
    func renew(force: Bool) throws {
        try writing.withLock { _ in try renewLocked(force: force) }
    }

    private func renewLocked(force: Bool) throws {
        let now = Timestamp.epochSeconds()
        guard let state = current else { return }
        guard let targets = state.targets?.signed else { return }
        var snapshot = state.snapshot
        if force || snapshot == nil || snapshot!.signed.meta["targets.json"]?.version != targets.version
            || snapshot!.signed.expiresEpoch - now < lifetimes.snapshotSeconds / 2 {
            let next = SnapshotMetadata(version: (snapshot?.signed.version ?? 0) + 1, expires: TUFCommon.expires(in: lifetimes.snapshotSeconds, from: now),
                                        meta: ["targets.json": TUFMetaFile(version: targets.version)])
            snapshot = try sign(next, role: .snapshot)
        }
        guard let snapshot else { return }
        var timestamp = state.timestamp
        if force || timestamp == nil || timestamp!.signed.snapshot.version != snapshot.signed.version
            || timestamp!.signed.expiresEpoch - now < lifetimes.timestampSeconds / 2 {
            let next = TimestampMetadata(version: (timestamp?.signed.version ?? 0) + 1, expires: TUFCommon.expires(in: lifetimes.timestampSeconds, from: now),
                                         snapshot: TUFMetaFile(version: snapshot.signed.version))
            timestamp = try sign(next, role: .timestamp)
        }
        published.withLock { state in
            state?.snapshot = snapshot
            state?.timestamp = timestamp
        }
    }

    private func sign<T: TUFSigned>(_ signed: T, role: TUFRoleName) throws -> Stored<T> {
        var envelope = try MetadataEnvelope.wrap(signed)
        try envelope.signTUF(with: try onlineKey(for: role))
        let bytes = try envelope.encoded()
        try Self.store(db, role, signed.version, bytes)
        return Stored(bytes: bytes, signed: signed)
    }
}

struct TrustSetupError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

enum TrustPublishError: Error, CustomStringConvertible {
    case legacy
    case refused(String)

    var description: String {
        switch self {
        case .legacy: return "the server runs with a legacy trust root: restart it with a TUF root (--trust root.json, from otactl trust create) and --online-key"
        case .refused(let reason): return reason
        }
    }
}
