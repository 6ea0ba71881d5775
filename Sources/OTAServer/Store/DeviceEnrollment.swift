import OTACore

/// Who may join the fleet, and with which key: registration with an enrollment token or
/// as a pre-authorised device, acceptance by an operator, re-provisioning to a new key, and
/// the one-time key binding of devices registered before device keys.
extension DeviceStore {
    /// A device's key and standing, for opening sessions.
    struct KeyedDevice: Sendable {
        let identity: DeviceIdentity
        let publicKey: Ed25519PublicKey
        let status: DeviceAPI.DeviceStatus
        /// Renewed whenever the key or standing changes; sessions name it.
        let sessionEpoch: String
    }

    /// A device's key, standing and session epoch: all that opening a session needs before
    /// the proof is verified (one indexed read, the same for every device id).
    struct SessionKey: Sendable {
        let publicKey: Ed25519PublicKey
        let status: DeviceAPI.DeviceStatus
        let sessionEpoch: String
    }

    func sessionKey(id: DeviceID) async throws -> SessionKey? {
        try await db.read { db in
            guard let row = try await db.row("SELECT public_key, status, session_epoch FROM devices WHERE id = \(id)"),
                  let key = try Self.publicKey(row) else { return nil }
            return SessionKey(publicKey: key, status: try row["status"], sessionEpoch: try row.string("session_epoch"))
        }
    }

    /// The standing of a device registered with exactly this key, if it is: a registration
    /// repeated by the device itself (an answer it lost) changes nothing and uses no token.
    func registeredStanding(id: DeviceID, publicKey: Ed25519PublicKey) async throws -> (DeviceIdentity, DeviceAPI.DeviceStatus)? {
        let key = Base64.encode(publicKey.raw)
        return try await db.read { db in
            guard let row = try await db.row("SELECT id, hardware, group_name, status, protocol, inventory FROM devices WHERE id = \(id) AND public_key = \(key)") else { return nil }
            return await (try Self.identity(db, row: row), try row["status"])
        }
    }

    /// The stored public key of a device row, nil when it has none (a bearer-token device).
    private static func publicKey(_ row: SQLRow) throws -> Ed25519PublicKey? {
        guard let text = try row.optionalString("public_key") else { return nil }
        guard let raw = Base64.decode(text, limit: 32), let key = try? Ed25519PublicKey(raw: raw) else {
            throw RegistryError.corrupt("a stored device key is not an Ed25519 public key")
        }
        return key
    }

    /// Registers a device that proved it holds `publicKey`, in one transaction. The token
    /// (or the pre-authorisation) decides the device's tags, group, whether it is accepted,
    /// and whether its id and hardware are allowed at all.
    func register(_ request: DeviceAPI.RegisterRequest, publicKey: Ed25519PublicKey) async throws -> (DeviceIdentity, DeviceAPI.DeviceStatus) {
        let attributes = request.attributes ?? [:]
        guard attributes.count <= 64, attributes.allSatisfy({ $0.key.utf8.count <= 64 && $0.value.utf8.count <= 1024 }) else {
            throw RegistryError.invalid("attributes: at most 64, keys up to 64 bytes, values up to 1024 bytes")
        }
        let now = SystemClock().now
        let key = Base64.encode(publicKey.raw)
        return try await db.write { db in
            // The device itself again (it proved it holds this key): an answer it lost, or a
            // device that forgot its registration. Nothing changes, no token is used.
            if let existing = try await db.row("SELECT id, hardware, group_name, status, protocol, inventory FROM devices WHERE id = \(request.deviceID) AND public_key = \(key)") {
                return await (try Self.identity(db, row: existing), try existing["status"])
            }
            // Who may register is checked before whether the id is taken: without a valid token
            // (or pre-authorisation) nobody learns which ids exist.
            let tags: [Tag]
            let group: GroupName?
            let status: DeviceAPI.DeviceStatus
            var tokenID: TokenID?
            if let secret = request.enrollmentToken {
                let token = try await Self.usableToken(db, secret: secret, now: now)
                if let hardware: HardwareClass = try token["hardware"], hardware != request.hardware {
                    throw RegistryError.notAllowed("this enrollment token is for hardware \(hardware), not \(request.hardware)")
                }
                if let prefix: DeviceIDPrefix = try token["id_prefix"], !request.deviceID.rawValue.hasPrefix(prefix.rawValue) {
                    throw RegistryError.notAllowed("this enrollment token is for device ids starting with '\(prefix)'")
                }
                if try await db.value(Bool.self, "SELECT 1 FROM preauthorized_devices WHERE device_id = \(request.deviceID)") == true {
                    throw RegistryError.conflict("device \(request.deviceID) is pre-authorised with its own key; it registers without a token")
                }
                tags = try token.json("tags", as: [Tag].self)
                group = try token["group_name"]
                status = try token.int("auto_accept") != 0 ? .accepted : .pending
                tokenID = try token["id"]
                try await db.execute("UPDATE enrollment_tokens SET uses = uses + 1 WHERE id = \(tokenID)")
            } else {
                guard let authorised = try await db.row("SELECT * FROM preauthorized_devices WHERE device_id = \(request.deviceID) AND public_key = \(key)") else {
                    throw RegistryError.notAuthenticated("no enrollment token, and device \(request.deviceID) is not pre-authorised with this key")
                }
                let hardware: HardwareClass = try authorised["hardware"]
                guard hardware == request.hardware else {
                    throw RegistryError.notAllowed("device \(request.deviceID) was pre-authorised as hardware \(hardware)")
                }
                tags = try authorised.json("tags", as: [Tag].self)
                group = try authorised["group_name"]
                status = .accepted
                try await db.execute("DELETE FROM preauthorized_devices WHERE device_id = \(request.deviceID)")
            }
            if try await db.value(Bool.self, "SELECT 1 FROM devices WHERE id = \(request.deviceID)") == true {
                throw RegistryError.conflict("device \(request.deviceID) is already registered with another key; an operator must delete it and authorise it again")
            }
            if try await db.value(Bool.self, "SELECT 1 FROM devices WHERE public_key = \(key)") == true {
                throw RegistryError.conflict("this public key already belongs to another device")
            }
            try await db.execute("""
                INSERT INTO devices (id, token_hash, hardware, attributes, group_name, enrollment_token_id, registered_at, last_seen,
                                     public_key, status, session_epoch)
                VALUES (\(request.deviceID), \("key:" + request.deviceID.rawValue), \(request.hardware), \(JSONColumn.encode(attributes)), \(group), \(tokenID), \(now), \(now.secondsSinceEpoch), \(key), \(status), \(DeviceSessions.newEpoch()))
                """)
            for tag in Set(tags).sorted() {
                try await db.execute("INSERT INTO device_tags (device_id, tag) VALUES (\(request.deviceID), \(tag))")
            }
            try await AuditLog.recordSystem(db, action: .deviceRegister, target: request.deviceID.rawValue,
                                      detail: "\(status.rawValue), \(tokenID.map { "enrollment token \($0)" } ?? "pre-authorised"), key \(publicKey.keyID.prefix(16))")
            return (DeviceIdentity(id: request.deviceID, hardware: request.hardware, tags: Set(tags), group: group), status)
        }
    }

    private static func usableToken(_ db: any SQLTransaction, secret: String, now: Timestamp) async throws -> SQLRow {
        guard let token = try await db.row("SELECT * FROM enrollment_tokens WHERE token_hash = \(Secret.hash(secret))") else {
            throw RegistryError.notAuthenticated("the enrollment token is not valid")
        }
        if try token.optionalString("revoked_at") != nil { throw RegistryError.notAuthenticated("the enrollment token was revoked") }
        if let expires: Timestamp = try token["expires_at"], expires <= now { throw RegistryError.notAuthenticated("the enrollment token has expired") }
        if let maxUses: Int = try token["max_uses"], try token.int("uses") >= maxUses {
            throw RegistryError.notAuthenticated("the enrollment token is used up (\(maxUses) device\(maxUses == 1 ? "" : "s"))")
        }
        return token
    }

    func keyedDevice(id: DeviceID) async throws -> KeyedDevice? {
        try await db.read { db in
            guard let row = try await db.row("SELECT id, hardware, group_name, public_key, status, session_epoch, protocol, inventory FROM devices WHERE id = \(id)"),
                  let key = try Self.publicKey(row) else { return nil }
            return await KeyedDevice(identity: try Self.identity(db, row: row), publicKey: key, status: try row["status"],
                               sessionEpoch: try row.string("session_epoch"))
        }
    }

    /// A device on a bearer token binds its first key; its bearer token stops working.
    func bindKey(deviceID: DeviceID, publicKey: Ed25519PublicKey) async throws {
        let key = Base64.encode(publicKey.raw)
        try await db.write { db in
            if try await db.value(Bool.self, "SELECT 1 FROM devices WHERE public_key = \(key)") == true {
                throw RegistryError.conflict("this public key already belongs to a device")
            }
            guard try await db.execute("UPDATE devices SET public_key = \(key), token_hash = 'key:' || id, session_epoch = \(DeviceSessions.newEpoch()) WHERE id = \(deviceID) AND public_key IS NULL") > 0 else { throw RegistryError.conflict("device \(deviceID) already has a key; an operator can change it") }
            try await AuditLog.recordSystem(db, action: .deviceBindKey, target: deviceID.rawValue, detail: "key \(publicKey.keyID.prefix(16))")
        }
    }

    /// Accepts or rejects a device; false when there is no such device.
    func setStatus(id: DeviceID, _ status: DeviceAPI.DeviceStatus, by caller: AdminIdentity) async throws -> Bool {
        try await db.write { db in
            guard try await db.execute("UPDATE devices SET status = \(status), session_epoch = \(DeviceSessions.newEpoch()) WHERE id = \(id)") > 0 else { return false }
            try await AuditLog.record(db, by: caller, action: status == .accepted ? .deviceAccept : .deviceReject, target: id.rawValue)
            return true
        }
    }

    /// Moves a device to a new key (re-provisioning). Its history and memberships stay; its
    /// sessions under the old key end.
    func setKey(id: DeviceID, publicKey: Ed25519PublicKey, by caller: AdminIdentity) async throws -> Bool {
        let key = Base64.encode(publicKey.raw)
        return try await db.write { db in
            if try await db.value(Bool.self, "SELECT 1 FROM devices WHERE public_key = \(key) AND id != \(id)") == true {
                throw RegistryError.conflict("this public key already belongs to another device")
            }
            if try await db.value(Bool.self, "SELECT 1 FROM devices WHERE id = \(id) AND protocol = 'ddi'") == true {
                throw RegistryError.conflict("device \(id) speaks hawkBit's DDI API with a token, not a key: give it a new token with `otactl devices ddi-token \(id)`")
            }
            guard try await db.execute("UPDATE devices SET public_key = \(key), token_hash = 'key:' || id, session_epoch = \(DeviceSessions.newEpoch()) WHERE id = \(id)") > 0 else { return false }
            try await AuditLog.record(db, by: caller, action: .deviceRekey, target: id.rawValue, detail: "key \(publicKey.keyID.prefix(16))")
            return true
        }
    }

    /// Pre-authorises devices with their keys, all or none.
    func preauthorize(_ devices: [AdminAPI.PreauthorizedDevice], by caller: AdminIdentity, now: Timestamp) async throws -> AdminAPI.DeviceImportResponse {
        guard !devices.isEmpty, devices.count <= 100_000 else { throw RegistryError.invalid("import 1 to 100000 devices at once") }
        // A DDI device costs a few statements under the write lock, and its token lives only
        // in this one answer: smaller lists keep both short.
        guard devices.count(where: \.isDDI) <= 10_000 else { throw RegistryError.invalid("import at most 10000 DDI devices at once") }
        var seen = Set<DeviceID>()
        for (index, device) in devices.enumerated() {
            let line = "device \(index + 1)"
            if let key = device.publicKey {
                guard let raw = Base64.decode(key, limit: 32), (try? Ed25519PublicKey(raw: raw)) != nil else {
                    throw RegistryError.invalid("\(line): public_key must be the base64 of a raw 32-byte Ed25519 public key")
                }
            }
            guard seen.insert(device.deviceID).inserted else { throw RegistryError.invalid("\(line): \(device.deviceID) is listed twice") }
        }
        return try await db.write { db in
            var tokens: [AdminAPI.DDIToken] = []
            for device in devices {
                guard let key = device.publicKey else {
                    // A DDI device is accepted at once: it has a token, not a key to present.
                    let request = AdminAPI.DDIDeviceRequest(deviceID: device.deviceID, hardware: device.hardware, tags: device.tags, group: device.group)
                    let token = try await Self.insertDDI(db, request, now: now)
                    try await Self.auditDDI(db, request, by: caller)
                    tokens.append(AdminAPI.DDIToken(deviceID: device.deviceID, token: token))
                    continue
                }
                // An id taken by any device, DDI ones included, is not pre-authorised again: its key
                // would inherit the id once that device is deleted.
                if try await db.value(Bool.self, "SELECT 1 FROM devices WHERE id = \(device.deviceID) OR public_key = \(key)") == true {
                    throw RegistryError.conflict("\(device.deviceID) (or its key) is already registered")
                }
                try await db.execute("""
                    INSERT INTO preauthorized_devices (device_id, public_key, hardware, tags, group_name, created_at, created_by)
                    VALUES (\(device.deviceID), \(key), \(device.hardware), \(JSONColumn.encode(device.tags ?? [])), \(device.group), \(now), \(caller.actor))
                    ON CONFLICT (device_id) DO UPDATE SET public_key = excluded.public_key, hardware = excluded.hardware,
                        tags = excluded.tags, group_name = excluded.group_name
                    """)
            }
            // Each DDI device has its own entry (above), as with add-ddi: it never registers later.
            let ddi = tokens.isEmpty ? "" : " (\(tokens.count) on DDI)"
            try await AuditLog.record(db, by: caller, action: .deviceImport, target: "\(devices.count) devices\(ddi)",
                                      detail: devices.prefix(5).map(\.deviceID).joined(separator: ", ") + (devices.count > 5 ? ", ..." : ""))
            return AdminAPI.DeviceImportResponse(imported: devices.count, ddiTokens: tokens.isEmpty ? nil : tokens)
        }
    }
}
