import OTACore

/// Admin-API tokens and enrollment tokens. Secrets leave the server once, at creation.
public struct TokenStore: Sendable {
    let db: any SQLDatabase

    init(db: any SQLDatabase) { self.db = db }

    public struct AdminToken: Sendable, Equatable {
        public let id: TokenID
        public let name: String
        public let role: AdminAPI.Role
        public let createdAt: Timestamp
        public let revoked: Bool
    }

    /// Creates an admin-API token and returns its secret (shown once).
    public func createAdminToken(role: AdminAPI.Role, name: String, expiresInSeconds: Int? = nil) async throws -> (id: TokenID, secret: String) {
        let (secret, hash) = Secret.make(prefix: Secret.adminPrefix)
        let id = TokenID(checked: Secret.newID("tok_"))
        let now = SystemClock().now
        let expires = expiresInSeconds.map { now.adding(seconds: Int64($0)) }
        try await db.write { db in
            try await db.execute("INSERT INTO admin_tokens (id, token_hash, role, name, created_at, expires_at) VALUES (\(id), \(hash), \(role), \(name), \(now), \(expires?.secondsSinceEpoch))")
            try await AuditLog.recordSystem(db, action: .tokenCreate, target: id.rawValue,
                                      detail: "role \(role.rawValue), name \(name), expires \(expires?.rfc3339 ?? "never")")
        }
        return (id, secret)
    }

    public func listAdminTokens() async throws -> [AdminToken] {
        try await db.read { db in
            try await db.rows("SELECT * FROM admin_tokens ORDER BY created_at, id").map {
                AdminToken(id: try $0["id"], name: try $0.string("name"), role: try $0["role"],
                           createdAt: try $0["created_at"], revoked: try $0.optionalString("revoked_at") != nil)
            }
        }
    }

    /// Revokes an admin token; false when no such token exists.
    public func revokeAdminToken(id: TokenID) async throws -> Bool {
        try await db.write { db in
            let changed = try await db.execute("UPDATE admin_tokens SET revoked_at = \(SystemClock().now) WHERE id = \(id) AND revoked_at IS NULL") > 0
            if changed { try await AuditLog.recordSystem(db, action: .tokenRevoke, target: id.rawValue, detail: "") }
            return changed
        }
    }

    func adminIdentity(secretHash: String) async throws -> AdminIdentity? {
        // One statement on its own: read on every admin request.
        guard let row = try await db.row("""
            SELECT id, name, role FROM admin_tokens WHERE token_hash = \(secretHash) AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > \(SystemClock().now.secondsSinceEpoch))
            """) else { return nil }
        return AdminIdentity(tokenID: try row["id"], name: try row.string("name"), role: try row["role"])
    }

    // MARK: Enrollment tokens

    func createEnrollmentToken(_ request: AdminAPI.EnrollmentTokenCreateRequest, by caller: AdminIdentity) async throws -> AdminAPI.EnrollmentToken {
        let (secret, hash) = Secret.make(prefix: Secret.enrollmentPrefix)
        let id = TokenID(checked: Secret.newID("enr_"))
        let now = SystemClock().now
        // Limited unless said otherwise: one device, for a day, waiting for an operator.
        let maxUses = request.maxUses ?? AdminAPI.EnrollmentTokenCreateRequest.defaultMaxUses
        let expires = now.adding(seconds: Int64(request.expiresInSeconds ?? AdminAPI.EnrollmentTokenCreateRequest.defaultLifetimeSeconds))
        let autoAccept = request.autoAccept ?? false
        let name = request.name ?? id.rawValue
        let tags = request.tags ?? []
        try await db.write { db in
            try await db.execute("""
                INSERT INTO enrollment_tokens (id, token_hash, name, max_uses, expires_at, tags, group_name, created_at, created_by,
                                               hardware, id_prefix, auto_accept)
                VALUES (\(id), \(hash), \(name), \(maxUses), \(expires.secondsSinceEpoch), \(JSONColumn.encode(tags)), \(request.group), \(now), \(caller.actor), \(request.hardware), \(request.idPrefix), \(autoAccept ? 1 : 0))
                """)
            try await AuditLog.record(db, by: caller, action: .enrollmentTokenCreate, target: id.rawValue,
                                detail: "max_uses \(maxUses), expires \(expires), \(autoAccept ? "auto-accept" : "devices wait for acceptance")")
        }
        return AdminAPI.EnrollmentToken(id: id, name: name, maxUses: maxUses, uses: 0, expiresAt: expires,
                                        revoked: false, tags: tags, group: request.group, hardware: request.hardware,
                                        idPrefix: request.idPrefix, autoAccept: autoAccept, createdAt: now, token: secret)
    }

    func listEnrollmentTokens() async throws -> [AdminAPI.EnrollmentToken] {
        try await db.read { db in
            try await db.rows("SELECT * FROM enrollment_tokens ORDER BY created_at DESC, id").map { row in
                AdminAPI.EnrollmentToken(
                    id: try row["id"], name: try row.string("name"), maxUses: try row["max_uses"], uses: try row.int("uses"),
                    expiresAt: try row["expires_at"], revoked: try row.optionalString("revoked_at") != nil, tags: try row.json("tags", as: [Tag].self),
                    group: try row["group_name"], hardware: try row["hardware"], idPrefix: try row["id_prefix"],
                    autoAccept: try row.int("auto_accept") != 0, createdAt: try row["created_at"])
            }
        }
    }

    func revokeEnrollmentToken(id: TokenID, by caller: AdminIdentity) async throws -> Bool {
        try await db.write { db in
            guard try await db.execute("UPDATE enrollment_tokens SET revoked_at = \(SystemClock().now) WHERE id = \(id) AND revoked_at IS NULL") > 0 else { return false }
            try await AuditLog.record(db, by: caller, action: .enrollmentTokenRevoke, target: id.rawValue)
            return true
        }
    }
}
