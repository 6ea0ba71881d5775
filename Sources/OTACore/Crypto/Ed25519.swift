import COpenSSL

public enum KeyError: Error, CustomStringConvertible, Equatable, Sendable {
    case notPEM(String)
    case notEd25519(String)
    case wrongPublicKeyLength(Int)
    case unsupported(String)
    case openSSL(String)

    public var description: String {
        switch self {
        case .notPEM(let what): return "\(what) is not a PEM-encoded key"
        case .notEd25519(let what): return "\(what) is not an Ed25519 key (only Ed25519 is supported)"
        case .wrongPublicKeyLength(let count): return "an Ed25519 public key has 32 bytes, not \(count)"
        case .unsupported(let why): return why
        case .openSSL(let detail): return "OpenSSL failed: \(detail)"
        }
    }
}

/// An Ed25519 public key: 32 raw bytes. Its key id is the hex SHA-256 of those bytes.
public struct Ed25519PublicKey: Hashable, Sendable {
    public let raw: [UInt8]

    public init(raw: [UInt8]) throws {
        guard raw.count == 32 else { throw KeyError.wrongPublicKeyLength(raw.count) }
        self.raw = raw
    }

    /// Loads an SPKI PEM ("BEGIN PUBLIC KEY"), as written by otactl or `openssl pkey -pubout`.
    public init(pem: String, source: String = "public key") throws {
        let pkey = try OpenSSLKey.read(pem: pem, source: source, isPrivate: false)
        defer { EVP_PKEY_free(pkey) }
        self.raw = try OpenSSLKey.rawPublic(pkey)
    }

    public var keyID: String { SHA256Digest.of(raw).hex }

    /// SPKI PEM text.
    public var pem: String {
        let pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nil, raw, raw.count)!
        defer { EVP_PKEY_free(pkey) }
        return OpenSSLKey.writePEM { PEM_write_bio_PUBKEY($0, pkey) }
    }

    /// True when `signature` is a valid Ed25519 signature of `message` by this key.
    public func isValidSignature(_ signature: [UInt8], for message: [UInt8]) -> Bool {
        guard signature.count == 64,
              let pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nil, raw, raw.count) else { return false }
        defer { EVP_PKEY_free(pkey) }
        guard let context = EVP_MD_CTX_new() else { return false }
        defer { EVP_MD_CTX_free(context) }
        guard EVP_DigestVerifyInit(context, nil, nil, nil, pkey) == 1 else { return false }
        return EVP_DigestVerify(context, signature, signature.count, message, message.count) == 1
    }
}

/// An Ed25519 private key held by OpenSSL. Immutable; every operation uses a fresh context.
public final class Ed25519PrivateKey: @unchecked Sendable {
    private let pkey: OpaquePointer
    public let publicKey: Ed25519PublicKey

    private init(pkey: OpaquePointer) throws {
        self.pkey = pkey
        do { self.publicKey = try Ed25519PublicKey(raw: OpenSSLKey.rawPublic(pkey)) } catch {
            EVP_PKEY_free(pkey)
            throw error
        }
    }

    deinit { EVP_PKEY_free(pkey) }

    public static func generate() throws -> Ed25519PrivateKey {
        guard let context = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, nil) else { throw KeyError.openSSL(OpenSSLKey.lastError()) }
        defer { EVP_PKEY_CTX_free(context) }
        var pkey: OpaquePointer?
        guard EVP_PKEY_keygen_init(context) == 1, EVP_PKEY_keygen(context, &pkey) == 1, let pkey else {
            throw KeyError.openSSL(OpenSSLKey.lastError())
        }
        return try Ed25519PrivateKey(pkey: pkey)
    }

    /// Loads a PKCS#8 PEM private key block, as written by otactl or `openssl genpkey -algorithm ed25519`.
    public convenience init(pem: String, source: String = "private key") throws {
        try self.init(pkey: OpenSSLKey.read(pem: pem, source: source, isPrivate: true))
    }

    /// Unencrypted PKCS#8 PEM text. Whoever writes it to disk must make the file 0600.
    public var pemPKCS8: String {
        OpenSSLKey.writePEM { PEM_write_bio_PrivateKey($0, pkey, nil, nil, 0, nil, nil) }
    }

    public func sign(_ message: [UInt8]) throws -> [UInt8] {
        guard let context = EVP_MD_CTX_new() else { throw KeyError.openSSL(OpenSSLKey.lastError()) }
        defer { EVP_MD_CTX_free(context) }
        guard EVP_DigestSignInit(context, nil, nil, nil, pkey) == 1 else { throw KeyError.openSSL(OpenSSLKey.lastError()) }
        var signature = [UInt8](repeating: 0, count: 64)
        var length = signature.count
        guard EVP_DigestSign(context, &signature, &length, message, message.count) == 1, length == 64 else {
            throw KeyError.openSSL(OpenSSLKey.lastError())
        }
        return signature
    }
}

/// The small amount of OpenSSL plumbing both key types share.
enum OpenSSLKey {
    static func read(pem: String, source: String, isPrivate: Bool) throws -> OpaquePointer {
        guard pem.contains("-----BEGIN") else { throw KeyError.notPEM(source) }
        let bytes = Array(pem.utf8)
        let pkey: OpaquePointer? = bytes.withUnsafeBytes { buffer in
            guard let bio = BIO_new_mem_buf(buffer.baseAddress, Int32(buffer.count)) else { return nil }
            defer { BIO_free(bio) }
            return isPrivate ? PEM_read_bio_PrivateKey(bio, nil, nil, nil) : PEM_read_bio_PUBKEY(bio, nil, nil, nil)
        }
        ERR_clear_error()
        guard let pkey else { throw KeyError.notPEM(source) }
        guard EVP_PKEY_get_id(pkey) == EVP_PKEY_ED25519 else {
            EVP_PKEY_free(pkey)
            throw KeyError.notEd25519(source)
        }
        return pkey
    }

    static func rawPublic(_ pkey: OpaquePointer) throws -> [UInt8] {
        var raw = [UInt8](repeating: 0, count: 32)
        var length = raw.count
        guard EVP_PKEY_get_raw_public_key(pkey, &raw, &length) == 1, length == 32 else {
            throw KeyError.openSSL(lastError())
        }
        return raw
    }

    static func writePEM(_ write: (OpaquePointer) -> Int32) -> String {
        let bio = BIO_new(BIO_s_mem())!
        defer { BIO_free(bio) }
        guard write(bio) == 1 else { fatalError("OpenSSL could not write a PEM: \(lastError())") }
        var pointer: UnsafeMutablePointer<CChar>?
        let length = ota_BIO_get_mem_data(bio, &pointer)
        guard let pointer, length > 0 else { return "" }
        return String(decoding: UnsafeRawBufferPointer(start: pointer, count: Int(length)), as: UTF8.self)
    }

    static func lastError() -> String {
        let code = ERR_get_error()
        guard code != 0 else { return "unknown error" }
        var buffer = [CChar](repeating: 0, count: 256)
        ERR_error_string_n(code, &buffer, buffer.count)
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
