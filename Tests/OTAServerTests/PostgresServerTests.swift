import Foundation
import OTAClient
import OTACore
import TestSupport
import Testing

/// ota-server on PostgreSQL: the database going away and coming back under load. Run in the PostgreSQL pass of `make test` (scripts/test-postgres.sh).
@Suite("ota-server on PostgreSQL", .enabled(if: TestServer.postgres != nil, "needs OTA_TEST_POSTGRES (scripts/test-postgres.sh)"), .tags(.database))
struct PostgresServerTests {
    @Test("While PostgreSQL is down, writes answer 503 with Retry-After and check-ins still answer; the server recovers by itself when it returns")
    func databaseRestart() throws {
        let postgres = try TestPostgres()
        let url = try postgres.newDatabase()
        let server = try TestServer(database: .url(url))
        let device = try server.registerDevice("d1")
        _ = try device.checkin(.init(installed: []))
        Thread.sleep(forTimeInterval: 1.2)
        postgres.stop()
        let outage = Timestamp.epochSeconds()

        let refused = try server.request("POST", "/api/v1/enrollment-tokens", role: .operator, json: #"{"name": "during-outage"}"#)
        #expect(refused.status == 503, "\(refused)")
        #expect(refused.headers["retry-after"] != nil)
        #expect(String(decoding: refused.body, as: UTF8.self).contains("database_unavailable"))
        #expect(try device.checkin(.init(installed: [])).pollIntervalSeconds > 0, "check-ins are answered from memory")
        let events = try server.request("POST", DeviceAPI.eventsPath, device: device,
                                         body: Array(#"{"events": [{"bundle_name": "m", "version": "1.0.0", "state": "downloading", "detail": "", "at": "2026-12-01T00:00:00Z"}]}"#.utf8))
        #expect(events.status == 503, "an event is refused, not lost: the device keeps it and sends it again")

        try postgres.start()
        try eventually(timeout: 30, "the server to write again without a restart") {
            try server.request("POST", "/api/v1/enrollment-tokens", role: .operator, json: #"{"name": "after-outage"}"#).status == 201
        }
        #expect(server.isRunning)
        let names = try server.admin(.operator).enrollmentTokens().map(\.name)
        #expect(names.contains("after-outage") && !names.contains("during-outage"), "\(names)")
        // The check-in acknowledged during the outage reached the database once it was back.
        var seen = ""
        try eventually(timeout: 10, "the batched check-in writes to land") {
            seen = try server.sql("SELECT last_seen FROM devices WHERE id = 'd1'").stdout.trimmed
            return Int64(seen).map { $0 >= outage } ?? false
        }
    }
}
