/// The metadata a client trusts, loaded in TUF's order (root, timestamp, snapshot, targets)
/// with every rule of the specification's client workflow. A port of python-tuf's
/// `TrustedMetadataSet`, so the two decide alike (checked by Tests/TUF/differential.py):
/// - metadata may be loaded expired or mismatched as "intermediate": it then only guards
///   against rollback of the next version, and nothing after it in the order can load;
/// - nothing loads out of order, and nothing goes back a version.
public struct TrustedMetadata: Sendable {
    public private(set) var root: RootMetadata
    /// The envelope bytes of `root`, as they are persisted.
    public private(set) var rootBytes: [UInt8]
    public private(set) var timestamp: TimestampMetadata?
    public private(set) var snapshot: SnapshotMetadata?
    public private(set) var targets: TargetsMetadata?
    /// Expiry is judged against this one time for a whole refresh.
    public let now: Int64

    /// Loads a root trusted as given: it is checked only against itself.
    public init(trustedRoot bytes: [UInt8], now: Int64) throws(TUFError) {
        let envelope = try MetadataEnvelope.parse(.root, bytes)
        let root = try MetadataEnvelope.decode(RootMetadata.self, envelope.payload)
        try MetadataEnvelope.verify(envelope, role: .root, keysOf: root.role(.root), in: root,
                                    by: "its own root keys", version: root.version)
        self.init(root: root, rootBytes: bytes, now: now)
    }

    /// Starts from a root already verified (the legacy trust root as version 0).
    public init(root: RootMetadata, rootBytes: [UInt8], now: Int64) {
        self.root = root
        self.rootBytes = rootBytes
        self.now = now
    }

    /// Root N+1: signed by a threshold of root N's root keys and of its own.
    public mutating func updateRoot(_ bytes: [UInt8]) throws(TUFError) {
        guard timestamp == nil else { throw .outOfOrder("a root cannot be loaded after the timestamp") }
        let envelope = try MetadataEnvelope.parse(.root, bytes)
        try MetadataEnvelope.verify(envelope, role: .root, keysOf: root.role(.root), in: root,
                                    by: "the root keys of trusted version \(root.version)", version: root.version + 1)
        let next = try MetadataEnvelope.decode(RootMetadata.self, envelope.payload)
        guard next.version == root.version + 1 else {
            throw .badVersion(.root, "expected root version \(root.version + 1), got version \(next.version)")
        }
        try MetadataEnvelope.verify(envelope, role: .root, keysOf: next.role(.root), in: next,
                                    by: "its own root keys", version: next.version)
        root = next
        rootBytes = bytes
    }

    /// Loads a timestamp. An expired one is kept (it still guards against rollback) but throws.
    public mutating func updateTimestamp(_ bytes: [UInt8]) throws(TUFError) {
        guard snapshot == nil else { throw .outOfOrder("a timestamp cannot be loaded after the snapshot") }
        guard !root.isExpired(at: now) else { throw .expired(.root, version: root.version, expires: root.expires) }
        let next = try MetadataEnvelope.open(TimestampMetadata.self, bytes, verifiedBy: root)
        if let timestamp {
            guard next.version >= timestamp.version else {
                throw .badVersion(.timestamp, "version \(next.version) is older than the trusted \(timestamp.version) (rollback)")
            }
            guard next.version != timestamp.version else { throw .equalVersion(.timestamp) }
            guard next.snapshot.version >= timestamp.snapshot.version else {
                throw .badVersion(.timestamp, "it names snapshot version \(next.snapshot.version), older than the trusted \(timestamp.snapshot.version) (rollback)")
            }
        }
        timestamp = next
        try checkFinalTimestamp()
    }

    func checkFinalTimestamp() throws(TUFError) {
        guard let timestamp else { throw .outOfOrder("no timestamp is loaded") }
        guard !timestamp.isExpired(at: now) else { throw .expired(.timestamp, version: timestamp.version, expires: timestamp.expires) }
    }

    /// Loads a snapshot; `trusted` skips the hash check for a copy this client verified before.
    public mutating func updateSnapshot(_ bytes: [UInt8], trusted: Bool = false) throws(TUFError) {
        guard let timestamp else { throw .outOfOrder("a snapshot cannot be loaded before the timestamp") }
        guard targets == nil else { throw .outOfOrder("a snapshot cannot be loaded after the targets") }
        try checkFinalTimestamp()
        if !trusted, let problem = timestamp.snapshot.info.problem(with: bytes) {
            throw .mismatch(.snapshot, "the timestamp announces another snapshot (\(problem))")
        }
        let next = try MetadataEnvelope.open(SnapshotMetadata.self, bytes, verifiedBy: root)
        if let snapshot {
            for (name, file) in snapshot.meta.sorted(by: { $0.key < $1.key }) {
                guard let newer = next.meta[name] else { throw .badVersion(.snapshot, "it no longer lists \(name.prefix(80))") }
                guard newer.version >= file.version else {
                    throw .badVersion(.snapshot, "it names \(name.prefix(80)) version \(newer.version), older than the trusted \(file.version) (rollback)")
                }
            }
        }
        snapshot = next
        try checkFinalSnapshot()
    }

    func checkFinalSnapshot() throws(TUFError) {
        guard let snapshot, let timestamp else { throw .outOfOrder("no snapshot is loaded") }
        guard !snapshot.isExpired(at: now) else { throw .expired(.snapshot, version: snapshot.version, expires: snapshot.expires) }
        guard snapshot.version == timestamp.snapshot.version else {
            throw .badVersion(.snapshot, "expected version \(timestamp.snapshot.version) (from the timestamp), got \(snapshot.version)")
        }
    }

    /// Loads the top-level targets: the version the snapshot names, unexpired.
    public mutating func updateTargets(_ bytes: [UInt8]) throws(TUFError) {
        guard let snapshot else { throw .outOfOrder("targets cannot be loaded before the snapshot") }
        try checkFinalSnapshot()
        guard let meta = snapshot.meta["targets.json"] else { throw .missing(.targets, "the snapshot does not list targets.json") }
        if let problem = meta.info.problem(with: bytes) { throw .mismatch(.targets, "the snapshot announces other targets (\(problem))") }
        let next = try MetadataEnvelope.open(TargetsMetadata.self, bytes, verifiedBy: root)
        guard next.version == meta.version else {
            throw .badVersion(.targets, "expected version \(meta.version) (from the snapshot), got \(next.version)")
        }
        guard !next.isExpired(at: now) else { throw .expired(.targets, version: next.version, expires: next.expires) }
        targets = next
    }
}
