/// Device requests signed as HTTP Message Signatures (RFC 9421) with HMAC-SHA256 under the
/// session's key, covering the method, the path and the body's Content-Digest (RFC 9530),
/// with the creation time:
///
///     Content-Digest: sha-256=:BASE64:
///     Signature-Input: ota=("@method" "@path" "content-digest");created=1764547200;keyid="ses…";alg="hmac-sha256"
///     Signature: ota=:BASE64:
///
/// A captured request is worth nothing outside `window` of its creation time, and nothing
/// for another method, path or body. One Ed25519 signature per session rather than per
/// request: an HMAC costs about a microsecond, an Ed25519 verification about 110.
public enum RequestSignature {
    public static let label = "ota"
    public static let algorithm = "hmac-sha256"
    public static let window: Int64 = 300
    static let covered = ["@method", "@path", "content-digest"]

    public static func contentDigest(_ body: some Collection<UInt8>) -> String {
        "sha-256=:\(Base64.encode(SHA256Digest.of(body).bytes)):"
    }

    static func parameters(created: Int64, keyID: String) -> String {
        "(" + covered.map { "\"\($0)\"" }.joined(separator: " ") + ");created=\(created);keyid=\"\(keyID)\";alg=\"\(algorithm)\""
    }

    /// The signature base (RFC 9421 §2.5).
    static func base(method: String, path: String, contentDigest: String, parameters: String) -> [UInt8] {
        Array("\"@method\": \(method)\n\"@path\": \(path)\n\"content-digest\": \(contentDigest)\n\"@signature-params\": \(parameters)".utf8)
    }

    /// The three headers for a request. `path` is the request path without its query.
    public static func headers(method: String, path: String, body: [UInt8], sessionID: String, key: [UInt8],
                               created: Int64 = Timestamp.epochSeconds()) -> [String: String] {
        let digest = contentDigest(body)
        let parameters = parameters(created: created, keyID: sessionID)
        let mac = HMACSHA256.mac(key: key, message: base(method: method, path: path, contentDigest: digest, parameters: parameters))
        return ["Content-Digest": digest, "Signature-Input": "\(label)=\(parameters)", "Signature": "\(label)=:\(Base64.encode(mac)):"]
    }

    /// A signature as received, not yet verified.
    public struct Received: Equatable, Sendable {
        public let keyID: String
        public let created: Int64
        let parameters: String
        let mac: [UInt8]

        /// Parses the headers strictly: only the form `headers` writes is accepted.
        public init?(signatureInput: String?, signature: String?) {
            guard let signatureInput, let signature, signatureInput.utf8.count < 512, signature.utf8.count < 256,
                  signatureInput.hasPrefix("\(RequestSignature.label)=("), signature.hasPrefix("\(RequestSignature.label)=:"),
                  signature.hasSuffix(":") else { return nil }
            let parameters = String(signatureInput.dropFirst(RequestSignature.label.count + 1))
            let prefix = "(" + RequestSignature.covered.map { "\"\($0)\"" }.joined(separator: " ") + ");created="
            guard parameters.hasPrefix(prefix) else { return nil }
            let fields = parameters.dropFirst(prefix.count).split(separator: ";", omittingEmptySubsequences: false)
            guard fields.count == 3, let created = Int64(fields[0]), fields[1].hasPrefix("keyid=\""), fields[1].hasSuffix("\""),
                  fields[2] == "alg=\"\(RequestSignature.algorithm)\"" else { return nil }
            let keyID = String(fields[1].dropFirst(7).dropLast())
            guard !keyID.isEmpty, !keyID.contains("\""),
                  let mac = Base64.decode(signature.dropFirst(RequestSignature.label.count + 2).dropLast(), limit: 32), mac.count == 32 else { return nil }
            self.keyID = keyID
            self.created = created
            self.parameters = parameters
            self.mac = mac
        }

        /// True when the MAC is right for this request under `key`.
        public func verifies(method: String, path: String, contentDigest: String, key: [UInt8]) -> Bool {
            let expected = HMACSHA256.mac(key: key, message: RequestSignature.base(method: method, path: path, contentDigest: contentDigest,
                                                                                 parameters: parameters))
            return HMACSHA256.equal(expected, mac)
        }
    }
}
