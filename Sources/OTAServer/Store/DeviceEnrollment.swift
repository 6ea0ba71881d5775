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

    /// Registers a device that proved it holds `publicKey`, in one transaction. The token
    /// (or the pre-authorisation) decides the device's tags, group, whether it is accepted,
    /// and whether its id and hardware are allowed at all.
    func register(_ request: DeviceAPI.RegisterRequest, publicKey: Ed25519PublicKey) async throws -> (DeviceIdentity, DeviceAPI.DeviceStatus) {
        let attributes = request.attributes ?? [:]
        guard attributes.count <= 64, attributes.allSatisfy({ $0.key.utf8.count <= 64 && $0.value.utf8.count <= 1024 }) else {
            throw RegistryError.invalid("attributes: at most 64, keys up to 64 bytes, values up to 1024 bytes")
        }
        let now = Timestamp.epochSeconds()
        let key = Base64.encode(publicKey.raw)
        return try await db.write { db in
            // The device itself again (it proved it holds this key): an answer it lost, or a
            // device that forgot its registration. Nothing changes, no token is used.
            if let existing = try db.row("SELECT status FROM devices WHERE id = ? AND public_key = ?", [request.deviceID, key]),
               let status = DeviceAPI.DeviceStatus(rawValue: existing.string("status")) {
                return (try Self.identity(db, row: try db.row("SELECT id, hardware, group_name FROM devices WHERE id = ?", [request.deviceID])!), status)
            }
            // Who may register is checked before whether the id is taken: without a valid token
            // (or pre-authorisation) nobody learns which ids exist.
            let tags: [String]
            let group: String?
            let status: DeviceAPI.DeviceStatus
            var tokenID: String?
            if let secret = request.enrollmentToken {
                let token = try Self.usableToken(db, secret: secret, now: now)
                if let hardware = token.optionalString("hardware"), hardware != request.hardware {
                    throw RegistryError.notAllowed("this enrollment token is for hardware \(hardware), not \(request.hardware)")
                }
                if let prefix = token.optionalString("id_prefix"), !request.deviceID.hasPrefix(prefix) {
                    throw RegistryError.notAllowed("this enrollment token is for device ids starting with '\(prefix)'")
                }
                if try db.value(Bool.self, "SELECT 1 FROM preauthorized_devices WHERE device_id = ?", [request.deviceID]) == true {
                    throw RegistryError.conflict("device \(request.deviceID) is pre-authorised with its own key; it registers without a token")
                }
                tags = token.json("tags", as: [String].self)
                group = token.optionalString("group_name")
                status = token.int("auto_accept") != 0 ? .accepted : .pending
                tokenID = token.string("id")
                try db.execute("UPDATE enrollment_tokens SET uses = uses + 1 WHERE id = ?", [tokenID])
            } else {
                guard let authorised = try db.row("SELECT * FROM preauthorized_devices WHERE device_id = ? AND public_key = ?",
                                                        [request.deviceID, key]) else {
                    throw RegistryError.notAuthenticated("no enrollment token, and device \(request.deviceID) is not pre-authorised with this key")
                }
                guard authorised.string("hardware") == request.hardware else {
                    throw RegistryError.notAllowed("device \(request.deviceID) was pre-authorised as hardware \(authorised.string("hardware"))")
                }
                tags = authorised.json("tags", as: [String].self)
                group = authorised.optionalString("group_name")
                status = .accepted
                try db.execute("DELETE FROM preauthorized_devices WHERE device_id = ?", [request.deviceID])
            }
            if try db.value(Bool.self, "SELECT 1 FROM devices WHERE id = ?", [request.deviceID]) == true {
                throw RegistryError.conflict("device \(request.deviceID) is already registered with another key; an operator must delete it and authorise it again")
            }
            if try db.value(Bool.self, "SELECT 1 FROM devices WHERE public_key = ?", [key]) == true {
                throw RegistryError.conflict("this public key already belongs to another device")
            }
            try db.execute("""
                INSERT INTO devices (id, token_hash, hardware, attributes, group_name, enrollment_token_id, registered_at, last_seen,
                                     public_key, status, session_epoch)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, [request.deviceID, "key:" + request.deviceID, request.hardware, JSONColumn.encode(attributes), group,
                                 tokenID, Timestamp.now(), now, key, status.rawValue, DeviceSessions.newEpoch()])
            for tag in Set(tags).sorted() {
                try db.execute("INSERT INTO device_tags (device_id, tag) VALUES (?, ?)", [request.deviceID, tag])
            }
            try AuditLog.recordSystem(db, action: "device.register", target: request.deviceID,
                                      detail: "\(status.rawValue), \(tokenID.map { "enrollment token \($0)" } ?? "pre-authorised"), key \(publicKey.keyID.prefix(16))")
            return (DeviceIdentity(id: request.deviceID, hardware: request.hardware, tags: Set(tags), group: group), status)
        }
    }

    private static func usableToken(_ db: any SQLTransaction, secret: String, now: Int64) throws -> SQLRow {
        guard let token = try db.row("SELECT * FROM enrollment_tokens WHERE token_hash = ?", [Secret.hash(secret)]) else {
            throw RegistryError.notAuthenticated("the enrollment token is not valid")
        }
        if token.optionalString("revoked_at") != nil { throw RegistryError.notAuthenticated("the enrollment token was revoked") }
        if let expires: Int64 = token["expires_at"], expires <= now { throw RegistryError.notAuthenticated("the enrollment token has expired") }
        if let maxUses: Int = token["max_uses"], token.int("uses") >= maxUses {
            throw RegistryError.notAuthenticated("the enrollment token is used up (\(maxUses) device\(maxUses == 1 ? "" : "s"))")
        }
        return token
    }

    func keyedDevice(id: String) async throws -> KeyedDevice? {
        try await db.read { db in
            guard let row = try db.row("SELECT id, hardware, group_name, public_key, status, session_epoch FROM devices WHERE id = ?",
                                             [id]),
                  let raw = row.optionalString("public_key").flatMap { Base64.decode($0, limit: 32) }, let key = try? Ed25519PublicKey(raw: raw),
                  let status = DeviceAPI.DeviceStatus(rawValue: row.string("status")) else { return nil }
            return KeyedDevice(identity: try Self.identity(db, row: row), publicKey: key, status: status,
                               sessionEpoch: row.string("session_epoch"))
        }
    }

    /// A device on a bearer token binds its first key; its bearer token stops working.
    func bindKey(deviceID: String, publicKey: Ed25519PublicKey) async throws {
        let key = Base64.encode(publicKey.raw)
        try await db.write { db in
            if try db.value(Bool.self, "SELECT 1 FROM devices WHERE public_key = ?", [key]) == true {
                throw RegistryError.conflict("this public key already belongs to a device")
            }
            guard try db.execute("UPDATE devices SET public_key = ?, token_hash = 'key:' || id, session_epoch = ? WHERE id = ? AND public_key IS NULL",
                           [key, DeviceSessions.newEpoch(), deviceID]) > 0 else { throw RegistryError.conflict("device \(deviceID) already has a key; an operator can change it") }
            try AuditLog.recordSystem(db, action: "device.bind_key", target: deviceID, detail: "key \(publicKey.keyID.prefix(16))")
        }
    }

    /// Accepts or rejects a device; false when there is no such device.
    func setStatus(id: String, _ status: DeviceAPI.DeviceStatus, by caller: AdminIdentity) async throws -> Bool {
        try await db.write { db in
            guard try db.execute("UPDATE devices SET status = ?, session_epoch = ? WHERE id = ?",
                           [status.rawValue, DeviceSessions.newEpoch(), id]) > 0 else { return false }
            try AuditLog.record(db, by: caller, action: status == .accepted ? "device.accept" : "device.reject", target: id)
            return true
        }
    }

    /// Moves a device to a new key (re-provisioning). Its history and memberships stay; its
    /// sessions under the old key end.
    func setKey(id: String, publicKey: Ed25519PublicKey, by caller: AdminIdentity) async throws -> Bool {
        let key = Base64.encode(publicKey.raw)
        return try await db.write { db in
            if try db.value(Bool.self, "SELECT 1 FROM devices WHERE public_key = ? AND id != ?", [key, id]) == true {
                throw RegistryError.conflict("this public key already belongs to another device")
            }
            guard try db.execute("UPDATE devices SET public_key = ?, token_hash = 'key:' || id, session_epoch = ? WHERE id = ?",
                           [key, DeviceSessions.newEpoch(), id]) > 0 else { return false }
            try AuditLog.record(db, by: caller, action: "device.rekey", target: id, detail: "key \(publicKey.keyID.prefix(16))")
            return true
        }
    }

    /// Pre-authorises devices with their keys, all or none.
    func preauthorize(_ devices: [AdminAPI.PreauthorizedDevice], by caller: AdminIdentity) async throws -> Int {
        guard !devices.isEmpty, devices.count <= 100_000 else { throw RegistryError.invalid("import 1 to 100000 devices at once") }
        var seen = Set<String>()
        for (index, device) in devices.enumerated() {
            let line = "device \(index + 1)"
            if let problem = SafeName.problem(with: device.deviceID, what: "\(line): device_id") { throw RegistryError.invalid(problem) }
            if let problem = SafeName.problem(with: device.hardware, what: "\(line): hardware") { throw RegistryError.invalid(problem) }
            for tag in device.tags ?? [] { if let problem = SafeName.problem(with: tag, what: "\(line): tag") { throw RegistryError.invalid(problem) } }
            if let group = device.group, let problem = SafeName.problem(with: group, what: "\(line): group") { throw RegistryError.invalid(problem) }
            guard let raw = Base64.decode(device.publicKey, limit: 32), (try? Ed25519PublicKey(raw: raw)) != nil else {
                throw RegistryError.invalid("\(line): public_key must be the base64 of a raw 32-byte Ed25519 public key")
            }
            guard seen.insert(device.deviceID).inserted else { throw RegistryError.invalid("\(line): \(device.deviceID) is listed twice") }
        }
        let now = Timestamp.now()
        return try await db.write { db in
            for device in devices {
                if try db.value(Bool.self, "SELECT 1 FROM devices WHERE id = ? OR public_key = ?", [device.deviceID, device.publicKey]) == true {
                    throw RegistryError.conflict("\(device.deviceID) (or its key) is already registered")
                }
                try db.execute("""
                    INSERT INTO preauthorized_devices (device_id, public_key, hardware, tags, group_name, created_at, created_by)
                    VALUES (?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT (device_id) DO UPDATE SET public_key = excluded.public_key, hardware = excluded.hardware,
                        tags = excluded.tags, group_name = excluded.group_name
                    """, [device.deviceID, device.publicKey, device.hardware, JSONColumn.encode(device.tags ?? []), device.group,
                                     now, caller.actor])
            }
            try AuditLog.record(db, by: caller, action: "device.import", target: "\(devices.count) devices",
                                detail: devices.prefix(5).map(\.deviceID).joined(separator: ", ") + (devices.count > 5 ? ", ..." : ""))
            return devices.count
        }
    }
}
