import Foundation
import OTAClient
import OTACore
import TestSupport
import Testing

/// Moving a registry from SQLite to PostgreSQL with `ota-server migrate-to`. These run in the
/// PostgreSQL pass of `make test` (scripts/test-postgres.sh), which has a server to move to.
@Suite("Moving a registry to PostgreSQL", .enabled(if: TestServer.postgres != nil, "needs OTA_TEST_POSTGRES (scripts/test-postgres.sh)"), .tags(.database))
struct MigrateToTests {
    static let v1 = ["model.onnx": Array("weights-v1".utf8), "labels.txt": Array("0\n1\n".utf8)]
    static let v2 = ["model.onnx": Array("weights-v2".utf8), "labels.txt": Array("0\n1\n".utf8)]

    func migrate(_ server: TestServer, to url: String, _ extra: [String] = []) throws -> ProcessResult {
        try run(Binaries.path("ota-server"), ["migrate-to", url, "--data", server.dataPath] + extra)
    }

    @Test("migrate-to copies everything into PostgreSQL; the same server, tokens, devices and rollouts carry on there")
    func sqliteToPostgres() throws {
        let server = try TestServer(database: .sqlite)
        try server.publish(name: "digits", version: "1.0.0", files: Self.v1)
        let first = try server.deploy("digits", "1.0.0")
        let agents = try (1...3).map { try TestAgent(server, id: "cam-\($0)") }
        for agent in agents { #expect(try agent.once().status == 0) }
        try eventually("every device to report") { try server.admin().deployment(first.id).counts.succeeded == 3 }
        let before = try server.admin().deployment(first.id)
        let auditBefore = try server.request("GET", "/api/v1/audit", role: .admin).body.count
        server.stop()

        let target = try #require(try TestServer.newPostgresDatabase())
        let result = try migrate(server, to: target, ["--json"])
        #expect(result.status == 0, "\(result)")
        let report = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
        let tables = try #require(report?["tables"] as? [String: Int])
        #expect(tables["devices"] == 3 && tables["bundles"] == 1 && tables["admin_tokens"] == 4, "\(tables)")

        server.databaseArguments = ["--database", target]
        try server.start()
        // The same tokens, the same fleet, the same rollout and its counts.
        #expect(try server.admin().deployment(first.id).counts == before.counts)
        #expect(try server.admin().devices(.init()).devices.map(\.id).sorted() == ["cam-1", "cam-2", "cam-3"])
        #expect(try server.request("GET", "/api/v1/audit", role: .admin).body.count >= auditBefore)
        // Devices carry on with their keys and sessions, and a new rollout reaches them.
        for agent in agents { agent.config["server_url"] = server.url; try agent.writeConfig() }
        try server.publish(name: "digits", version: "2.0.0", files: Self.v2)
        let second = try server.deploy("digits", "2.0.0")
        for agent in agents {
            let update = try agent.once()
            #expect(update.status == 0, "\(update)")
            try agent.checkCurrentSlot("digits", holds: Self.v2)
        }
        try eventually("the new rollout to finish") { try server.admin().deployment(second.id).counts.succeeded == 3 }
        let counted = try server.sql("SELECT count(*) FROM deployment_devices WHERE deployment_id = '\(second.id)' AND state = 'succeeded'")
        #expect(counted.stdout.trimmed == "3")
    }

    @Test("migrate-to refuses a target that already holds a registry, and changes nothing in it")
    func refusesNonEmptyTarget() throws {
        let server = try TestServer(database: .sqlite)
        try server.publish(name: "digits", version: "1.0.0", files: Self.v1)
        server.stop()
        let target = try #require(try TestServer.newPostgresDatabase())
        #expect(try migrate(server, to: target).status == 0)
        let again = try migrate(server, to: target)
        #expect(again.status == 1)
        #expect(again.stderr.contains("already holds a registry"), "\(again)")
        server.databaseArguments = ["--database", target]
        #expect(try server.sql("SELECT count(*) FROM bundles").stdout.trimmed == "1")
    }

    @Test("migrate-to refuses a bad target or a missing source with the reason",
          arguments: [(["migrate-to", "mysql://x/y"], "postgres:// URL or the path"),
                      (["migrate-to", "postgres://postgres@127.0.0.1:1/none?sslmode=maybe"], "sslmode"),
                      (["migrate-to", "postgres://postgres@127.0.0.1:1/none"], "cannot connect")])
    func refusesBadInput(arguments: [String], reason: String) throws {
        let server = try TestServer(database: .sqlite)
        server.stop()
        let result = try run(Binaries.path("ota-server"), arguments + ["--data", server.dataPath])
        #expect(result.status != 0)
        #expect(result.stderr.contains(reason), "\(result)")
        let missing = try run(Binaries.path("ota-server"), ["migrate-to", "postgres://postgres@127.0.0.1:1/none", "--data", "/nonexistent"])
        #expect(missing.status != 0 && missing.stderr.contains("no registry at"), "\(missing)")
    }
}
