import OTACore
import Testing
import TestSupport

/// Every verification rule of the root chain and the release metadata, one at a time.
/// (Tests/TUF/differential.py checks the same rules against python-tuf's ngclient.)
@Suite("TUF metadata: root chain, timestamp, snapshot, targets, releases")
struct TUFMetadataTests {
    /// A small repository signed in process: one key per role.
    struct Repository {
        var keys = try! TUFKeys(release: try! Ed25519PrivateKey.generate())
        let now = Timestamp.epochSeconds()

        func root(_ version: Int, expiresIn: Int64 = 86_400, signers: [Ed25519PrivateKey]? = nil) throws -> [UInt8] {
            try TUFKeys.sign(keys.root(version: version, expiresIn: expiresIn), with: signers ?? keys.rootKeys)
        }
        func timestamp(_ version: Int, snapshot: Int, expiresIn: Int64 = 3600, hashOf: [UInt8]? = nil) throws -> [UInt8] {
            var meta = TUFMetaFile(version: snapshot)
            if let hashOf { meta.hashes = ["sha256": SHA256Digest.of(hashOf).hex]; meta.length = hashOf.count }
            return try TUFKeys.sign(TimestampMetadata(version: version, expires: TUFCommon.expires(in: expiresIn), snapshot: meta), with: [keys.online])
        }
        func snapshot(_ version: Int, targets: Int, expiresIn: Int64 = 3600) throws -> [UInt8] {
            try TUFKeys.sign(SnapshotMetadata(version: version, expires: TUFCommon.expires(in: expiresIn), meta: ["targets.json": TUFMetaFile(version: targets)]),
                             with: [keys.online])
        }
        func targets(_ version: Int, expiresIn: Int64 = 3600, signer: Ed25519PrivateKey? = nil, targets: [String: TUFTargetFile] = [:]) throws -> [UInt8] {
            try TUFKeys.sign(TargetsMetadata(version: version, expires: TUFCommon.expires(in: expiresIn), targets: targets), with: [signer ?? keys.release[0]])
        }
        func trusted() throws -> TrustedMetadata { try TrustedMetadata(trustedRoot: try root(1), now: now) }
    }

    func refusal(_ body: () throws -> Void) -> String { errorText(body) ?? "accepted" }

    @Test("Key ids are TUF's: the SHA-256 of the key's canonical JSON, as python-tuf computes them")
    func keyIDs() throws {
        let key = try Ed25519PublicKey(raw: [UInt8](repeating: 0, count: 32))
        #expect(key.tufKeyID == "7f7373360bc914a5d4a7bd87711615178beb6cf52494fcc49082ec65ba62908c")
    }

    @Test("A trusted root must carry a threshold of its own root keys")
    func trustedRootSelfSigned() throws {
        let repo = Repository()
        #expect(refusal { _ = try TrustedMetadata(trustedRoot: try repo.root(1, signers: [try Ed25519PrivateKey.generate()]), now: repo.now) }
            .contains("root version 1 has 0 valid signatures of the 1 required from its own root keys"))
    }

    @Test("Root N+1 needs a threshold of root N's keys and of its own, and exactly version N+1")
    func rootChainRules() throws {
        var repo = Repository()
        var trusted = try repo.trusted()
        let oldRoot = repo.keys.rootKeys
        repo.keys.rootKeys = [try Ed25519PrivateKey.generate()]
        // Signed only by the new keys: root 1's keys never vouched for it.
        #expect(refusal { try trusted.updateRoot(try repo.root(2)) }.contains("from the root keys of trusted version 1"))
        // Signed only by the old keys: the new keys never accepted their role.
        #expect(refusal { try trusted.updateRoot(try repo.root(2, signers: oldRoot)) }.contains("from its own root keys"))
        // A skipped or repeated version.
        #expect(refusal { try trusted.updateRoot(try repo.root(3, signers: oldRoot + repo.keys.rootKeys)) }.contains("expected root version 2, got version 3"))
        #expect(refusal { try trusted.updateRoot(try repo.root(1, signers: oldRoot + repo.keys.rootKeys)) }.contains("expected root version 2, got version 1"))
        try trusted.updateRoot(try repo.root(2, signers: oldRoot + repo.keys.rootKeys))
        #expect(trusted.root.version == 2)
    }

    @Test("An expired intermediate root is fine; an expired final root stops the timestamp")
    func rootExpiry() throws {
        let repo = Repository()
        var trusted = try TrustedMetadata(trustedRoot: try repo.root(1, expiresIn: -10), now: repo.now)
        try trusted.updateRoot(try repo.root(2, expiresIn: -5))
        #expect(refusal { try trusted.updateTimestamp(try repo.timestamp(1, snapshot: 1)) }.contains("root version 2 expired"))
        try trusted.updateRoot(try repo.root(3))
        try trusted.updateTimestamp(try repo.timestamp(1, snapshot: 1))
    }

    @Test("Timestamps never go back, nor do the snapshot versions they name; an expired one guards but does not serve")
    func timestampRules() throws {
        let repo = Repository()
        var trusted = try repo.trusted()
        #expect(refusal { try trusted.updateTimestamp(try repo.timestamp(5, snapshot: 5, expiresIn: -1)) }.contains("timestamp version 5 expired"))
        #expect(refusal { try trusted.updateTimestamp(try repo.timestamp(4, snapshot: 5)) }.contains("older than the trusted 5 (rollback)"))
        #expect(refusal { try trusted.updateTimestamp(try repo.timestamp(5, snapshot: 5)) }.contains("the version already trusted"))
        #expect(refusal { try trusted.updateTimestamp(try repo.timestamp(6, snapshot: 4)) }.contains("names snapshot version 4, older than the trusted 5"))
        #expect(refusal { try trusted.updateTimestamp(try TUFKeys.sign(TimestampMetadata(version: 7, expires: TUFCommon.expires(in: 60), snapshot: .init(version: 6)), with: [repo.keys.release[0]])) }
            .contains("from timestamp keys of root version 1"))
        try trusted.updateTimestamp(try repo.timestamp(6, snapshot: 6))
    }

    @Test("The snapshot must be the one the timestamp names, unexpired, and never drop or lower a targets version")
    func snapshotRules() throws {
        let repo = Repository()
        let announced = try repo.snapshot(2, targets: 2)
        var trusted = try repo.trusted()
        try trusted.updateTimestamp(try repo.timestamp(1, snapshot: 2, hashOf: announced))
        #expect(refusal { try trusted.updateSnapshot(try repo.snapshot(2, targets: 3)) }.contains("the timestamp announces another snapshot ("))
        var other = try repo.trusted()
        try other.updateTimestamp(try repo.timestamp(1, snapshot: 2))
        #expect(refusal { try other.updateSnapshot(try repo.snapshot(1, targets: 1)) }.contains("expected version 2 (from the timestamp), got 1"))
        var expired = try repo.trusted()
        try expired.updateTimestamp(try repo.timestamp(1, snapshot: 2))
        #expect(refusal { try expired.updateSnapshot(try repo.snapshot(2, targets: 1, expiresIn: -1)) }.contains("snapshot version 2 expired"))
        // Rollback of the targets version against a snapshot trusted before.
        var rolled = try repo.trusted()
        try rolled.updateTimestamp(try repo.timestamp(1, snapshot: 2))
        try? rolled.updateSnapshot(try repo.snapshot(1, targets: 5), trusted: true)
        #expect(refusal { try rolled.updateSnapshot(try repo.snapshot(2, targets: 4)) }.contains("names targets.json version 4, older than the trusted 5 (rollback)"))
        try trusted.updateSnapshot(announced)
    }

    @Test("Targets must be the version the snapshot names, signed by the release keys, unexpired")
    func targetsRules() throws {
        let repo = Repository()
        func ready() throws -> TrustedMetadata {
            var trusted = try repo.trusted()
            try trusted.updateTimestamp(try repo.timestamp(1, snapshot: 1))
            try trusted.updateSnapshot(try repo.snapshot(1, targets: 3))
            return trusted
        }
        var a = try ready()
        #expect(refusal { try a.updateTargets(try repo.targets(2)) }.contains("expected version 3 (from the snapshot), got 2"))
        var b = try ready()
        #expect(refusal { try b.updateTargets(try repo.targets(3, expiresIn: -1)) }.contains("targets version 3 expired"))
        var c = try ready()
        #expect(refusal { try c.updateTargets(try repo.targets(3, signer: repo.keys.online)) }.contains("from targets keys of root version 1"))
        var d = try ready()
        try d.updateTargets(try repo.targets(3))
        #expect(d.targets?.version == 3)
    }

    @Test("Metadata loads only in order: no snapshot before a timestamp, no root after one")
    func order() throws {
        let repo = Repository()
        var trusted = try repo.trusted()
        #expect(refusal { try trusted.updateSnapshot(try repo.snapshot(1, targets: 1)) }.contains("before the timestamp"))
        try trusted.updateTimestamp(try repo.timestamp(1, snapshot: 1))
        #expect(refusal { try trusted.updateRoot(try repo.root(2)) }.contains("after the timestamp"))
    }

    @Test("Malformed envelopes are refused: duplicate keys, duplicate signatures, wrong type, oversized")
    func malformed() throws {
        let repo = Repository()
        var trusted = try repo.trusted()
        let payload = Array(#"{"_type":"timestamp","spec_version":"1.0.31","version":2,"version":9,"expires":"2099-01-01T00:00:00Z","meta":{"snapshot.json":{"version":1}}}"#.utf8)
        var twice = Envelope(payloadType: MetadataEnvelope.payloadType, payload: payload)
        try twice.signTUF(with: repo.keys.online)
        #expect(refusal { try trusted.updateTimestamp(try twice.encoded()) }.contains("names a key twice"))
        var doubled = try Envelope.decode(try repo.timestamp(1, snapshot: 1))
        doubled.signatures.append(doubled.signatures[0])
        #expect(refusal { try trusted.updateTimestamp(try doubled.encoded()) }.contains("two signatures name the same key"))
        #expect(refusal { try trusted.updateTimestamp(try repo.snapshot(1, targets: 1)) }.contains("expected 'timestamp' metadata, got 'snapshot'"))
        let huge = Array(#"{"payloadType":"application/vnd.tuf+json","payload":""#.utf8) + [UInt8](repeating: UInt8(ascii: "A"), count: 20_000) + Array(#"","signatures":[]}"#.utf8)
        #expect(refusal { try trusted.updateTimestamp(huge) }.contains("larger than 16384 bytes"))
    }

    @Test("A release lists a bundle by channel, name, version and the digest of its manifest")
    func releases() throws {
        let key = try Ed25519PrivateKey.generate()
        let manifest = Manifest(name: "digits", kind: "model", version: try SemanticVersion("1.2.0"), compatible: ["hw"], created: "2026-11-29T02:00:00Z",
                                files: [.init(path: try PayloadPath("a"), size: 1, sha256: SHA256Digest.of([1]))])
        let verified = try BundleTrust(keys: [key.publicKey], threshold: 1).verify(try Envelope.signing(manifest, with: key))
        let released = TargetsMetadata(version: 4, expires: TUFCommon.expires(in: 60), targets: ["stable/digits/1.2.0": Release.target(for: verified)])
        #expect(Release.problem(verified, channel: "stable", in: released) == nil)
        #expect(Release.problem(verified, channel: "beta", in: released)?.contains("signed but not released on channel beta (release metadata version 4)") == true)
        var swapped = released
        swapped.targets["stable/digits/1.2.0"]?.hashes = ["sha256": String(repeating: "0", count: 64)]
        #expect(Release.problem(verified, channel: "stable", in: swapped)?.contains("a different bundle was signed under this version") == true)
        #expect(Release.channels(releasing: verified, in: released) == ["stable"])
    }

    @Test("A legacy trust root is root version 0: a version 1 its keys co-signed continues the chain")
    func legacyRootContinues() throws {
        let repo = Repository()
        let legacyKey = try Ed25519PrivateKey.generate()
        let anchor = TrustAnchor.legacy(try TrustRoot(keys: [legacyKey.publicKey], threshold: 1))
        var unlinked = anchor.metadata(now: repo.now)
        #expect(refusal { try unlinked.updateRoot(try repo.root(1)) }.contains("from the root keys of trusted version 0"))
        var linked = anchor.metadata(now: repo.now)
        try linked.updateRoot(try repo.root(1, signers: repo.keys.rootKeys + [legacyKey]))
        #expect(linked.root.version == 1)
        // Until then, bundles are checked against the legacy keys as before.
        #expect(anchor.bundleTrust.keys.keys.contains(legacyKey.publicKey.keyID))
    }
}
