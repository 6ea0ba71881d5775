import OTACore

/// Devices: lookup, the fleet listing with filters, and the batched writes of check-ins.
/// Registration, keys and acceptance are in DeviceEnrollment.swift.
public struct DeviceStore: Sendable {
    let db: any SQLDatabase

    init(db: any SQLDatabase) { self.db = db }

    /// Every device's identity by token hash, to answer check-ins from memory from the start
    /// (rather than a database read per device after a restart).
    /// Accepted devices: those on bearer tokens by token hash, those with keys by id with
    /// their session epoch.
    func allIdentities() async throws -> (bearer: [String: DeviceIdentity], keyed: [DeviceID: (identity: DeviceIdentity, epoch: String)]) {
        try await db.read { db in
            var tags: [DeviceID: Set<Tag>] = [:]
            try await db.forEachRow("SELECT device_id, tag FROM device_tags") { row in
                tags[try row["device_id"], default: []].insert(try row["tag"])
            }
            var bearer: [String: DeviceIdentity] = [:]
            var keyed: [DeviceID: (identity: DeviceIdentity, epoch: String)] = [:]
            try await db.forEachRow("SELECT id, token_hash, hardware, group_name, public_key, session_epoch, protocol, inventory FROM devices WHERE status = 'accepted'") { row in
                let id: DeviceID = try row["id"]
                let identity = DeviceIdentity(id: id, hardware: try row["hardware"], tags: tags[id] ?? [], group: try row["group_name"],
                                              protocol: try row["protocol"], inventory: try Self.inventory(row))
                if try row.optionalString("public_key") == nil {
                    bearer[try row.string("token_hash")] = identity
                } else {
                    keyed[id] = (identity, try row.string("session_epoch"))
                }
            }
            return (bearer, keyed)
        }
    }

    func identity(tokenHash: String) async throws -> DeviceIdentity? {
        try await db.read { db in
            guard let row = try await db.row("SELECT id, hardware, group_name, protocol, inventory FROM devices WHERE token_hash = \(tokenHash) AND public_key IS NULL AND status = 'accepted'")
            else { return nil }
            return try await Self.identity(db, row: row)
        }
    }

    func identity(id: DeviceID) async throws -> DeviceIdentity? {
        try await db.read { db in
            guard let row = try await db.row("SELECT id, hardware, group_name, protocol, inventory FROM devices WHERE id = \(id)") else { return nil }
            return try await Self.identity(db, row: row)
        }
    }

    static func identity(_ db: any SQLTransaction, row: SQLRow) async throws -> DeviceIdentity {
        let id: DeviceID = try row["id"]
        let tags = try await db.values(Tag.self, "SELECT tag FROM device_tags WHERE device_id = \(id)")
        return DeviceIdentity(id: id, hardware: try row["hardware"], tags: Set(tags), group: try row["group_name"], protocol: try row["protocol"],
                              inventory: try inventory(row))
    }

    /// The inventory column: the device's word, so one that no longer decodes (written by a
    /// later version, say) reads as none rather than failing the device's requests.
    static func inventory(_ row: SQLRow) throws -> DeviceInventory? {
        try row.optionalString("inventory").flatMap { try? StrictJSON.decode(DeviceInventory.self, from: Array($0.utf8), what: "inventory") }
    }

    // MARK: The fleet listing

    public struct Filter: Sendable {
        var hardware: HardwareClass?
        var tag: Tag?
        var group: GroupName?
        var bundle: BundleName?
        var version: SemanticVersion?
        var state: DeviceUpdateState?
        var seenBefore: Timestamp?
        var seenAfter: Timestamp?
        var idPrefix: DeviceIDPrefix?
        var status: DeviceAPI.DeviceStatus?
        /// Only devices whose last trust report is stale (`TrustReport.isStale`).
        var staleTrust = false
        var cursor: String?
        var limit = 100
    }

    func list(_ filter: Filter) async throws -> AdminAPI.DevicePage {
        var conditions: [SQLQuery] = []
        if let value = filter.hardware { conditions.append("d.hardware = \(value)") }
        if let value = filter.group { conditions.append("d.group_name = \(value)") }
        if let value = filter.state { conditions.append("d.state = \(value)") }
        if let value = filter.status { conditions.append("d.status = \(value)") }
        if let value = filter.tag { conditions.append("EXISTS (SELECT 1 FROM device_tags t WHERE t.device_id = d.id AND t.tag = \(value))") }
        switch (filter.bundle, filter.version) {
        case (let bundle?, let version?):
            conditions.append("EXISTS (SELECT 1 FROM installed i WHERE i.device_id = d.id AND i.bundle_name = \(bundle) AND i.version = \(version))")
        case (let bundle?, nil):
            conditions.append("EXISTS (SELECT 1 FROM installed i WHERE i.device_id = d.id AND i.bundle_name = \(bundle))")
        case (nil, let version?):
            conditions.append("EXISTS (SELECT 1 FROM installed i WHERE i.device_id = d.id AND i.version = \(version))")
        case (nil, nil): break
        }
        if let value = filter.seenBefore { conditions.append("(d.last_seen IS NULL OR d.last_seen < \(value.secondsSinceEpoch))") }
        if let value = filter.seenAfter { conditions.append("d.last_seen >= \(value.secondsSinceEpoch)") }
        if filter.staleTrust { conditions.append(Self.staleTrust(db.dialect, now: SystemClock().now)) }
        if let prefix = filter.idPrefix { conditions.append("d.id >= \(prefix.rawValue) AND d.id < \(prefix.rawValue + "\u{10FFFF}")") }
        if let cursor = filter.cursor { conditions.append("d.id > \(cursor)") }
        let whereClause: SQLQuery = conditions.isEmpty ? "" : "WHERE " + SQLQuery.joined(conditions, separator: " AND ")
        let limit = filter.limit
        let query: SQLQuery = "SELECT d.* FROM devices d \(whereClause) ORDER BY d.id LIMIT \(limit + 1)"
        return try await db.read { db in
            let rows = try await db.rows(query)
            let page = Array(rows.prefix(limit))
            let devices = try await Self.devices(db, rows: page)
            return AdminAPI.DevicePage(devices: devices, nextCursor: rows.count > limit ? try page.last.map { try $0.string("id") } : nil)
        }
    }

    /// Full device records for `rows`, with their tags and installed bundles in two queries.
    static func devices(_ db: any SQLTransaction, rows: [SQLRow]) async throws -> [AdminAPI.Device] {
        let ids: [DeviceID] = try rows.map { try $0["id"] }
        guard !ids.isEmpty else { return [] }
        var tags: [DeviceID: [Tag]] = [:]
        for row in try await db.rows("SELECT device_id, tag FROM device_tags WHERE device_id IN (\(list: ids)) ORDER BY tag") {
            tags[try row["device_id"], default: []].append(try row["tag"])
        }
        var installed: [DeviceID: [DeviceAPI.InstalledBundle]] = [:]
        for row in try await db.rows("SELECT * FROM installed WHERE device_id IN (\(list: ids)) ORDER BY bundle_name") {
            installed[try row["device_id"], default: []].append(
                .init(name: try row["bundle_name"], version: try row["version"], digest: try row["digest"], state: try row["state"],
                      variant: try row["variant"]))
        }
        let now = SystemClock().now
        return try rows.map { row in
            let id: DeviceID = try row["id"]
            // A trust report is the device's word: one that no longer decodes is shown as none.
            let trust = try row.optionalString("trust").flatMap { try? StrictJSON.decode(DeviceAPI.TrustReport.self, from: Array($0.utf8), what: "trust") }
            return AdminAPI.Device(
                id: id, hardware: try row["hardware"], tags: tags[id] ?? [], group: try row["group_name"],
                attributes: try row.json("attributes", as: [String: String].self), registeredAt: try row["registered_at"],
                lastSeen: try row["last_seen"], state: try row["state"], installed: installed[id] ?? [],
                status: try row["status"],
                keyID: try row.optionalString("public_key").flatMap { Base64.decode($0, limit: 32) }.map { SHA256Digest.of($0).hex },
                trust: trust, protocol: try row["protocol"], inventory: try Self.inventory(row), now: now)
        }
    }

    /// `TrustReport.isStale` in SQL, at `now`. Expiry times are stored in one form
    /// (`Fleet.checkin` normalises them), so comparing the text compares the times.
    static func staleTrust(_ dialect: SQLDialect, now: Timestamp) -> SQLQuery {
        let problem = dialect.jsonText("d.trust", "problem"), root = dialect.jsonNumber("d.trust", "root_version")
        let expires = dialect.jsonText("d.trust", "targets_expires")
        return "(d.trust IS NOT NULL AND (\(problem) IS NOT NULL OR (\(root) > 0 AND (\(expires) IS NULL OR \(expires) <= \(now)))))"
    }

    /// Accepted devices whose last trust report is stale.
    func staleTrustCount(now: Timestamp) async throws -> Int {
        try await db.read { db in
            try await db.value(Int.self, "SELECT count(*) FROM devices d WHERE d.status = 'accepted' AND \(Self.staleTrust(db.dialect, now: now))") ?? 0
        }
    }

    func detail(id: DeviceID, eventLimit: Int = 200) async throws -> AdminAPI.DeviceDetail? {
        try await db.read { db in
            guard let row = try await db.row("SELECT * FROM devices WHERE id = \(id)") else { return nil }
            let device = try await Self.devices(db, rows: [row])[0]
            let events = try await db.rows("SELECT * FROM events WHERE device_id = \(id) ORDER BY id DESC LIMIT \(eventLimit)").map(EventStore.record)
            return AdminAPI.DeviceDetail(device: device, events: events)
        }
    }

    func update(id: DeviceID, _ request: AdminAPI.DeviceUpdateRequest, by caller: AdminIdentity) async throws -> Bool {
        try await db.write { db in
            guard try await db.value(Bool.self, "SELECT 1 FROM devices WHERE id = \(id)") == true else { return false }
            if let tags = request.tags {
                try await db.execute("DELETE FROM device_tags WHERE device_id = \(id)")
                for tag in Set(tags).sorted() {
                    try await db.execute("INSERT INTO device_tags (device_id, tag) VALUES (\(id), \(tag))")
                }
            }
            if let change = request.group {
                try await db.execute("UPDATE devices SET group_name = \(change.group) WHERE id = \(id)")
            }
            try await AuditLog.record(db, by: caller, action: .deviceUpdate, target: id.rawValue,
                                detail: "tags \(request.tags.map { $0.joined(separator: ",") } ?? "unchanged"), group \(request.group.map { $0.group?.rawValue ?? "" } ?? "unchanged")")
            return true
        }
    }

    func delete(id: DeviceID, by caller: AdminIdentity) async throws -> Bool {
        try await db.write { db in
            guard try await db.execute("DELETE FROM devices WHERE id = \(id)") > 0 else { return false }
            try await AuditLog.record(db, by: caller, action: .deviceDelete, target: id.rawValue)
            return true
        }
    }
}
