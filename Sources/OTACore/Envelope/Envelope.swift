/// A DSSE envelope (the format in-toto and Sigstore use). It signs the exact payload bytes
/// through PAE, so verification never depends on how JSON is serialised.
public struct Envelope: Equatable, Sendable, Codable {
    public static let manifestPayloadType = "application/vnd.ota.manifest.v1+json"
    /// Room for the chunk list of a model of about 1.5 GB (one entry per 64 KiB, ~110 bytes);
    /// anything larger is hostile.
    public static let maximumSize = 4 << 20
    public static let maximumSignatures = 32

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
            sig = try Envelope.base64(container, .sig)
        }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(keyid, forKey: .keyid)
            try container.encode(Data(sig).base64EncodedString(), forKey: .sig)
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
        payload = try Envelope.base64(container, .payload)
        signatures = try container.decode([Signature].self, forKey: .signatures)
        guard signatures.count <= Self.maximumSignatures else {
            throw DecodingError.dataCorrupted(.init(codingPath: [CodingKeys.signatures],
                debugDescription: "more than \(Self.maximumSignatures) signatures"))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(payloadType, forKey: .payloadType)
        try container.encode(Data(payload).base64EncodedString(), forKey: .payload)
        try container.encode(signatures, forKey: .signatures)
    }

    fileprivate static func base64<K: CodingKey>(_ container: KeyedDecodingContainer<K>, _ key: K) throws -> [UInt8] {
        let text = try container.decode(String.self, forKey: key)
        // DSSE allows the standard and the URL-safe alphabet (both padded).
        guard let data = Data(base64Encoded: text) ?? Data(base64Encoded: String(text.map { $0 == "-" ? "+" : $0 == "_" ? "/" : $0 })) else {
            throw DecodingError.dataCorrupted(.init(codingPath: container.codingPath + [key], debugDescription: "is not valid base64"))
        }
        return Array(data)
    }

    /// Parses envelope JSON from an untrusted source.
    public static func decode(_ bytes: [UInt8]) throws -> Envelope {
        guard bytes.count <= maximumSize else { throw JSONInputError("envelope: larger than \(maximumSize) bytes") }
        return try StrictJSON.decode(Envelope.self, from: bytes, what: "envelope")
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
