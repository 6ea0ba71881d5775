import Foundation
import Logging
@testable import OTAServer
import TestSupport
import Testing

/// The two backends' migrations (migrations/*.sql and migrations/postgres/*.sql) are written
/// twice; this holds them to one schema: the same tables, the same columns with the same
/// types (through the type map below), nullability and primary keys, and the same unique
/// constraints and foreign keys. Run in the PostgreSQL pass (scripts/test-postgres.sh).
@Suite("Schema parity of SQLite and PostgreSQL", .tags(.database), .enabled(if: TestServer.postgres != nil, "needs OTA_TEST_POSTGRES"))
struct SchemaParityTests {
    /// A column as both backends can state it.
    struct Column: Hashable, CustomStringConvertible {
        let table: String, name: String, type: String, notNull: Bool
        var description: String { "\(table).\(name) \(type)\(notNull ? " NOT NULL" : "")" }
    }

    /// The type map: SQLite's declared types and PostgreSQL's, each to one word.
    static func type(_ declared: String) -> String {
        switch declared.lowercased() {
        case "integer", "int", "bigint", "smallint": return "integer"
        case "text", "character varying", "varchar": return "text"
        case "real", "double precision", "double": return "real"
        case "blob", "bytea": return "blob"
        case "boolean": return "integer" // SQLite keeps booleans as 0 and 1
        default: return "unmapped(\(declared))"
        }
    }

    /// Tables of each backend's own bookkeeping, not the registry's.
    static let ownTables: Set<String> = ["grdb_migrations", "schema_migrations", "sqlite_sequence"]

    struct Schema: Equatable {
        var columns: Set<Column> = []
        /// "table(columns)" for every primary key and unique constraint or index ("… partial" for
    /// a unique index with a WHERE clause).
        var keys: Set<String> = []
        /// "table(columns) -> table(columns)".
        var foreignKeys: Set<String> = []
    }

    static func sqliteSchema(_ db: any SQLDatabase) async throws -> Schema {
        try await db.read { sql in
            var schema = Schema()
            let tables = try await sql.values(String.self, "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
            for table in tables where !ownTables.contains(table) {
                var primary: [(Int, String)] = []
                for row in try await sql.rows("SELECT name, type, \"notnull\" AS required, pk FROM pragma_table_info(\(table))") {
                    let name: String = try row["name"], key: Int = try row["pk"]
                    // SQLite lets a primary key column be NULL unless it says NOT NULL; PostgreSQL never does.
                    schema.columns.insert(Column(table: table, name: name, type: type(try row["type"]), notNull: try row["required"] as Int == 1 || key > 0))
                    if key > 0 { primary.append((key, name)) }
                }
                if !primary.isEmpty { schema.keys.insert("\(table)(\(primary.sorted { $0.0 < $1.0 }.map(\.1).joined(separator: ",")))") }
                for index in try await sql.rows("SELECT name, partial FROM pragma_index_list(\(table)) WHERE \"unique\" = 1 AND origin != 'pk'") {
                    let columns = try await sql.values(String.self, "SELECT name FROM pragma_index_info(\(try index["name"] as String)) ORDER BY seqno")
                    schema.keys.insert("\(table)(\(columns.joined(separator: ",")))\(try index["partial"] as Int == 1 ? " partial" : "")")
                }
                var references: [Int: (String, [String], [String])] = [:]
                for row in try await sql.rows("SELECT id, \"table\" AS target, \"from\" AS source, \"to\" AS referenced FROM pragma_foreign_key_list(\(table)) ORDER BY id, seq") {
                    let id: Int = try row["id"]
                    let target: String = try row["target"], source: String = try row["source"]
                    // Every reference in the migrations names its column.
                    let referenced: String = try row["referenced"]
                    var entry = references[id] ?? (target, [], [])
                    entry.1.append(source)
                    entry.2.append(referenced)
                    references[id] = entry
                }
                for (target, source, referenced) in references.values {
                    schema.foreignKeys.insert("\(table)(\(source.joined(separator: ","))) -> \(target)(\(referenced.joined(separator: ",")))")
                }
            }
            return schema
        }
    }

    static func postgresSchema(_ db: any SQLDatabase) async throws -> Schema {
        try await db.read { sql in
            var schema = Schema()
            for row in try await sql.rows("""
                SELECT table_name::text AS table_name, column_name::text AS column_name, data_type::text AS data_type,
                       is_nullable::text AS is_nullable FROM information_schema.columns
                WHERE table_schema = 'public'
                """) {
                let table: String = try row["table_name"]
                guard !ownTables.contains(table) else { continue }
                schema.columns.insert(Column(table: table, name: try row["column_name"], type: type(try row["data_type"]),
                                             notNull: try row["is_nullable"] as String == "NO"))
            }
            // Primary keys and unique constraints, and unique indexes made without a constraint.
            for row in try await sql.rows("""
                SELECT t.relname::text AS table_name, string_agg(a.attname::text, ',' ORDER BY k.ordinality) AS columns,
                       bool_or(i.indpred IS NOT NULL) AS partial
                FROM pg_index i
                JOIN pg_class t ON t.oid = i.indrelid
                JOIN pg_namespace n ON n.oid = t.relnamespace AND n.nspname = 'public'
                CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ordinality)
                JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum
                WHERE i.indisunique
                GROUP BY t.relname, i.indexrelid
                """) {
                let table: String = try row["table_name"]
                guard !ownTables.contains(table) else { continue }
                schema.keys.insert("\(table)(\(try row["columns"] as String))\(try row["partial"] as Bool ? " partial" : "")")
            }
            for row in try await sql.rows("""
                SELECT c.conrelid::regclass::text AS table_name, c.confrelid::regclass::text AS target,
                       (SELECT string_agg(a.attname::text, ',' ORDER BY k.n) FROM unnest(c.conkey) WITH ORDINALITY AS k(attnum, n)
                        JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum) AS source,
                       (SELECT string_agg(a.attname::text, ',' ORDER BY k.n) FROM unnest(c.confkey) WITH ORDINALITY AS k(attnum, n)
                        JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.attnum) AS referenced
                FROM pg_constraint c WHERE c.contype = 'f'
                """) {
                schema.foreignKeys.insert("\(try row["table_name"] as String)(\(try row["source"] as String)) -> \(try row["target"] as String)(\(try row["referenced"] as String))")
            }
            return schema
        }
    }

    @Test("Both backends' migrations make the same tables, columns, types, keys and constraints")
    func schemasMatch() async throws {
        let dir = TemporaryDirectory("ota-schema")
        let (sqlite, _) = try await StoreBackendTests.open("sqlite", in: dir)
        let (postgres, _) = try await StoreBackendTests.open("postgres", in: dir)
        let lite = try await Self.sqliteSchema(sqlite)
        let pg = try await Self.postgresSchema(postgres)
        await sqlite.close()
        await postgres.close()
        #expect(lite.columns.count > 50, "the SQLite schema was read: \(lite.columns.count) columns")
        #expect(lite.columns.filter { $0.type.hasPrefix("unmapped") }.isEmpty && pg.columns.filter { $0.type.hasPrefix("unmapped") }.isEmpty,
                "a type outside the map: \(lite.columns.union(pg.columns).filter { $0.type.hasPrefix("unmapped") })")
        #expect(lite.columns.subtracting(pg.columns).sorted { $0.description < $1.description }.map(\.description) == [],
                "only in SQLite; PostgreSQL has: \(pg.columns.subtracting(lite.columns).sorted { $0.description < $1.description }.map(\.description))")
        #expect(lite.keys.symmetricDifference(pg.keys).sorted() == [], "SQLite keys: \(lite.keys.subtracting(pg.keys).sorted()); PostgreSQL keys: \(pg.keys.subtracting(lite.keys).sorted())")
        #expect(lite.foreignKeys.symmetricDifference(pg.foreignKeys).sorted() == [],
                "SQLite: \(lite.foreignKeys.subtracting(pg.foreignKeys).sorted()); PostgreSQL: \(pg.foreignKeys.subtracting(lite.foreignKeys).sorted())")
    }
}
