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

    public init() {}

    /// How a gateway token is kept: its SHA-256, as every bearer secret here.
    public static func hash(_ token: String) -> String { Secret.hash(token) }

    public func serves(tenant name: String) -> Bool { name.lowercased() == tenant.lowercased() }

    /// hawkBit's `HH:MM:SS`; capped at `23:59:59` (rauc-hawkbit reads it as a time of day).
    static func sleep(seconds: Int) -> String {
        let capped = min(max(seconds, 1), 23 * 3600 + 59 * 60 + 59)
        func two(_ value: Int) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(two(capped / 3600)):\(two(capped / 60 % 60)):\(two(capped % 60))"
    }
}
