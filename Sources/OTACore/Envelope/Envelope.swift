/// A DSSE envelope (the format in-toto and Sigstore use). It signs the exact payload bytes
/// through PAE, so verification never depends on how JSON is serialised.
public struct Envelope: Equatable, Sendable, Codable {
    public static let manifestPayloadType = "application/vnd.ota.manifest.v1+json"
    /// Room for the chunk list of a model of about 1.5 GB (one entry per 64 KiB, ~110 bytes);
    /// anything larger is hostile.
    public static let maximumSize = 4 << 20
    public static let maximumSignatures = 32
    /// Larger than any signature of a key type a root may list (an RSA-4096 signature is 512 bytes).
    public static let maximumSignatureSize = 1024

    public var payloadType: String
    public var payload: [UInt8]
    public var signatures: [Signature]

    public struct Signature: Equatable, Sendable, Codable {
        public var keyid: String
        public var sig: [UInt8]

        public init(keyid: String, sig: [UInt8]) {
            self.keyid = keyid
            self.sig = sig
        }

        enum CodingKeys: String, CodingKey { case keyid, sig }

        public init(from decoder: any Decoder) throws {
            try decoder.rejectUnknownKeys(allowed: ["keyid", "sig"])
            let container = try decoder.container(keyedBy: CodingKeys.self)
            keyid = try container.decode(String.self, forKey: .keyid)
            sig = try Envelope.base64(container, .sig, limit: Envelope.maximumSignatureSize)
        }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(keyid, forKey: .keyid)
            try container.encode(Base64.encode(sig), forKey: .sig)
        }
    }

    public init(payloadType: String, payload: [UInt8], signatures: [Signature] = []) {
        self.payloadType = payloadType
        self.payload = payload
        self.signatures = signatures
    }

    enum CodingKeys: String, CodingKey { case payloadType, payload, signatures }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(allowed: ["payloadType", "payload", "signatures"])
        let container = try decoder.container(keyedBy: CodingKeys.self)
        payloadType = try container.decode(String.self, forKey: .payloadType)
        payload = try Envelope.base64(container, .payload, limit: Envelope.maximumSize)
        signatures = try container.decode([Signature].self, forKey: .signatures)
        guard signatures.count <= Self.maximumSignatures else {
            throw DecodingError.dataCorrupted(.init(codingPath: [CodingKeys.signatures],
                debugDescription: "more than \(Self.maximumSignatures) signatures"))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(payloadType, forKey: .payloadType)
        try container.encode(Base64.encode(payload), forKey: .payload)
        try container.encode(signatures, forKey: .signatures)
    }

    fileprivate static func base64<K: CodingKey>(_ container: KeyedDecodingContainer<K>, _ key: K, limit: Int) throws -> [UInt8] {
        let text = try container.decode(String.self, forKey: key)
        // DSSE allows the standard and the URL-safe alphabet (both padded).
        guard let bytes = Base64.decode(text, limit: limit, alphabet: .standardOrURLSafe) else {
            let problem = Base64.decodedLength(ofEncoded: text.utf8.count) > limit + 2 ? "is larger than \(limit) bytes" : "is not valid base64"
            throw DecodingError.dataCorrupted(.init(codingPath: container.codingPath + [key], debugDescription: problem))
        }
        return bytes
    }

    /// Parses envelope JSON from an untrusted source.
    public static func decode(_ bytes: [UInt8]) throws -> Envelope {
        guard bytes.count <= maximumSize else { throw JSONInputError("envelope: larger than \(maximumSize) bytes") }
        return try bytes.withUnsafeBytes { try scan($0, 0..<$0.count, payloadLimit: maximumSize) }
    }

    /// Reads the envelope spanning `range` of `bytes` where it lies: its payload is decoded
    /// from its base64 in place of a string copy (metadata and answers run to megabytes, and
    /// a device has little memory). As strict as the `Decodable` form: exactly the three
    /// fields, no key twice, at most `maximumSignatures`.
    public static func scan(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>, payloadLimit: Int) throws -> Envelope {
        let members: [(key: String, value: Range<Int>)]
        do { members = try JSONScan.members(bytes, range) } catch { throw JSONInputError("envelope: malformed JSON") }
        let fields = ["payloadType", "payload", "signatures"]
        if let unknown = members.map(\.key).first(where: { !fields.contains($0) }) { throw JSONInputError("envelope: unknown field '\(unknown.prefix(60))'") }
        if let missing = fields.first(where: { name in !members.contains { $0.key == name } }) { throw JSONInputError("envelope: missing field '\(missing)'") }
        func field(_ name: String) -> Range<Int> { members.first { $0.key == name }!.value }
        let payloadType = try StrictJSON.decode(String.self, from: UnsafeRawBufferPointer(rebasing: bytes[field("payloadType")]), what: "envelope payloadType")
        let text: Range<Int>?
        do { text = try JSONScan.plainString(bytes, field("payload")) } catch { throw JSONInputError("envelope: field 'payload' is not a string") }
        let payload: [UInt8]?
        if let text {
            guard Base64.decodedLength(ofEncoded: text.count) <= payloadLimit + 2 else { throw JSONInputError("envelope: field 'payload': is larger than \(payloadLimit) bytes") }
            payload = Base64.decode(bytes: UnsafeBufferPointer(rebasing: bytes.assumingMemoryBound(to: UInt8.self)[text]), limit: payloadLimit,
                                    alphabet: .standardOrURLSafe)
        } else {
            // Escapes in base64 (a JSON writer that escapes '/'): decoded as a string first.
            let string = try StrictJSON.decode(String.self, from: UnsafeRawBufferPointer(rebasing: bytes[field("payload")]), what: "envelope payload")
            payload = Base64.decode(string, limit: payloadLimit, alphabet: .standardOrURLSafe)
        }
        guard let payload else { throw JSONInputError("envelope: field 'payload': is not valid base64") }
        let signatures: [Signature]
        do { signatures = try StrictJSON.decode([Signature].self, from: UnsafeRawBufferPointer(rebasing: bytes[field("signatures")]), what: "envelope") } catch {
            // The decoder saw the array alone: its paths are put back under `signatures`.
            throw JSONInputError(String(describing: error).replacing("field '[", with: "field 'signatures[")
                .replacing("envelope: not a JSON object of the expected shape", with: "envelope: field 'signatures' has the wrong type"))
        }
        guard signatures.count <= maximumSignatures else { throw JSONInputError("envelope: more than \(maximumSignatures) signatures") }
        return Envelope(payloadType: payloadType, payload: payload, signatures: signatures)
    }

    public func encoded() throws -> [UInt8] {
        Array(try StrictJSON.encode(self))
    }

    /// DSSE's pre-authentication encoding: "DSSEv1" SP len(type) SP type SP len(payload) SP payload.
    public static func pae(payloadType: String, payload: [UInt8]) -> [UInt8] {
        let type = Array(payloadType.utf8)
        return Array("DSSEv1 \(type.count) ".utf8) + type + Array(" \(payload.count) ".utf8) + payload
    }

    public var pae: [UInt8] { Self.pae(payloadType: payloadType, payload: payload) }

    /// Signs the payload with `key`, replacing an earlier signature by the same key.
    public mutating func sign(with key: Ed25519PrivateKey) throws {
        let signature = Signature(keyid: key.publicKey.keyID, sig: try key.sign(pae))
        signatures.removeAll { $0.keyid == signature.keyid }
        signatures.append(signature)
    }

    /// An envelope for a manifest, signed by one key.
    public static func signing(_ manifest: Manifest, with key: Ed25519PrivateKey) throws -> Envelope {
        var envelope = Envelope(payloadType: manifestPayloadType, payload: try manifest.encoded())
        try envelope.sign(with: key)
        return envelope
    }
}
