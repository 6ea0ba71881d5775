import OTACore

/// Admin-API tokens and enrollment tokens. Secrets leave the server once, at creation.
public struct TokenStore: Sendable {
    let db: any SQLDatabase

    init(db: any SQLDatabase) { self.db = db }

    public struct AdminToken: Sendable, Equatable {
        public let id: String
        public let name: String
        public let role: AdminAPI.Role
        public let createdAt: String
        public let revoked: Bool
    }

    /// Creates an admin-API token and returns its secret (shown once).
    public func createAdminToken(role: AdminAPI.Role, name: String, expiresInSeconds: Int? = nil) throws -> (id: String, secret: String) {
        let (secret, hash) = Secret.make(prefix: Secret.adminPrefix)
        let id = Secret.newID("tok_")
        let expires = expiresInSeconds.map { Timestamp.epochSeconds() + Int64($0) }
        try db.writeBlocking { db in
            try db.execute("INSERT INTO admin_tokens (id, token_hash, role, name, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)",
                           [id, hash, role.rawValue, name, Timestamp.now(), expires])
            try AuditLog.recordSystem(db, action: "token.create", target: id,
                                      detail: "role \(role.rawValue), name \(name), expires \(expires.map { Timestamp.format(secondsSinceEpoch: $0) } ?? "never")")
        }
        return (id, secret)
    }

    public func listAdminTokens() throws -> [AdminToken] {
        try db.readBlocking { db in
            try db.rows("SELECT * FROM admin_tokens ORDER BY created_at, id").map {
                AdminToken(id: $0.string("id"), name: $0.string("name"), role: AdminAPI.Role(rawValue: $0.string("role")) ?? .viewer,
                           createdAt: $0.string("created_at"), revoked: $0.optionalString("revoked_at") != nil)
            }
        }
    }

    /// Revokes an admin token; false when no such token exists.
    public func revokeAdminToken(id: String) throws -> Bool {
        try db.writeBlocking { db in
            let changed = try db.execute("UPDATE admin_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", [Timestamp.now(), id]) > 0
            if changed { try AuditLog.recordSystem(db, action: "token.revoke", target: id, detail: "") }
            return changed
        }
    }

    func adminIdentity(secretHash: String) async throws -> AdminIdentity? {
        try await db.read { db in
            guard let row = try db.row("""
                SELECT id, name, role FROM admin_tokens WHERE token_hash = ? AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?)
                """, [secretHash, Timestamp.epochSeconds()]),
                  let role = AdminAPI.Role(rawValue: row.string("role")) else { return nil }
            return AdminIdentity(tokenID: row.string("id"), name: row.string("name"), role: role)
        }
    }

    // MARK: Enrollment tokens

    func createEnrollmentToken(_ request: AdminAPI.EnrollmentTokenCreateRequest, by caller: AdminIdentity) async throws -> AdminAPI.EnrollmentToken {
        let (secret, hash) = Secret.make(prefix: Secret.enrollmentPrefix)
        let id = Secret.newID("enr_")
        let now = Timestamp.now()
        // Limited unless said otherwise: one device, for a day, waiting for an operator.
        let maxUses = request.maxUses ?? AdminAPI.EnrollmentTokenCreateRequest.defaultMaxUses
        let expires = Timestamp.epochSeconds() + Int64(request.expiresInSeconds ?? AdminAPI.EnrollmentTokenCreateRequest.defaultLifetimeSeconds)
        let autoAccept = request.autoAccept ?? false
        let name = request.name ?? id
        let tags = request.tags ?? []
        try await db.write { db in
            try db.execute("""
                INSERT INTO enrollment_tokens (id, token_hash, name, max_uses, expires_at, tags, group_name, created_at, created_by,
                                               hardware, id_prefix, auto_accept)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, [id, hash, name, maxUses, expires, JSONColumn.encode(tags), request.group, now, caller.actor,
                                 request.hardware, request.idPrefix, autoAccept ? 1 : 0])
            try AuditLog.record(db, by: caller, action: "enrollment_token.create", target: id,
                                detail: "max_uses \(maxUses), expires \(Timestamp.format(secondsSinceEpoch: expires)), \(autoAccept ? "auto-accept" : "devices wait for acceptance")")
        }
        return AdminAPI.EnrollmentToken(id: id, name: name, maxUses: maxUses, uses: 0, expiresAt: Timestamp.format(secondsSinceEpoch: expires),
                                        revoked: false, tags: tags, group: request.group, hardware: request.hardware,
                                        idPrefix: request.idPrefix, autoAccept: autoAccept, createdAt: now, token: secret)
    }

    func listEnrollmentTokens() async throws -> [AdminAPI.EnrollmentToken] {
        try await db.read { db in
            try db.rows("SELECT * FROM enrollment_tokens ORDER BY created_at DESC, id").map { row in
                AdminAPI.EnrollmentToken(
                    id: row.string("id"), name: row.string("name"), maxUses: row["max_uses"], uses: row.int("uses"),
                    expiresAt: (row["expires_at"] as Int64?).map { Timestamp.format(secondsSinceEpoch: $0) },
                    revoked: row.optionalString("revoked_at") != nil, tags: row.json("tags", as: [String].self),
                    group: row.optionalString("group_name"), hardware: row.optionalString("hardware"),
                    idPrefix: row.optionalString("id_prefix"), autoAccept: row.int("auto_accept") != 0, createdAt: row.string("created_at"))
            }
        }
    }

    func revokeEnrollmentToken(id: String, by caller: AdminIdentity) async throws -> Bool {
        try await db.write { db in
            guard try db.execute("UPDATE enrollment_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                           [Timestamp.now(), id]) > 0 else { return false }
            try AuditLog.record(db, by: caller, action: "enrollment_token.revoke", target: id)
            return true
        }
    }
}
