import OTACore

/// Devices on hawkBit's DDI API: added by an operator with a token made here (SWUpdate and
/// RAUC's clients hold no key of ours), accepted at once, and moved to a new token on demand.
extension DeviceStore {
    /// Adds a DDI device; returns its token, which only its hash outlives.
    func addDDI(_ request: AdminAPI.DDIDeviceRequest, by caller: AdminIdentity, now: Timestamp) async throws -> String {
        try await db.write { db in
            let token = try await Self.insertDDI(db, request, now: now)
            try await Self.auditDDI(db, request, by: caller)
            return token
        }
    }

    static func auditDDI(_ db: any SQLTransaction, _ request: AdminAPI.DDIDeviceRequest, by caller: AdminIdentity) async throws {
        try await AuditLog.record(db, by: caller, action: .deviceAddDDI, target: request.deviceID.rawValue,
                                  detail: "hardware \(request.hardware)" + (request.group.map { ", group \($0)" } ?? ""))
    }

    /// Inserts an accepted DDI device with a new token, and answers the token (the registry
    /// keeps only its hash). Shared by `add-ddi` and the import of a device list.
    static func insertDDI(_ db: any SQLTransaction, _ request: AdminAPI.DDIDeviceRequest, now: Timestamp) async throws -> String {
        let (token, hash) = Secret.make(prefix: Secret.ddiPrefix)
        if try await db.value(Bool.self, "SELECT 1 FROM devices WHERE id = \(request.deviceID)") == true {
            throw RegistryError.conflict("device \(request.deviceID) already exists; delete it first, or give a new token with `otactl devices ddi-token \(request.deviceID)`")
        }
        // An agent's key waiting for this id would take the DDI device's place once it is deleted.
        if try await db.value(Bool.self, "SELECT 1 FROM preauthorized_devices WHERE device_id = \(request.deviceID)") == true {
            throw RegistryError.conflict("\(request.deviceID) is pre-authorised as an agent; it cannot also be a DDI device")
        }
        try await db.execute("""
            INSERT INTO devices (id, token_hash, hardware, attributes, group_name, registered_at, status, session_epoch, protocol)
            VALUES (\(request.deviceID), \(hash), \(request.hardware), '{}', \(request.group), \(now), 'accepted', \(DeviceSessions.newEpoch()), \(DeviceProtocol.ddi))
            """)
        for tag in Set(request.tags ?? []).sorted() {
            try await db.execute("INSERT INTO device_tags (device_id, tag) VALUES (\(request.deviceID), \(tag))")
        }
        return token
    }

    /// Gives a DDI device a new token; the old one stops working at once, on every instance
    /// (the change feed carries the device's change). Nil when there is no such DDI device.
    func rotateDDIToken(id: DeviceID, by caller: AdminIdentity) async throws -> String? {
        let (token, hash) = Secret.make(prefix: Secret.ddiPrefix)
        return try await db.write { db in
            guard try await db.execute("UPDATE devices SET token_hash = \(hash), session_epoch = \(DeviceSessions.newEpoch()) WHERE id = \(id) AND protocol = \(DeviceProtocol.ddi)") > 0 else {
                return nil
            }
            try await AuditLog.record(db, by: caller, action: .deviceRotateToken, target: id.rawValue)
            return token
        }
    }

    /// An accepted DDI device by id (for a gateway's requests, which name no device token).
    func ddiIdentity(id: DeviceID) async throws -> DeviceIdentity? {
        try await db.read { db in
            guard let row = try await db.row("SELECT id, hardware, group_name, protocol, inventory FROM devices WHERE id = \(id) AND protocol = 'ddi' AND status = 'accepted'") else { return nil }
            return try await Self.identity(db, row: row)
        }
    }

    /// Writes what a DDI client sent as its configuration data into the device's attributes.
    func setAttributes(id: DeviceID, _ attributes: [String: String]) async throws {
        try await db.write { db in
            _ = try await db.execute("UPDATE devices SET attributes = \(JSONColumn.encode(attributes)) WHERE id = \(id)")
        }
    }

    func attributes(id: DeviceID) async throws -> [String: String]? {
        try await db.read { db in
            guard let row = try await db.row("SELECT attributes FROM devices WHERE id = \(id)") else { return nil }
            return try row.json("attributes", as: [String: String].self)
        }
    }
}

extension DeviceStore {
    /// What the registry says the device runs (for devices that report no inventory).
    func installed(id: DeviceID) async throws -> [DeviceAPI.InstalledBundle] {
        try await db.read { db in
            try await db.rows("SELECT * FROM installed WHERE device_id = \(id) ORDER BY bundle_name").map { row in
                DeviceAPI.InstalledBundle(name: try row["bundle_name"], version: try row["version"], digest: try row["digest"], state: try row["state"],
                                          variant: try row["variant"])
            }
        }
    }
}
