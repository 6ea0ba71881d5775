/// A public key as TUF metadata lists it. Only Ed25519 is used here; a key of another type
/// can be listed but never verifies a signature.
public struct TUFKey: Codable, Equatable, Hashable, Sendable {
    public var keytype: String
    public var scheme: String
    public var keyval: Value

    public struct Value: Codable, Equatable, Hashable, Sendable {
        /// Hex of the raw 32-byte Ed25519 public key.
        public var `public`: String
    }

    public init(_ key: Ed25519PublicKey) {
        keytype = "ed25519"
        scheme = "ed25519"
        keyval = Value(public: Hex.encode(key.raw))
    }

    /// The Ed25519 key, or nil for a key this implementation cannot use.
    public var ed25519: Ed25519PublicKey? {
        guard keytype == "ed25519", scheme == "ed25519", let raw = Hex.decode(keyval.public), raw.count == 32 else { return nil }
        return try? Ed25519PublicKey(raw: raw)
    }

    /// TUF's key id: the SHA-256 of the key's canonical JSON (what python-tuf and
    /// securesystemslib compute). Metadata may name a key by any id; this is the one we write.
    public var keyID: String {
        func quoted(_ text: String) -> String {
            var result = "\""
            for character in text {
                if character == "\\" || character == "\"" { result.append("\\") }
                result.append(character)
            }
            return result + "\""
        }
        let canonical = "{\"keytype\":\(quoted(keytype)),\"keyval\":{\"public\":\(quoted(keyval.public))},\"scheme\":\(quoted(scheme))}"
        return SHA256Digest.of(Array(canonical.utf8)).hex
    }
}

extension Ed25519PublicKey {
    /// This key's id in TUF metadata (bundle envelopes name it by `keyID` instead).
    public var tufKeyID: String { TUFKey(self).keyID }
}
