import OTACore

/// Every admin action, written in the same transaction as the change it describes.
enum AuditLog {
    static func record(_ db: any SQLTransaction, by caller: AdminIdentity, action: String, target: String, detail: String = "") throws {
        try db.execute(
            "INSERT INTO audit_log (at, actor, role, action, target, detail) VALUES (?, ?, ?, ?, ?, ?)",
            [Timestamp.now(), caller.actor, caller.role.rawValue, action, target, detail])
    }

    /// Actions by the server itself (automatic pauses and phase advances).
    static func recordSystem(_ db: any SQLTransaction, action: String, target: String, detail: String) throws {
        try db.execute(
            "INSERT INTO audit_log (at, actor, role, action, target, detail) VALUES (?, 'ota-server', 'system', ?, ?, ?)",
            [Timestamp.now(), action, target, detail])
    }

    static func page(_ db: any SQLTransaction, before cursor: Int64?, limit: Int) throws -> AdminAPI.AuditPage {
        let rows = try db.rows("""
            SELECT * FROM audit_log WHERE id < ? ORDER BY id DESC LIMIT ?
            """, [cursor ?? Int64.max, limit + 1])
        let entries = rows.prefix(limit).map { row in
            AdminAPI.AuditEntry(id: row.int64("id"), at: row.string("at"), actor: row.string("actor"), role: row.string("role"),
                                action: row.string("action"), target: row.string("target"), detail: row.string("detail"))
        }
        return AdminAPI.AuditPage(entries: Array(entries), nextCursor: rows.count > limit ? entries.last.map { String($0.id) } : nil)
    }
}
