import COpenSSL

/// SHA-1 and MD5 of a file, computed in one pass, for update clients that check nothing
/// stronger (SWUpdate's suricatta checks SHA-1, rauc-hawkbit MD5). Never used to trust
/// anything here: the server names files by SHA-256, and these only travel to such clients.
public struct LegacyDigests: Sendable, Equatable {
    public let sha1: String
    public let md5: String

    public init(sha1: String, md5: String) {
        self.sha1 = sha1
        self.md5 = md5
    }

    /// Feeds bytes in as they are read, so a large image is never held whole.
    public final class Hasher {
        private let sha1 = EVP_MD_CTX_new()
        private let md5 = EVP_MD_CTX_new()

        public init() {
            EVP_DigestInit_ex(sha1, EVP_sha1(), nil)
            EVP_DigestInit_ex(md5, EVP_md5(), nil)
        }

        deinit {
            EVP_MD_CTX_free(sha1)
            EVP_MD_CTX_free(md5)
        }

        public func update(_ bytes: UnsafeRawBufferPointer) {
            guard let base = bytes.baseAddress, !bytes.isEmpty else { return }
            EVP_DigestUpdate(sha1, base, bytes.count)
            EVP_DigestUpdate(md5, base, bytes.count)
        }

        public func update(_ bytes: [UInt8]) { bytes.withUnsafeBytes { update($0) } }

        public func finish() -> LegacyDigests {
            func final(_ context: OpaquePointer?) -> String {
                var output = [UInt8](repeating: 0, count: 64)
                var length: UInt32 = 0
                EVP_DigestFinal_ex(context, &output, &length)
                return Hex.encode(output.prefix(Int(length)))
            }
            return LegacyDigests(sha1: final(sha1), md5: final(md5))
        }
    }

    public static func of(_ bytes: [UInt8]) -> LegacyDigests {
        let hasher = Hasher()
        hasher.update(bytes)
        return hasher.finish()
    }
}
