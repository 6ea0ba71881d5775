import COpenSSL

/// The hash algorithms TUF metadata may list for a file (python-tuf writes sha256 and can add
/// sha512); each listed hash must match.
public enum MetadataHash {
    /// Hex digest of `bytes` with `algorithm`, or nil for an algorithm not supported here.
    public static func hex(_ algorithm: String, of bytes: [UInt8]) -> String? {
        let md: OpaquePointer?
        switch algorithm {
        case "sha256": md = EVP_sha256()
        case "sha512": md = EVP_sha512()
        default: return nil
        }
        var output = [UInt8](repeating: 0, count: 64)
        var length: UInt32 = 0
        let ok = bytes.withUnsafeBytes { EVP_Digest($0.baseAddress, $0.count, &output, &length, md, nil) == 1 }
        return ok ? Hex.encode(output.prefix(Int(length))) : nil
    }
}
