
/// Standard base64 (RFC 4648 §4), as DSSE, RFC 9421 and RFC 9530 spell bytes.
public enum Base64 {
    public static func encode(_ bytes: [UInt8]) -> String { Data(bytes).base64EncodedString() }

    public static func decode(_ text: some StringProtocol) -> [UInt8]? {
        guard text.utf8.count <= 8192 else { return nil }
        return Data(base64Encoded: String(text)).map(Array.init)
    }
}
