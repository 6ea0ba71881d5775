/// The trust a program starts from, read from its `trust.json`: TUF root metadata in a DSSE
/// envelope (what `otactl trust create` writes), or a legacy trust root (a list of bundle keys,
/// what `otactl trust init` wrote before). A legacy root acts as root version 0 whose root and
/// release keys are its keys: a TUF root version 1 signed by a threshold of them continues the
/// chain, so devices with a legacy root move to TUF by themselves.
public enum TrustAnchor: Sendable {
    case legacy(TrustRoot)
    case tuf(RootMetadata, bytes: [UInt8])

    public static func load(from path: String) throws -> TrustAnchor {
        let bytes: [UInt8]
        do { bytes = try FileSystem.readFile(path, limit: MetadataEnvelope.maximumSize) } catch {
            throw TrustError.unreadable(path: path, reason: String(describing: error))
        }
        return try parse(bytes, source: path)
    }

    public static func parse(_ bytes: [UInt8], source: String) throws -> TrustAnchor {
        if case .object(let fields)? = try? JSONShape.parse(bytes), fields["payloadType"] != nil {
            do {
                let trusted = try TrustedMetadata(trustedRoot: bytes, now: Timestamp.epochSeconds())
                return .tuf(trusted.root, bytes: bytes)
            } catch { throw TrustError.invalidRoot("\(source): \(error)") }
        }
        let root: TrustRoot
        do { root = try StrictJSON.decode(TrustRoot.self, from: bytes, what: "trust root \(source)") } catch {
            throw TrustError.invalidRoot(String(describing: error))
        }
        _ = try root.publicKeys()
        return .legacy(root)
    }

    /// The root version: 0 for a legacy root.
    public var version: Int { metadata.root.version }

    public var isLegacy: Bool { if case .legacy = self { return true } else { return false } }

    public var bundleTrust: BundleTrust { metadata.root.bundleTrust }

    /// The starting point of a metadata refresh.
    public var metadata: TrustedMetadata { metadata(now: Timestamp.epochSeconds()) }

    public func metadata(now: Int64) -> TrustedMetadata {
        switch self {
        case .tuf(let root, let bytes): return TrustedMetadata(root: root, rootBytes: bytes, now: now)
        case .legacy(let legacy): return TrustedMetadata(root: Self.rootVersionZero(legacy), rootBytes: [], now: now)
        }
    }

    /// A legacy root as TUF root version 0. Its snapshot and timestamp roles have no keys, so
    /// nothing but a root version 1 can load under it.
    static func rootVersionZero(_ legacy: TrustRoot) -> RootMetadata {
        let keys = ((try? legacy.publicKeys()) ?? [:]).values.map(TUFKey.init)
        let keyids = keys.map(\.keyID).sorted()
        let signing = TUFRole(keyids: keyids, threshold: legacy.threshold)
        let none = TUFRole(keyids: [], threshold: 1)
        return RootMetadata(version: 0, expires: "9999-12-31T23:59:59Z", keys: Dictionary(keys.map { ($0.keyID, $0) }, uniquingKeysWith: { a, _ in a }),
                            roles: [.root: signing, .targets: signing, .snapshot: none, .timestamp: none], checkin: nil)
    }
}
