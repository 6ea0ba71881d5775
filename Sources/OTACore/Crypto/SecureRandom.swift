import COpenSSL

public enum SecureRandom {
    /// Bytes from OpenSSL's CSPRNG, for tokens and temporary names.
    public static func bytes(_ count: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        guard RAND_bytes(&out, Int32(count)) == 1 else { fatalError("OpenSSL's random generator failed") }
        return out
    }

    /// A token of `count` random bytes as URL-safe base64 without padding.
    public static func token(prefix: String, bytes count: Int = 32) -> String {
        let text = Data(bytes(count)).base64EncodedString()
            .replacing("+", with: "-")
            .replacing("/", with: "_")
            .replacing("=", with: "")
        return prefix + text
    }
}
