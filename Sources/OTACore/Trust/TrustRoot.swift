/// The keys a device, a server or an operator accepts, and how many distinct ones must sign
/// a bundle (`threshold`). Stored as `trust.json`.
public struct TrustRoot: Codable, Equatable, Sendable {
    public static let formatVersion = 1

    public var version: Int
    public var threshold: Int
    public var keys: [TrustedKey]

    public struct TrustedKey: Codable, Equatable, Sendable {
        public var keyid: String
        public var publicKey: String

        enum CodingKeys: String, CodingKey {
            case keyid
            case publicKey = "public_key"
        }

        public init(_ key: Ed25519PublicKey) {
            keyid = key.keyID
            publicKey = key.pem
        }

        public init(from decoder: any Decoder) throws {
            try decoder.rejectUnknownKeys(allowed: ["keyid", "public_key"])
            let container = try decoder.container(keyedBy: CodingKeys.self)
            keyid = try container.decode(String.self, forKey: .keyid)
            publicKey = try container.decode(String.self, forKey: .publicKey)
        }
    }

    public init(keys: [Ed25519PublicKey], threshold: Int) throws(TrustError) {
        self.version = Self.formatVersion
        self.threshold = threshold
        self.keys = keys.map(TrustedKey.init)
        _ = try publicKeys()
    }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(allowed: ["version", "threshold", "keys"])
        let container = try decoder.container(keyedBy: CodingKeys.self)
        version = try container.decode(Int.self, forKey: .version)
        threshold = try container.decode(Int.self, forKey: .threshold)
        keys = try container.decode([TrustedKey].self, forKey: .keys)
    }

    enum CodingKeys: String, CodingKey { case version, threshold, keys }

    /// Loads and checks a trust root file: every key parses, every key id matches its key,
    /// no key twice, and a threshold between 1 and the number of keys.
    public static func load(from path: String) throws -> TrustRoot {
        let bytes: [UInt8]
        do { bytes = try FileSystem.readFile(path, limit: 1 << 20) } catch {
            throw TrustError.unreadable(path: path, reason: String(describing: error))
        }
        let root: TrustRoot
        do { root = try StrictJSON.decode(TrustRoot.self, from: bytes, what: "trust root \(path)") } catch {
            throw TrustError.invalidRoot(String(describing: error))
        }
        _ = try root.publicKeys()
        return root
    }

    public func encoded() throws -> [UInt8] { Array(try StrictJSON.encode(self, pretty: true)) + [0x0a] }

    /// The keys by key id, after checking the root's own consistency.
    public func publicKeys() throws(TrustError) -> [String: Ed25519PublicKey] {
        guard version == Self.formatVersion else { throw .invalidRoot("trust root version \(version) is not supported (expected \(Self.formatVersion))") }
        guard !keys.isEmpty else { throw .invalidRoot("trust root lists no keys") }
        var result: [String: Ed25519PublicKey] = [:]
        for entry in keys {
            let key: Ed25519PublicKey
            do { key = try Ed25519PublicKey(pem: entry.publicKey, source: "trust root key \(entry.keyid.prefix(16))") } catch {
                throw .invalidRoot(String(describing: error))
            }
            guard key.keyID == entry.keyid else {
                throw .invalidRoot("key id \(entry.keyid) does not match its public key (which has id \(key.keyID))")
            }
            guard result.updateValue(key, forKey: entry.keyid) == nil else { throw .invalidRoot("key \(entry.keyid) is listed twice") }
        }
        guard threshold >= 1, threshold <= keys.count else {
            throw .invalidRoot("threshold \(threshold) must be between 1 and the number of keys (\(keys.count))")
        }
        return result
    }

    /// The keys and threshold a bundle must be signed by.
    public var bundleTrust: BundleTrust { BundleTrust(keys: Array(((try? publicKeys()) ?? [:]).values), threshold: threshold) }

    /// Checks an envelope against this root's keys (`BundleTrust.verify`).
    public func verify(_ envelope: Envelope) throws(TrustError) -> VerifiedManifest {
        _ = try publicKeys()
        return try bundleTrust.verify(envelope)
    }
}

/// A manifest whose signatures met a trust root's threshold.
public struct VerifiedManifest: Equatable, Sendable {
    public let manifest: Manifest
    public let manifestBytes: [UInt8]
    /// Key ids of the trusted keys that signed it.
    public let signers: [String]
    /// The bundle's identity: SHA-256 of the signed manifest bytes.
    public var digest: SHA256Digest { SHA256Digest.of(manifestBytes) }
}

public enum TrustError: Error, CustomStringConvertible, Equatable, Sendable {
    case unreadable(path: String, reason: String)
    case invalidRoot(String)
    case wrongPayloadType(String)
    case thresholdNotMet(valid: [String], required: Int, invalid: [String], untrusted: [String])
    case invalidManifest(String)

    public var description: String {
        switch self {
        case .unreadable(_, let reason): return "cannot read the trust root: \(reason)"
        case .invalidRoot(let reason): return "invalid trust root: \(reason)"
        case .wrongPayloadType(let type):
            return "envelope payloadType is '\(type)', expected '\(Envelope.manifestPayloadType)'"
        case .thresholdNotMet(let valid, let required, let invalid, let untrusted):
            var text = "signature check failed: \(valid.count) valid signature\(valid.count == 1 ? "" : "s") from trusted keys, \(required) required"
            if !invalid.isEmpty {
                text += "; the signature by trusted key \(invalid.map { String($0.prefix(16)) }.joined(separator: ", ")) does not match the manifest (changed after signing?)"
            }
            if !untrusted.isEmpty {
                text += "; signed by key \(untrusted.map { String($0.prefix(16)) }.joined(separator: ", ")), which the trust root does not list"
            }
            if invalid.isEmpty && untrusted.isEmpty && valid.isEmpty { text += "; the envelope has no signatures" }
            return text
        case .invalidManifest(let reason): return reason
        }
    }
}
