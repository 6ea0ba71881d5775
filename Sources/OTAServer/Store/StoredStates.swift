import GRDB
import OTACore

// The states the registry stores, read and written as their raw values (the columns' CHECK
// constraints list the same spellings).
extension AdminAPI.DeploymentStatus: DatabaseValueConvertible {}
extension AdminAPI.MembershipState: DatabaseValueConvertible {}
extension DeviceAPI.InstalledState: DatabaseValueConvertible {}
extension DeviceAPI.UpdateState: DatabaseValueConvertible {}
