import COpenSSL

/// An ECDSA public key on P-256, P-384 or P-521: what the OpenSSF model-signing tool's key
/// method signs with. Kept as its DER SubjectPublicKeyInfo; each verification parses it again
/// into a fresh OpenSSL key, so the value is plain data and `Sendable`.
public struct ECDSAPublicKey: Hashable, Sendable {
    public enum Curve: String, Sendable {
        case p256 = "P-256", p384 = "P-384", p521 = "P-521"
    }

    public let der: [UInt8]
    public let curve: Curve

    /// Loads an SPKI PEM ("BEGIN PUBLIC KEY", as `openssl ec -pubout` writes it).
    public init(pem: String, source: String = "public key") throws(KeyError) {
        // One key: a file of several would be read as its first alone.
        guard pem.components(separatedBy: "-----BEGIN").count == 2 else { throw .notPEM(source) }
        let bytes = Array(pem.utf8)
        let pkey: OpaquePointer? = bytes.withUnsafeBytes { buffer in
            guard let bio = BIO_new_mem_buf(buffer.baseAddress, Int32(buffer.count)) else { return nil }
            defer { BIO_free(bio) }
            return PEM_read_bio_PUBKEY(bio, nil, nil, nil)
        }
        ERR_clear_error()
        guard let pkey else { throw .notPEM(source) }
        defer { EVP_PKEY_free(pkey) }
        guard EVP_PKEY_get_base_id(pkey) == EVP_PKEY_EC else { throw .unsupported("\(source) is not an ECDSA key (model signatures use P-256, P-384 or P-521)") }
        // By the named group, not the size: secp256k1 and Brainpool curves are as long.
        var name = [CChar](repeating: 0, count: 64)
        var nameLength = 0
        let group = EVP_PKEY_get_group_name(pkey, &name, name.count, &nameLength) == 1
            ? String(decoding: name.prefix(nameLength).map { UInt8(bitPattern: $0) }, as: UTF8.self) : "an unnamed curve"
        ERR_clear_error()
        switch group {
        case "prime256v1": curve = .p256
        case "secp384r1": curve = .p384
        case "secp521r1": curve = .p521
        default: throw .unsupported("\(source) is an ECDSA key on \(group); model signatures use P-256, P-384 or P-521")
        }
        var out: UnsafeMutablePointer<UInt8>?
        let length = i2d_PUBKEY(pkey, &out)
        guard length > 0, let out else { throw .openSSL(OpenSSLKey.lastError()) }
        defer { CRYPTO_free(out, nil, 0) }
        der = Array(UnsafeBufferPointer(start: out, count: Int(length)))
    }

    /// True when `signature` (DER, as ECDSA signatures are written) is this key's signature of
    /// `message`, hashed as the model-signing tool hashes for the curve: SHA-256, -384 or -512.
    public func isValidSignature(_ signature: [UInt8], for message: [UInt8]) -> Bool {
        guard !signature.isEmpty, signature.count <= 256 else { return false }
        // Errors this leaves in OpenSSL's queue (a bad signature is one) are cleared, so they
        // never surface in another key's message.
        defer { ERR_clear_error() }
        let pkey: OpaquePointer? = der.withUnsafeBufferPointer { buffer in
            var pointer: UnsafePointer<UInt8>? = buffer.baseAddress
            return d2i_PUBKEY(nil, &pointer, buffer.count)
        }
        guard let pkey else { return false }
        defer { EVP_PKEY_free(pkey) }
        guard let context = EVP_MD_CTX_new() else { return false }
        defer { EVP_MD_CTX_free(context) }
        let digest: OpaquePointer? = switch curve {
        case .p256: EVP_sha256()
        case .p384: EVP_sha384()
        case .p521: EVP_sha512()
        }
        guard EVP_DigestVerifyInit(context, nil, digest, nil, pkey) == 1 else { return false }
        return EVP_DigestVerify(context, signature, signature.count, message, message.count) == 1
    }
}
