import OTACore

/// Who is calling the admin API.
public struct AdminIdentity: Sendable, Equatable {
    public let tokenID: TokenID
    public let name: String
    public let role: AdminAPI.Role

    /// How the audit log names the caller.
    public var actor: String { "\(name) (\(tokenID))" }
}

/// The device a device-API request comes from.
public struct DeviceIdentity: Sendable, Equatable {
    public let id: DeviceID
    public let hardware: HardwareClass
    public let tags: Set<Tag>
    public let group: GroupName?
    /// The API it speaks: what it is offered (agents never get client images, DDI devices
    /// only those) and where its token is accepted.
    public var `protocol`: DeviceProtocol = .agent
    /// What the device last said it is (`DeviceInventory`); nil before it said anything.
    /// Deployment filters read it.
    public var inventory: DeviceInventory? = nil
}
