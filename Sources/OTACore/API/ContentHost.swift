/// A host a device may fetch content from when the server redirects a download there (its
/// object store): `host` or `host:port`, in lower case, as the server's signed check-in answer
/// or the device's own config names it. A redirect anywhere else is refused, so a server
/// cannot use devices to reach into the networks they sit in.
public enum ContentHost {
    /// A DNS name or IP address (IPv6 in brackets), optionally with a port; at most 255 bytes.
    public static func isValid(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        guard (1...255).contains(bytes.count) else { return false }
        var host = bytes[...]
        if bytes.first == UInt8(ascii: "[") {
            guard let close = bytes.firstIndex(of: UInt8(ascii: "]")), close > 1 else { return false }
            guard bytes[1..<close].allSatisfy({ isHex($0) || $0 == UInt8(ascii: ":") || $0 == UInt8(ascii: ".") }) else { return false }
            host = bytes[(close + 1)...]
            guard host.isEmpty || host.first == UInt8(ascii: ":") else { return false }
            return host.isEmpty || isPort(host.dropFirst())
        }
        if let colon = bytes.firstIndex(of: UInt8(ascii: ":")) {
            guard isPort(bytes[(colon + 1)...]) else { return false }
            host = bytes[..<colon]
        }
        // '_' is not DNS, but container names (a docker-compose `ota_minio`) use it.
        return !host.isEmpty && host.allSatisfy { ($0 >= 0x61 && $0 <= 0x7a) || ($0 >= 0x30 && $0 <= 0x39) || $0 == UInt8(ascii: "-")
            || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "_") }
    }

    private static func isHex(_ byte: UInt8) -> Bool { (byte >= 0x30 && byte <= 0x39) || (byte >= 0x61 && byte <= 0x66) }

    private static func isPort(_ digits: ArraySlice<UInt8>) -> Bool {
        guard (1...5).contains(digits.count), digits.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
              let port = Int(String(decoding: digits, as: UTF8.self)) else { return false }
        return (1...65_535).contains(port)
    }

    /// `host:port` when the port is not the scheme's default, else `host`: one spelling per
    /// place, to compare a redirect's target with the hosts named.
    public static func normalized(host: String, port: Int?, scheme: String) -> String {
        let lower = host.lowercased()
        let defaultPort = scheme.lowercased() == "https" ? 443 : 80
        guard let port, port != defaultPort else { return lower }
        return "\(lower):\(port)"
    }
}
