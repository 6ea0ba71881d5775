import ArgumentParser
import OTACore

/// The domain's values as command-line arguments: a bad one is a usage error naming what is
/// wrong, before anything runs.
extension ValidatedName where Self: ExpressibleByArgument {
    public init?(argument: String) { self.init(rawValue: argument) }
}

extension DeviceID: ExpressibleByArgument {}
extension BundleName: ExpressibleByArgument {}
extension HardwareClass: ExpressibleByArgument {}
extension Tag: ExpressibleByArgument {}
extension GroupName: ExpressibleByArgument {}
extension DeploymentID: ExpressibleByArgument {}
extension TokenID: ExpressibleByArgument {}
extension Channel: ExpressibleByArgument {}
extension DeviceIDPrefix: ExpressibleByArgument {}

extension SemanticVersion: ExpressibleByArgument {
    public init?(argument: String) { try? self.init(argument) }
}

extension BundleKind: ExpressibleByArgument {
    public init?(argument: String) { try? self.init(argument) }
}

extension Timestamp: ExpressibleByArgument {
    public init?(argument: String) { self.init(rfc3339: argument) }
}

extension DeviceUpdateState: ExpressibleByArgument {}
extension DeviceAPI.DeviceStatus: ExpressibleByArgument {}
extension AdminAPI.Role: ExpressibleByArgument {}
