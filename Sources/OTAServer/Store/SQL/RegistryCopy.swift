import Foundation
import Logging
import OTACore

/// `ota-server migrate-to`: copies a registry, table by table in one transaction, into an
/// empty database of the other backend (SQLite to PostgreSQL, the way a growing fleet moves).
/// The counters that triggers keep (installed versions, deployment progress and failure
/// reasons) are not copied but rebuilt by the target's triggers from the rows, and then
/// compared with the source's: a copy whose counts differ is rolled back.
public struct RegistryCopy {
    /// Every table, parents before children (foreign keys). A table the source has that is not
    /// listed here stops the copy: a newer schema needs a newer copier.
    static let tables = ["admin_tokens", "enrollment_tokens", "devices", "device_tags", "installed", "content", "bundles",
                         "bundle_files", "deployments", "deployment_devices", "events", "audit_log", "preauthorized_devices",
                         "server_secrets", "proof_nonces", "file_chunks", "model_reports", "trust_metadata", "artifact_digests"]
    /// Kept by triggers on the target; compared, not copied.
    static let counters = ["installed_counts": "bundle_name, version", "deployment_counts": "deployment_id, phase, state",
                           "deployment_failures": "deployment_id, reason"]
    /// The change feed between instances: not copied (nothing runs on the target yet), and
    /// what the target's triggers wrote into it during the copy is dropped.
    static let feed = ["registry_changes", "registry_change_horizon"]
    /// Tables with an integer id the target numbers itself, to be continued after the copy.
    static let numbered = ["bundles", "events", "audit_log"]

    public struct Report: Codable, Sendable {
        public var tables: [String: Int] = [:]
        public var seconds: Double = 0
    }

    public enum CopyError: Error, CustomStringConvertible {
        case notEmpty(String)
        case unknownTables([String])
        case countersDiffer(String)

        public var description: String {
            switch self {
            case .notEmpty(let table): return "the target database already holds a registry (table \(table) has rows); migrate into an empty database"
            case .unknownTables(let names): return "the source has tables this ota-server does not know (\(names.joined(separator: ", "))); use the ota-server that wrote it"
            case .countersDiffer(let table): return "after the copy, \(table) differs from the source's; nothing was committed"
            }
        }
    }

    let source: any SQLDatabase
    let target: any SQLDatabase

    /// Opens both (migrating the target's schema) and copies.
    public static func migrate(from: DatabaseSetting, to: DatabaseSetting,
                               progress: @escaping @Sendable (String, Int) -> Void = { _, _ in }) async throws -> Report {
        let logger = Logger(label: "ota-server.migrate-to")
        // The copy is one transaction on each side, as long as the registry needs: no deadline.
        let source = try await from.open(busyTimeout: 10, transactionDeadlineSeconds: nil, logger: logger)
        let target: any SQLDatabase
        do { target = try await to.open(busyTimeout: 10, transactionDeadlineSeconds: nil, logger: logger) } catch {
            await source.close()
            throw error
        }
        do {
            let report = try await RegistryCopy(source: source, target: target).run(progress: progress)
            await source.close()
            await target.close()
            return report
        } catch {
            await source.close()
            await target.close()
            throw error
        }
    }

    /// Copies everything, or nothing. `progress` hears each table as it is done.
    public func run(progress: @escaping @Sendable (String, Int) -> Void = { _, _ in }) async throws -> Report {
        let started = Date()
        let target = target
        var report = try await source.read { from in
            let present = Set(try await from.values(String.self, Self.tableNamesSQL(from.dialect)))
            let unknown = present.subtracting(Self.tables).subtracting(Self.counters.keys).subtracting(Self.feed)
                .subtracting(["grdb_migrations", "schema_migrations"])
            guard unknown.isEmpty else { throw CopyError.unknownTables(unknown.sorted()) }
            return try await target.write { to in
                var report = Report()
                for table in Self.tables + Self.counters.keys.sorted() where try await to.value(Bool.self, "SELECT 1 FROM \(raw: table) LIMIT 1") == true {
                    throw CopyError.notEmpty(table)
                }
                for table in Self.tables where present.contains(table) {
                    let copied = try await Self.copy(table, from: from, to: to)
                    report.tables[table] = copied
                    progress(table, copied)
                }
                try await to.execute("DELETE FROM registry_changes")
                for table in Self.numbered where to.dialect == .postgres {
                    try await to.execute("SELECT setval(pg_get_serial_sequence('\(raw: table)', 'id'), COALESCE((SELECT max(id) FROM \(raw: table)), 0) + 1, false)")
                }
                for (table, key) in Self.counters.sorted(by: { $0.key < $1.key }) {
                    let query: SQLQuery = "SELECT \(raw: key), count FROM \(raw: table) WHERE count > 0 ORDER BY \(raw: key)"
                    guard try await Self.text(from.rows(query)) == Self.text(to.rows(query)) else { throw CopyError.countersDiffer(table) }
                }
                return report
            }
        }
        report.seconds = Date().timeIntervalSince(started)
        return report
    }

    static func tableNamesSQL(_ dialect: SQLDialect) -> SQLQuery {
        switch dialect {
        case .sqlite: return "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        case .postgres: return "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
        }
    }

    /// Rows of `table` in batches of multi-row INSERTs (a round trip per row would take hours
    /// for a large fleet's events).
    static func copy(_ table: String, from: any SQLTransaction, to: any SQLTransaction) async throws -> Int {
        var batch: [SQLRow] = []
        var copied = 0
        func flush() async throws {
            guard let first = batch.first else { return }
            let columns = first.names.map { "\"\($0)\"" }.joined(separator: ", ")
            try await to.execute("INSERT INTO \(raw: table) (\(raw: columns)) VALUES \(rows: batch.map { $0.values as [any SQLBindable] })")
            copied += batch.count
            batch.removeAll(keepingCapacity: true)
        }
        try await from.forEachRow("SELECT * FROM \(raw: table)") { row in
            batch.append(row)
            if batch.count * row.names.count >= 20_000 { try await flush() }
        }
        try await flush()
        return copied
    }

    static func text(_ rows: [SQLRow]) -> [String] {
        rows.map { row in row.values.map { "\($0)" }.joined(separator: "|") }
    }
}
