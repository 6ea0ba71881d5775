import OTACore

/// Bearer secrets: random, prefixed by kind so a leaked one is recognisable, and stored
/// only as their SHA-256.
enum Secret {
    static let adminPrefix = "ota_adm_"
    static let devicePrefix = "ota_dev_"
    static let enrollmentPrefix = "ota_enr_"
    static let ddiPrefix = "ota_ddi_"

    static func make(prefix: String) -> (secret: String, hash: String) {
        let secret = SecureRandom.token(prefix: prefix)
        return (secret, hash(secret))
    }

    static func hash(_ secret: String) -> String {
        var text = secret
        return text.withUTF8 { SHA256Digest.of($0).hex }
    }

    static func newID(_ prefix: String) -> String { prefix + Hex.encode(SecureRandom.bytes(5)) }

    /// The secret in an `Authorization: Bearer …` header, if well-formed. On every request,
    /// so it works on bytes.
    static func bearer(_ header: String?) -> String? { credential(header, scheme: "bearer") }

    /// The secret after `scheme` (matched without regard to case, as HTTP asks) in an
    /// `Authorization` header: `TargetToken` and `GatewayToken` for hawkBit's DDI clients.
    static func credential(_ header: String?, scheme name: String) -> String? {
        guard let header, header.utf8.count < 512 else { return nil }
        var bytes = Substring(header).utf8[...]
        let scheme = Array(name.lowercased().utf8)
        guard bytes.count > scheme.count + 1,
              zip(bytes.prefix(scheme.count), scheme).allSatisfy({ $0 | 0x20 == $1 }),
              bytes.dropFirst(scheme.count).first == UInt8(ascii: " ") else { return nil }
        bytes = bytes.dropFirst(scheme.count + 1)
        while bytes.first == UInt8(ascii: " ") { bytes = bytes.dropFirst() }
        while bytes.last == UInt8(ascii: " ") { bytes = bytes.dropLast() }
        return bytes.isEmpty ? nil : String(Substring(bytes))
    }
}
