/// TUF metadata in a DSSE envelope, as TUF's POUF-2 describes and python-tuf writes it
/// (`EnvelopeType.SIMPLE`): the payload is the JSON of the `signed` part, and signatures
/// are Ed25519 over DSSE's PAE, so no canonical JSON is needed to verify.
public enum MetadataEnvelope {
    public static let payloadType = "application/vnd.tuf+json"
    /// Larger than any metadata this system writes.
    public static let maximumSize = 5_000_000

    /// python-tuf's limits per role: a timestamp is small, so a huge one is an attack.
    public static func maximumSize(of role: TUFRoleName) -> Int {
        switch role {
        case .root: return 512_000
        case .timestamp: return 16_384
        case .snapshot: return 2_000_000
        case .targets: return 5_000_000
        }
    }

    /// Parses an envelope and checks the signatures of `role` as `delegator` defines it.
    /// Signatures come first, so a payload is decoded only once they verified; with no
    /// delegator (metadata read back for display, or a root checked against itself by the
    /// caller) nothing is verified here.
    public static func open<T: TUFSigned>(_ type: T.Type, _ bytes: [UInt8], verifiedBy delegator: RootMetadata?,
                                          signers: String? = nil) throws(TUFError) -> T {
        let envelope = try parse(T.role, bytes)
        if let delegator {
            try verify(envelope, role: T.role, keysOf: delegator.role(T.role), in: delegator,
                       by: signers ?? "\(T.role.rawValue) keys of root version \(delegator.version)", version: nil)
        }
        return try decode(type, envelope.payload)
    }

    /// The version and expiry of metadata of `role`, verified by `delegator`, read without
    /// decoding the rest of it.
    public struct Header: Decodable, Sendable {
        public let version: Int
        public let expires: String
    }

    public static func header(_ role: TUFRoleName, _ bytes: [UInt8], verifiedBy delegator: RootMetadata) throws(TUFError) -> Header {
        let envelope = try parse(role, bytes)
        try verify(envelope, role: role, keysOf: delegator.role(role), in: delegator, by: "\(role.rawValue) keys of root version \(delegator.version)", version: nil)
        do {
            return try envelope.payload.withUnsafeBytes { payload in
                let members = try JSONScan.members(payload, 0..<payload.count)
                func field<T: Decodable>(_ name: String, _ type: T.Type) throws -> T {
                    guard let range = members.first(where: { $0.key == name })?.value else { throw JSONInputError("missing field '\(name)'") }
                    return try StrictJSON.decode(T.self, from: UnsafeRawBufferPointer(rebasing: payload[range]), what: name)
                }
                guard try field("_type", String.self) == role.rawValue else { throw JSONInputError("not \(role.rawValue) metadata") }
                let version = try field("version", Int.self)
                guard WireRange.version.contains(version) else { throw JSONInputError("version out of range") }
                return Header(version: version, expires: try field("expires", String.self))
            }
        } catch { throw .malformed(role, String(describing: error)) }
    }

    static func parse(_ role: TUFRoleName, _ bytes: [UInt8]) throws(TUFError) -> Envelope {
        guard bytes.count <= maximumSize(of: role) else { throw .malformed(role, "larger than \(maximumSize(of: role)) bytes") }
        let envelope: Envelope
        do { envelope = try bytes.withUnsafeBytes { try Envelope.scan($0, 0..<$0.count, payloadLimit: maximumSize(of: role)) } } catch {
            throw .malformed(role, String(describing: error))
        }
        guard envelope.payloadType == payloadType else {
            throw .malformed(role, "payloadType is '\(envelope.payloadType.prefix(80))', expected '\(payloadType)'")
        }
        guard Set(envelope.signatures.map(\.keyid)).count == envelope.signatures.count else {
            throw .malformed(role, "two signatures name the same key")
        }
        return envelope
    }

    static func decode<T: TUFSigned>(_ type: T.Type, _ payload: [UInt8]) throws(TUFError) -> T {
        guard (try? payload.withUnsafeBytes({ try JSONScan.validate($0, 0..<$0.count) })) != nil else {
            throw .malformed(T.role, "the payload is not JSON, or names a key twice")
        }
        do { return try StrictJSON.decode(T.self, from: payload, what: "payload") } catch {
            throw .malformed(T.role, String(describing: error))
        }
    }

    /// How many distinct keys of `role` signed the envelope validly; a key listed under two
    /// ids counts once.
    public static func validSigners(_ envelope: Envelope, keysOf role: TUFRole, in root: RootMetadata) -> Int {
        let message = envelope.pae
        var valid = Set<Ed25519PublicKey>()
        for (keyid, key) in root.keys(of: role) {
            guard let signature = envelope.signatures.first(where: { $0.keyid == keyid }) else { continue }
            if key.isValidSignature(signature.sig, for: message) { valid.insert(key) }
        }
        return valid.count
    }

    /// Throws unless a threshold of `role`'s keys signed the envelope.
    static func verify(_ envelope: Envelope, role name: TUFRoleName, keysOf role: TUFRole, in root: RootMetadata,
                       by: String, version: Int?) throws(TUFError) {
        let valid = validSigners(envelope, keysOf: role, in: root)
        guard valid >= role.threshold else {
            throw .unsigned(name, version: version, valid: valid, threshold: role.threshold, by: by)
        }
    }

    /// An unsigned envelope for `signed`.
    public static func wrap(_ signed: some TUFSigned) throws -> Envelope {
        Envelope(payloadType: payloadType, payload: Array(try StrictJSON.encode(signed)))
    }
}

extension Envelope {
    /// Adds (or replaces) the signature of `key` under TUF's key id.
    public mutating func signTUF(with key: Ed25519PrivateKey) throws {
        let keyid = key.publicKey.tufKeyID
        let signature = Signature(keyid: keyid, sig: try key.sign(pae))
        signatures.removeAll { $0.keyid == keyid }
        signatures.append(signature)
    }
}
