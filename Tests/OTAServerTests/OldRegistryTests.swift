import Foundation
import OTAClient
import OTACore
import TestSupport
import Testing

/// A registry the previous release wrote (Tests/Fixtures/registry-0007, made by its `make.sh`
/// with the binaries of commit d8484e3: migrations 0001 to 0007, written by the blocking SQL
/// layer) opens in today's server with everything in it.
@Suite("A registry from the previous release")
struct OldRegistryTests {
    static let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/registry-0007")

    @Test("A registry written by the previous release opens with its devices, bundle, deployment, events, audit and admin token intact")
    func previousReleaseOpens() throws {
        let dir = TemporaryDirectory("ota-old-registry")
        let copy = dir.file("registry.sqlite")
        try FileManager.default.copyItem(atPath: Self.fixture.appendingPathComponent("registry.sqlite").path, toPath: copy)
        let server = try TestServer(database: .url(copy))
        let admin = try server.admin()

        let devices = try admin.devices(.init()).devices
        #expect(devices.map(\.id.rawValue).sorted() == ["cam-00000", "cam-00001", "cam-00002"], "\(devices.map(\.id))")
        #expect(devices.allSatisfy { $0.hardware.rawValue == "fixture-hw" && $0.status == .accepted })
        let bundle = try admin.bundle(name: "digits", version: try SemanticVersion("1.0.0"))
        #expect(bundle.kind == .model)
        let deployment = try #require(try admin.deployments().first)
        #expect(deployment.counts.succeeded == 3, "\(deployment.counts)")
        #expect(deployment.counts.byState == (try server.recountFromEvents(deployment.id.rawValue)), "the counters agree with the events")
        let history = try admin.device("cam-00000").events.map(\.state)
        #expect(history.contains(.succeeded), "\(history)")
        let audit = try admin.audit(limit: 100).entries.map(\.action.rawValue)
        #expect(audit.contains("bundle.publish") && audit.contains("deployment.create"), "\(audit)")

        // The previous release's own admin token still works.
        let oldToken = try String(contentsOf: Self.fixture.appendingPathComponent("admin-token.txt"), encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(try server.request("GET", "/api/v1/devices", token: oldToken).status == 200)
        // And the registry takes new writes.
        _ = try admin.control(deployment.id, .pause)
        #expect(try admin.deployment(deployment.id).status == .paused)
        #expect(try run("/usr/bin/sqlite3", [copy, "PRAGMA integrity_check"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "ok")
    }
}
