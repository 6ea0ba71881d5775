import Foundation
import OTACore

/// A TUF repository in memory, as ota-server keeps one: root version 1 (and any later ones),
/// release metadata signed by the release key, snapshot and timestamp signed by the online
/// key, and check-in answers signed by it too. With `InMemoryFleet` it lets the agent's trust
/// logic (stale metadata, withdrawn releases, a compromised server) be tried in process.
public final class TUFRepository: @unchecked Sendable {
    public let keys: TUFKeys
    public private(set) var roots: [[UInt8]] = []
    public private(set) var targets = TargetsMetadata(version: 0, expires: "", targets: [:])
    private var targetsBytes: [UInt8]?
    private var snapshot: (version: Int, bytes: [UInt8])?
    private var timestamp: (version: Int, bytes: [UInt8])?
    /// The time metadata is issued and expires from, and answers are issued at.
    public let clock: any DomainClock
    /// How long release metadata, snapshots and timestamps are good for.
    public var lifetimeSeconds: Int64 = 7 * 86_400
    /// Signs answers with this key instead of the root's check-in key (a compromised server
    /// that lost, or never had, the real one).
    public var answerKey: Ed25519PrivateKey?

    public init(release: Ed25519PrivateKey, clock: any DomainClock, modelSigning: ModelSigningPolicy? = nil) throws {
        keys = try TUFKeys(release: release)
        self.clock = clock
        var root = keys.root(version: 1, expiresIn: 365 * 86_400)
        root.modelSigning = modelSigning
        roots = [try keys.signedRoot(root)]
        try publish()
    }

    /// The first root: a device's `trust_root`.
    public var trustRoot: [UInt8] { roots[0] }

    /// Releases `bundle` on `channel`, and publishes the metadata that says so.
    public func release(_ bundle: TestBundle, on channel: Channel = .stable) throws {
        targets.targets[Release.targetPath(channel: channel, name: bundle.manifest.name, version: bundle.manifest.version)] =
            TUFTargetFile(length: bundle.envelope.payload.count, hashes: ["sha256": bundle.digest.hex])
        try publish()
    }

    /// Withdraws a release.
    public func withdraw(_ bundle: TestBundle, from channel: Channel = .stable) throws {
        targets.targets[Release.targetPath(channel: channel, name: bundle.manifest.name, version: bundle.manifest.version)] = nil
        try publish()
    }

    /// Signs the next version of release metadata, snapshot and timestamp, from `clock`.
    public func publish() throws {
        let now = clock.now.secondsSinceEpoch
        targets = TargetsMetadata(version: targets.version + 1, expires: TUFCommon.expires(in: lifetimeSeconds, from: now), targets: targets.targets)
        targetsBytes = try TUFKeys.sign(targets, with: keys.release)
        let snapshotVersion = (snapshot?.version ?? 0) + 1
        snapshot = (snapshotVersion, try TUFKeys.sign(SnapshotMetadata(version: snapshotVersion, expires: TUFCommon.expires(in: lifetimeSeconds, from: now),
                                                                       meta: ["targets.json": TUFMetaFile(version: targets.version)]), with: [keys.online]))
        let timestampVersion = (timestamp?.version ?? 0) + 1
        timestamp = (timestampVersion, try TUFKeys.sign(TimestampMetadata(version: timestampVersion, expires: TUFCommon.expires(in: lifetimeSeconds, from: now),
                                                                          snapshot: TUFMetaFile(version: snapshotVersion)), with: [keys.online]))
    }

    /// What a device lacks, judged from the versions it reported (as ota-server judges it).
    func metadata(for report: DeviceAPI.TrustReport?) -> DeviceAPI.TrustMetadata? {
        var result = DeviceAPI.TrustMetadata()
        let have = report?.rootVersion ?? 0
        if have < roots.count { result.roots = roots[have...].map { Base64.encode($0) } }
        if let timestamp, report?.timestampVersion ?? 0 < timestamp.version { result.timestamp = Base64.encode(timestamp.bytes) }
        if let snapshot, report?.snapshotVersion ?? 0 < snapshot.version { result.snapshot = Base64.encode(snapshot.bytes) }
        if let targetsBytes, report?.targetsVersion ?? 0 < targets.version { result.targets = Base64.encode(targetsBytes) }
        return result.isEmpty ? nil : result
    }

    /// A signed check-in answer, as ota-server writes it.
    func signedAnswer(_ plain: CheckinAnswerWriter.Plain, deviceID: DeviceID, nonce: String, report: DeviceAPI.TrustReport?) throws -> [UInt8] {
        let key = answerKey ?? keys.online
        let metadata = try metadata(for: report).map { Array(try StrictJSON.encode($0)) }
        return try CheckinAnswerWriter.signed(plain, deviceID: deviceID, nonce: nonce, issued: clock.now,
                                              signers: [.init(keyid: key.publicKey.tufKeyID, key: key)], metadata: metadata)
    }
}

/// A signed bundle in memory: its manifest, envelope, digest and files.
public struct TestBundle: Sendable {
    public let manifest: Manifest
    public let envelope: Envelope
    public let files: [String: [UInt8]]
    public var digest: SHA256Digest { SHA256Digest.of(envelope.payload) }

    public init(_ name: BundleName, _ version: SemanticVersion, files: [String: [UInt8]], kind: BundleKind = .model,
                compatible: [HardwareClass] = ["test-hw"], signer: Ed25519PrivateKey, created: Timestamp = "2026-11-29T02:00:00Z",
                variants: [Manifest.Variant]? = nil, health: Manifest.HealthCheck? = nil) throws {
        let entries = try files.keys.sorted().map { path in
            Manifest.FileEntry(path: try PayloadPath(path), size: UInt64(files[path]!.count), sha256: SHA256Digest.of(files[path]!))
        }
        manifest = Manifest(name: name, kind: kind, version: version, compatible: compatible, created: created, files: entries,
                            health: health, variants: variants)
        envelope = try Envelope.signing(manifest, with: signer)
        self.files = files
    }
}
