import GRDB
import OTACore

/// Admin-API tokens and enrollment tokens. Secrets leave the server once, at creation.
public struct TokenStore: Sendable {
    let db: DatabasePool

    public init(db: DatabasePool) { self.db = db }

    public struct AdminToken: Sendable, Equatable {
        public let id: String
        public let name: String
        public let role: AdminAPI.Role
        public let createdAt: String
        public let revoked: Bool
    }

    /// Creates an admin-API token and returns its secret (shown once).
    public func createAdminToken(role: AdminAPI.Role, name: String) throws -> (id: String, secret: String) {
        let (secret, hash) = Secret.make(prefix: Secret.adminPrefix)
        let id = Secret.newID("tok_")
        try db.write { db in
            try db.execute(sql: "INSERT INTO admin_tokens (id, token_hash, role, name, created_at) VALUES (?, ?, ?, ?, ?)",
                           arguments: [id, hash, role.rawValue, name, Timestamp.now()])
            try AuditLog.recordSystem(db, action: "token.create", target: id, detail: "role \(role.rawValue), name \(name)")
        }
        return (id, secret)
    }

    public func listAdminTokens() throws -> [AdminToken] {
        try db.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM admin_tokens ORDER BY created_at, id").map {
                AdminToken(id: $0.string("id"), name: $0.string("name"), role: AdminAPI.Role(rawValue: $0.string("role")) ?? .viewer,
                           createdAt: $0.string("created_at"), revoked: $0.optionalString("revoked_at") != nil)
            }
        }
    }

    /// Revokes an admin token; false when no such token exists.
    public func revokeAdminToken(id: String) throws -> Bool {
        try db.write { db in
            try db.execute(sql: "UPDATE admin_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", arguments: [Timestamp.now(), id])
            let changed = db.changesCount > 0
            if changed { try AuditLog.recordSystem(db, action: "token.revoke", target: id, detail: "") }
            return changed
        }
    }

    func adminIdentity(secretHash: String) async throws -> AdminIdentity? {
        try await db.read { db in
            let statement = try db.cachedStatement(sql: "SELECT id, name, role FROM admin_tokens WHERE token_hash = ? AND revoked_at IS NULL")
            guard let row = try Row.fetchOne(statement, arguments: [secretHash]),
                  let role = AdminAPI.Role(rawValue: row.string("role")) else { return nil }
            return AdminIdentity(tokenID: row.string("id"), name: row.string("name"), role: role)
        }
    }

    // MARK: Enrollment tokens

    func createEnrollmentToken(_ request: AdminAPI.EnrollmentTokenCreateRequest, by caller: AdminIdentity) async throws -> AdminAPI.EnrollmentToken {
        let (secret, hash) = Secret.make(prefix: Secret.enrollmentPrefix)
        let id = Secret.newID("enr_")
        let now = Timestamp.now()
        let expires = request.expiresInSeconds.map { Timestamp.epochSeconds() + Int64($0) }
        let name = request.name ?? id
        let tags = request.tags ?? []
        try await db.write { db in
            try db.execute(sql: """
                INSERT INTO enrollment_tokens (id, token_hash, name, max_uses, expires_at, tags, group_name, created_at, created_by)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, arguments: [id, hash, name, request.maxUses, expires, JSONColumn.encode(tags), request.group, now, caller.actor])
            try AuditLog.record(db, by: caller, action: "enrollment_token.create", target: id,
                                detail: "max_uses \(request.maxUses.map(String.init) ?? "unlimited"), expires \(expires.map { Timestamp.format(secondsSinceEpoch: $0) } ?? "never")")
        }
        return AdminAPI.EnrollmentToken(id: id, name: name, maxUses: request.maxUses, uses: 0,
                                        expiresAt: expires.map { Timestamp.format(secondsSinceEpoch: $0) }, revoked: false,
                                        tags: tags, group: request.group, createdAt: now, token: secret)
    }

    func listEnrollmentTokens() async throws -> [AdminAPI.EnrollmentToken] {
        try await db.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM enrollment_tokens ORDER BY created_at DESC, id").map { row in
                AdminAPI.EnrollmentToken(
                    id: row.string("id"), name: row.string("name"), maxUses: row["max_uses"], uses: row.int("uses"),
                    expiresAt: (row["expires_at"] as Int64?).map { Timestamp.format(secondsSinceEpoch: $0) },
                    revoked: row.optionalString("revoked_at") != nil, tags: row.json("tags", as: [String].self),
                    group: row.optionalString("group_name"), createdAt: row.string("created_at"))
            }
        }
    }

    func revokeEnrollmentToken(id: String, by caller: AdminIdentity) async throws -> Bool {
        try await db.write { db in
            try db.execute(sql: "UPDATE enrollment_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                           arguments: [Timestamp.now(), id])
            guard db.changesCount > 0 else { return false }
            try AuditLog.record(db, by: caller, action: "enrollment_token.revoke", target: id)
            return true
        }
    }
}
