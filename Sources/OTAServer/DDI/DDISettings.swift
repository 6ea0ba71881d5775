import OTACore

/// How this server plays a hawkBit server to DDI clients: the one tenant it answers for, the
/// release channel its DDI devices follow, and whether a site gateway's token is accepted.
public struct DDISettings: Sendable {
    /// Matched without regard to case, as hawkBit matches tenants.
    public var tenant: String = "default"
    /// DDI clients check no release metadata; the server offers them only what is released
    /// on this channel in unexpired metadata.
    public var channel: Channel = .stable
    /// SHA-256 of the `GatewayToken` the operator enabled, if any: it stands for every DDI
    /// device, so it is off unless asked for.
    public var gatewayTokenHash: String?
    /// `scheme://host[:port]` of this server as DDI clients reach it, for the links they
    /// follow: behind a TLS terminator, its https address. Nil: the request's own Host, with
    /// https when the server itself holds a certificate.
    public var publicURL: String?

    public init() {}

    /// How a gateway token is kept: its SHA-256, as every bearer secret here.
    public static func hash(_ token: String) -> String { Secret.hash(token) }

    public func serves(tenant name: String) -> Bool { name.lowercased() == tenant.lowercased() }

    /// A host name or address with an optional port: what may go into a link unescaped.
    public static func isValidAuthority(_ text: String) -> Bool {
        !text.isEmpty && text.utf8.count <= 255 && text.utf8.allSatisfy { byte in
            (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
                || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "-") || byte == UInt8(ascii: ":") || byte == UInt8(ascii: "[") || byte == UInt8(ascii: "]")
        }
    }

    /// `http(s)://HOST[:PORT]`, nothing more.
    public static func isValidPublicURL(_ url: String) -> Bool {
        let parts = url.components(separatedBy: "://")
        return parts.count == 2 && ["http", "https"].contains(parts[0]) && isValidAuthority(parts[1])
    }

    /// hawkBit's `HH:MM:SS`; capped at `23:59:59` (rauc-hawkbit reads it as a time of day).
    static func sleep(seconds: Int) -> String {
        let capped = min(max(seconds, 1), 23 * 3600 + 59 * 60 + 59)
        func two(_ value: Int) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(two(capped / 3600)):\(two(capped / 60 % 60)):\(two(capped % 60))"
    }
}
