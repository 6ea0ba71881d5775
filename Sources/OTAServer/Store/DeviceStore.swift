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
    func allIdentities() async throws -> (bearer: [String: DeviceIdentity], keyed: [String: (identity: DeviceIdentity, epoch: String)]) {
        try await db.read { db in
            var tags: [String: Set<String>] = [:]
            try db.forEachRow("SELECT device_id, tag FROM device_tags", []) { row in
                tags[row.string("device_id"), default: []].insert(row.string("tag"))
            }
            var bearer: [String: DeviceIdentity] = [:]
            var keyed: [String: (identity: DeviceIdentity, epoch: String)] = [:]
            try db.forEachRow("SELECT id, token_hash, hardware, group_name, public_key, session_epoch FROM devices WHERE status = 'accepted'", []) { row in
                let id = row.string("id")
                let identity = DeviceIdentity(id: id, hardware: row.string("hardware"), tags: tags[id] ?? [], group: row.optionalString("group_name"))
                if row.optionalString("public_key") == nil {
                    bearer[row.string("token_hash")] = identity
                } else {
                    keyed[id] = (identity, row.string("session_epoch"))
                }
            }
            return (bearer, keyed)
        }
    }

    func identity(tokenHash: String) async throws -> DeviceIdentity? {
        try await db.read { db in
            guard let row = try db.row("SELECT id, hardware, group_name FROM devices WHERE token_hash = ? AND public_key IS NULL AND status = 'accepted'",
                                       [tokenHash]) else { return nil }
            return try Self.identity(db, row: row)
        }
    }

    func identity(id: String) async throws -> DeviceIdentity? {
        try await db.read { db in
            guard let row = try db.row("SELECT id, hardware, group_name FROM devices WHERE id = ?", [id]) else { return nil }
            return try Self.identity(db, row: row)
        }
    }

    static func identity(_ db: any SQLTransaction, row: SQLRow) throws -> DeviceIdentity {
        let id = row.string("id")
        let tags = try db.values(String.self, "SELECT tag FROM device_tags WHERE device_id = ?", [id])
        return DeviceIdentity(id: id, hardware: row.string("hardware"), tags: Set(tags), group: row.optionalString("group_name"))
    }

    // MARK: The fleet listing

    public struct Filter: Sendable {
        var hardware: String?
        var tag: String?
        var group: String?
        var bundle: String?
        var version: String?
        var state: String?
        var seenBefore: Int64?
        var seenAfter: Int64?
        var idPrefix: String?
        var status: DeviceAPI.DeviceStatus?
        /// Only devices whose last trust report is stale (`TrustReport.isStale`).
        var staleTrust = false
        var cursor: String?
        var limit = 100
    }

    func list(_ filter: Filter) async throws -> AdminAPI.DevicePage {
        var conditions: [String] = []
        var arguments: [any SQLBindable] = []
        func add(_ sql: String, _ values: any SQLBindable...) {
            conditions.append(sql)
            arguments += values
        }
        if let value = filter.hardware { add("d.hardware = ?", value) }
        if let value = filter.group { add("d.group_name = ?", value) }
        if let value = filter.state { add("d.state = ?", value) }
        if let value = filter.status { add("d.status = ?", value.rawValue) }
        if let value = filter.tag { add("EXISTS (SELECT 1 FROM device_tags t WHERE t.device_id = d.id AND t.tag = ?)", value) }
        if let bundle = filter.bundle {
            if let version = filter.version {
                add("EXISTS (SELECT 1 FROM installed i WHERE i.device_id = d.id AND i.bundle_name = ? AND i.version = ?)", bundle, version)
            } else {
                add("EXISTS (SELECT 1 FROM installed i WHERE i.device_id = d.id AND i.bundle_name = ?)", bundle)
            }
        } else if let version = filter.version {
            add("EXISTS (SELECT 1 FROM installed i WHERE i.device_id = d.id AND i.version = ?)", version)
        }
        if let value = filter.seenBefore { add("(d.last_seen IS NULL OR d.last_seen < ?)", value) }
        if let value = filter.seenAfter { add("d.last_seen >= ?", value) }
        if filter.staleTrust { add(Self.staleTrustSQL(db.dialect), Timestamp.now()) }
        if let prefix = filter.idPrefix { add("d.id >= ? AND d.id < ?", prefix, prefix + "\u{10FFFF}") }
        if let cursor = filter.cursor { add("d.id > ?", cursor) }
        let whereClause = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
        arguments += [filter.limit + 1]
        let sql = "SELECT d.* FROM devices d \(whereClause) ORDER BY d.id LIMIT ?"
        let frozenArguments = arguments.map(\.sqlValue)
        let limit = filter.limit
        return try await db.read { db in
            let rows = try db.rows(sql, frozenArguments)
            let page = Array(rows.prefix(limit))
            let devices = try Self.devices(db, rows: page)
            return AdminAPI.DevicePage(devices: devices, nextCursor: rows.count > limit ? page.last.map { $0.string("id") } : nil)
        }
    }

    /// Full device records for `rows`, with their tags and installed bundles in two queries.
    static func devices(_ db: any SQLTransaction, rows: [SQLRow]) throws -> [AdminAPI.Device] {
        let ids = rows.map { $0.string("id") }
        guard !ids.isEmpty else { return [] }
        let list = placeholders(ids.count)
        var tags: [String: [String]] = [:]
        for row in try db.rows("SELECT device_id, tag FROM device_tags WHERE device_id IN (\(list)) ORDER BY tag", ids) {
            tags[row.string("device_id"), default: []].append(row.string("tag"))
        }
        var installed: [String: [DeviceAPI.InstalledBundle]] = [:]
        for row in try db.rows("SELECT * FROM installed WHERE device_id IN (\(list)) ORDER BY bundle_name", ids) {
            installed[row.string("device_id"), default: []].append(
                .init(name: row.string("bundle_name"), version: row.string("version"), digest: row.string("digest"), state: row["state"]))
        }
        return rows.map { row in
            let id = row.string("id")
            return AdminAPI.Device(
                id: id, hardware: row.string("hardware"), tags: tags[id] ?? [], group: row.optionalString("group_name"),
                attributes: row.json("attributes", as: [String: String].self), registeredAt: row.string("registered_at"),
                lastSeen: (row["last_seen"] as Int64?).map { Timestamp.format(secondsSinceEpoch: $0) },
                state: row.string("state"), installed: installed[id] ?? [],
                status: DeviceAPI.DeviceStatus(rawValue: row.string("status")) ?? .pending,
                keyID: row.optionalString("public_key").flatMap { Base64.decode($0, limit: 32) }.map { SHA256Digest.of($0).hex },
                trust: row.optionalString("trust").flatMap { try? StrictJSON.decode(DeviceAPI.TrustReport.self, from: Array($0.utf8), what: "trust") },
                now: Timestamp.epochSeconds())
        }
    }

    /// `TrustReport.isStale` in SQL, for a time `?`. Expiry times are stored in one form
    /// (`Fleet.checkin` normalises them), so comparing the text compares the times.
    static func staleTrustSQL(_ dialect: SQLDialect) -> String {
        let problem = dialect.jsonText("d.trust", "problem"), root = dialect.jsonNumber("d.trust", "root_version")
        let expires = dialect.jsonText("d.trust", "targets_expires")
        return "(d.trust IS NOT NULL AND (\(problem) IS NOT NULL OR (\(root) > 0 AND (\(expires) IS NULL OR \(expires) <= ?))))"
    }

    /// Accepted devices whose last trust report is stale.
    func staleTrustCount(now: Int64) async throws -> Int {
        try await db.read { db in
            try db.value(Int.self, "SELECT count(*) FROM devices d WHERE d.status = 'accepted' AND \(Self.staleTrustSQL(db.dialect))",
                             [Timestamp.format(secondsSinceEpoch: now)]) ?? 0
        }
    }

    func detail(id: String, eventLimit: Int = 200) async throws -> AdminAPI.DeviceDetail? {
        try await db.read { db in
            guard let row = try db.row("SELECT * FROM devices WHERE id = ?", [id]) else { return nil }
            let device = try Self.devices(db, rows: [row])[0]
            let events = try db.rows("SELECT * FROM events WHERE device_id = ? ORDER BY id DESC LIMIT ?",
                                          [id, eventLimit]).map(EventStore.record)
            return AdminAPI.DeviceDetail(device: device, events: events)
        }
    }

    func update(id: String, _ request: AdminAPI.DeviceUpdateRequest, by caller: AdminIdentity) async throws -> Bool {
        for tag in request.tags ?? [] {
            if let problem = SafeName.problem(with: tag, what: "tag") { throw RegistryError.invalid(problem) }
        }
        if let group = request.group, !group.isEmpty, let problem = SafeName.problem(with: group, what: "group") {
            throw RegistryError.invalid(problem)
        }
        return try await db.write { db in
            guard try db.value(Bool.self, "SELECT 1 FROM devices WHERE id = ?", [id]) == true else { return false }
            if let tags = request.tags {
                try db.execute("DELETE FROM device_tags WHERE device_id = ?", [id])
                for tag in Set(tags).sorted() {
                    try db.execute("INSERT INTO device_tags (device_id, tag) VALUES (?, ?)", [id, tag])
                }
            }
            if let group = request.group {
                try db.execute("UPDATE devices SET group_name = ? WHERE id = ?", [group.isEmpty ? nil : group, id])
            }
            try AuditLog.record(db, by: caller, action: "device.update", target: id,
                                detail: "tags \(request.tags.map { $0.joined(separator: ",") } ?? "unchanged"), group \(request.group ?? "unchanged")")
            return true
        }
    }

    func delete(id: String, by caller: AdminIdentity) async throws -> Bool {
        try await db.write { db in
            guard try db.execute("DELETE FROM devices WHERE id = ?", [id]) > 0 else { return false }
            try AuditLog.record(db, by: caller, action: "device.delete", target: id)
            return true
        }
    }

    // MARK: Batched check-in writes

    /// What check-ins changed since the last flush.
    struct CheckinBatch: Sendable {
        var lastSeen: [String: Int64] = [:]
        var installed: [String: [DeviceAPI.InstalledBundle]] = [:]
        var attributes: [String: [String: String]] = [:]
        var trust: [String: DeviceAPI.TrustReport] = [:]

        var isEmpty: Bool { lastSeen.isEmpty && installed.isEmpty && attributes.isEmpty && trust.isEmpty }
    }

    /// Whether the device's last check-in that reached the database said it runs this.
    func runs(deviceID: String, bundleName: String, version: String, digest: String) async throws -> Bool {
        try await db.read { db in
            try db.value(Bool.self, "SELECT 1 FROM installed WHERE device_id = ? AND bundle_name = ? AND version = ? AND digest = ?",
                         [deviceID, bundleName, version, digest]) ?? false
        }
    }

    /// Writes a batch in one transaction, a few hundred rows per statement: no fsync per
    /// check-in, and few round trips to PostgreSQL while the write lock is held.
    func write(_ batch: CheckinBatch) async throws {
        guard !batch.isEmpty else { return }
        let now = Timestamp.now()
        try await db.write { db in
            try Self.update(db, "last_seen", batch.lastSeen.map { [$0.key, $0.value] })
            try Self.update(db, "attributes", batch.attributes.map { [$0.key, JSONColumn.encode($0.value)] })
            try Self.update(db, "trust", batch.trust.map { [$0.key, JSONColumn.encode($0.value)] })
            let devices = Array(batch.installed.keys)
            // 100 devices of up to 64 bundles stay under both backends' placeholder limits.
            for chunk in SQLRows.chunks(devices, size: 100) {
                // What a device no longer runs goes; then what it runs is written where it changed.
                let keep = chunk.flatMap { id in batch.installed[id]!.map { [id, $0.name] as [any SQLBindable] } }
                if keep.isEmpty {
                    try db.execute("DELETE FROM installed WHERE device_id IN (\(placeholders(chunk.count)))", chunk)
                } else {
                    try db.execute("""
                        DELETE FROM installed WHERE device_id IN (\(placeholders(chunk.count))) AND NOT EXISTS (
                            SELECT 1 FROM (VALUES \(SQLRows.values(keep.count, columns: 2))) AS k
                            WHERE k.column1 = installed.device_id AND k.column2 = installed.bundle_name)
                        """, chunk + keep.flatMap { $0 })
                }
                let rows = chunk.flatMap { id in batch.installed[id]!.map { [id, $0.name, $0.version, $0.digest, $0.state] as [any SQLBindable] } }
                // A device deleted since its check-in is skipped (its rows would break the foreign key).
                for rows in SQLRows.chunks(rows, size: 2_000) {
                    try db.execute("""
                        INSERT INTO installed (device_id, bundle_name, version, digest, state, updated_at)
                        SELECT v.column1, v.column2, v.column3, v.column4, v.column5, ? FROM (VALUES \(SQLRows.values(rows.count, columns: 5))) AS v
                        JOIN devices d ON d.id = v.column1 WHERE true
                        ON CONFLICT (device_id, bundle_name) DO UPDATE SET version = excluded.version, digest = excluded.digest,
                            state = excluded.state, updated_at = excluded.updated_at
                        WHERE installed.version IS DISTINCT FROM excluded.version OR installed.digest IS DISTINCT FROM excluded.digest
                            OR installed.state IS DISTINCT FROM excluded.state
                        """, [now] + rows.flatMap { $0 })
                }
            }
        }
    }

    /// Sets one column of many devices: `rows` are (id, value) pairs.
    private static func update(_ db: any SQLTransaction, _ column: String, _ rows: [[any SQLBindable]]) throws {
        for chunk in SQLRows.chunks(rows) {
            try db.execute("""
                UPDATE devices SET \(column) = v.column2 FROM (VALUES \(SQLRows.values(chunk.count, columns: 2))) AS v WHERE devices.id = v.column1
                """, chunk.flatMap { $0 })
        }
    }
}
