import OTACore

/// Every admin action, written in the same transaction as the change it describes.
enum AuditLog {
    static func record(_ db: any SQLTransaction, by caller: AdminIdentity, action: AuditAction, target: String, detail: String = "") async throws {
        try await db.execute("INSERT INTO audit_log (at, actor, role, action, target, detail) VALUES (\(SystemClock().now), \(caller.actor), \(AuditRole(caller.role)), \(action), \(target), \(detail))")
    }

    /// Actions by the server itself (automatic pauses and phase advances).
    static func recordSystem(_ db: any SQLTransaction, action: AuditAction, target: String, detail: String) async throws {
        try await db.execute("INSERT INTO audit_log (at, actor, role, action, target, detail) VALUES (\(SystemClock().now), 'ota-server', \(AuditRole.system), \(action), \(target), \(detail))")
    }

    static func page(_ db: any SQLTransaction, before cursor: Int64?, limit: Int) async throws -> AdminAPI.AuditPage {
        let rows = try await db.rows("""
            SELECT * FROM audit_log WHERE id < \(cursor ?? Int64.max) ORDER BY id DESC LIMIT \(limit + 1)
            """)
        let entries = try rows.prefix(limit).map { row in
            AdminAPI.AuditEntry(id: try row.int64("id"), at: try row["at"], actor: try row.string("actor"), role: try row["role"],
                                action: try row["action"], target: try row.string("target"), detail: try row.string("detail"))
        }
        return AdminAPI.AuditPage(entries: Array(entries), nextCursor: rows.count > limit ? entries.last.map { String($0.id) } : nil)
    }
}
