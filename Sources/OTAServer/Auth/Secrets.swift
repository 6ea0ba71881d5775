import OTACore

/// Bearer secrets: random, prefixed by kind so a leaked one is recognisable, and stored
/// only as their SHA-256.
enum Secret {
    static let adminPrefix = "ota_adm_"
    static let devicePrefix = "ota_dev_"
    static let enrollmentPrefix = "ota_enr_"

    static func make(prefix: String) -> (secret: String, hash: String) {
        let secret = SecureRandom.token(prefix: prefix)
        return (secret, hash(secret))
    }

    static func hash(_ secret: String) -> String { SHA256Digest.of(Array(secret.utf8)).hex }

    static func newID(_ prefix: String) -> String { prefix + Hex.encode(SecureRandom.bytes(5)) }

    /// The secret in an `Authorization: Bearer …` header, if well-formed.
    static func bearer(_ header: String?) -> String? {
        guard let header, header.count < 512 else { return nil }
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else { return nil }
        let token = parts[1].trimmingCharacters(in: .whitespaces)
        return token.isEmpty ? nil : token
    }
}
