import OTACore

// The states the registry stores, read and written as their raw values (the columns' CHECK
// constraints list the same spellings).
extension AdminAPI.DeploymentStatus: SQLBindable, SQLColumn {}
extension AdminAPI.MembershipState: SQLBindable, SQLColumn {}
extension AdminAPI.Role: SQLBindable, SQLColumn {}
extension DeviceAPI.InstalledState: SQLBindable, SQLColumn {}
extension DeviceAPI.UpdateState: SQLBindable, SQLColumn {}
extension DeviceAPI.DeviceStatus: SQLBindable, SQLColumn {}
extension DeviceUpdateState: SQLBindable, SQLColumn {}
extension AuditRole: SQLBindable, SQLColumn {}
extension AuditAction: SQLBindable, SQLColumn {}
extension ModelReports.Source: SQLBindable, SQLColumn {}
extension DeviceProtocol: SQLBindable, SQLColumn {}
