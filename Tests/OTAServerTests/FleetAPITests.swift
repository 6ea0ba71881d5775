import Foundation
import OTAClient
import OTACore
import TestSupport
import Testing

@Suite("Check-ins, assignments and events", .tags(.database))
struct FleetAPITests {
    @Test("A deployment reaches compatible devices, including ones that register later; others get nothing")
    func assignments() throws {
        let server = try TestServer()
        try server.publish(name: "m", version: "1.0.0", files: ["w.bin": [1, 2, 3]], compatible: ["test-hw"])
        let early = try server.registerDevice("early")
        let other = try server.registerDevice("other", hardware: "other-hw")
        #expect(try early.checkin(.init(installed: [])).assignments.isEmpty)
        let deployment = try server.deploy("m", "1.0.0")
        let answer = try early.checkin(.init(installed: []))
        #expect(answer.pollIntervalSeconds == 1)
        let assignment = try #require(answer.assignments.first)
        #expect(assignment.deploymentID == deployment.id && assignment.name == "m" && assignment.version == "1.0.0")
        #expect(try TrustRoot(keys: [server.key.publicKey], threshold: 1).verify(assignment.envelope).manifest.name == "m")
        #expect(try other.checkin(.init(installed: [])).assignments.isEmpty)
        let late = try server.registerDevice("late")
        #expect(try late.checkin(.init(installed: [])).assignments.count == 1)
        // A device that runs the bundle is not asked again.
        let running = DeviceAPI.InstalledBundle(name: "m", version: "1.0.0", digest: assignment.digest)
        #expect(try early.checkin(.init(installed: [running])).assignments.isEmpty)
    }

    @Test("Events move the device through the deployment's counts and are kept in its history")
    func eventsAndCounts() throws {
        let server = try TestServer()
        try server.publish(name: "m", version: "1.0.0", files: ["w.bin": [1]])
        let deployment = try server.deploy("m", "1.0.0")
        let a = try server.registerDevice("a"), b = try server.registerDevice("b"), c = try server.registerDevice("c")
        for device in [a, b, c] { _ = try device.checkin(.init(installed: [])) }
        try a.report([.init(deploymentID: deployment.id, bundleName: "m", version: "1.0.0", state: .downloading, detail: ""),
                      .init(deploymentID: deployment.id, bundleName: "m", version: "1.0.0", state: .succeeded, detail: "ok")])
        try b.report([.init(deploymentID: deployment.id, bundleName: "m", version: "1.0.0", state: .rolledBack, detail: "health check failed: exit 1")])
        try c.report([.init(deploymentID: deployment.id, bundleName: "m", version: "1.0.0", state: .installing, detail: "")])
        let status = try server.admin().deployment(deployment.id)
        #expect(status.counts.succeeded == 1 && status.counts.rolledBack == 1 && status.counts.installing == 1)
        #expect(status.failureReasons == [.init(reason: "health check failed: exit 1", count: 1)])
        let history = try server.admin().device("a").events
        #expect(history.map(\.state.rawValue) == ["succeeded", "downloading"])
        #expect(history[0].deploymentID == deployment.id)
        // A rolled-back device is not offered the bundle again.
        #expect(try b.checkin(.init(installed: [])).assignments.isEmpty)
        // Another device's events cannot touch a deployment it was never part of.
        let stranger = try server.registerDevice("stranger", hardware: "nope")
        try stranger.report([.init(deploymentID: deployment.id, bundleName: "m", version: "1.0.0", state: .failed, detail: "spoof")])
        #expect(try server.admin().deployment(deployment.id).counts.failed == 0)
    }

    @Test("Device listing filters and pages with a cursor")
    func deviceListing() throws {
        let server = try TestServer()
        let enrollment = try server.enrollmentToken()
        for index in 0..<25 {
            let device = try server.registerDevice(String(format: "dev-%02d", index), hardware: index % 2 == 0 ? "pi" : "jetson",
                                                   tags: index < 5 ? ["canary"] : nil, enrollment: index < 5 ? nil : enrollment)
            if index < 3 {
                _ = try device.checkin(.init(installed: [.init(name: "m", version: try SemanticVersion("1.0.\(index)"), digest: SHA256Digest(hex: String(repeating: "a", count: 64))!)]))
            }
        }
        try eventually("check-ins flushed") { try server.admin().devices({ var q = AdminClient.DeviceQuery(); q.bundle = "m"; return q }()).devices.count == 3 }
        let admin = try server.admin(.viewer)
        var query = AdminClient.DeviceQuery()
        query.limit = 10
        var seen: [String] = []
        var pages = 0
        repeat {
            let page = try admin.devices(query)
            seen += page.devices.map(\.id.rawValue)
            query.cursor = page.nextCursor
            pages += 1
        } while query.cursor != nil
        #expect(pages == 3)
        #expect(seen == (0..<25).map { String(format: "dev-%02d", $0) })
        var filter = AdminClient.DeviceQuery()
        filter.hardware = "jetson"
        #expect(try admin.devices(filter).devices.count == 12)
        filter = AdminClient.DeviceQuery()
        filter.tag = "canary"
        #expect(try admin.devices(filter).devices.map(\.id) == ["dev-00", "dev-01", "dev-02", "dev-03", "dev-04"])
        filter = AdminClient.DeviceQuery()
        filter.bundle = "m"
        filter.version = "1.0.1"
        #expect(try admin.devices(filter).devices.map(\.id) == ["dev-01"])
        filter = AdminClient.DeviceQuery()
        filter.seenAfter = "2000-01-01T00:00:00Z"
        filter.seenBefore = "2999-01-01T00:00:00Z"
        filter.limit = 1000
        #expect(try admin.devices(filter).devices.count == 25)
        filter = AdminClient.DeviceQuery()
        filter.seenBefore = "2000-01-01T00:00:00Z"
        #expect(try admin.devices(filter).devices.isEmpty)
        let bad = try server.request("GET", "/api/v1/devices?seen_before=yesterday", role: .viewer)
        #expect(bad.status == 400)
    }

    @Test("Fleet summary counts devices by state and hardware, and versions per published bundle")
    func fleetSummary() throws {
        let server = try TestServer()
        var digests: [String: SHA256Digest] = [:]
        for version in ["1.0.0", "2.0.0"] {
            try server.publish(name: "m", version: version, files: ["w": Array(version.utf8)])
            digests[version] = try server.admin().bundle(name: "m", version: try SemanticVersion(version)).digest
        }
        for (index, version) in ["1.0.0", "1.0.0", "2.0.0", "3.0.0"].enumerated() {
            let device = try server.registerDevice("d\(index)", hardware: index == 2 ? "jetson" : "pi")
            // 3.0.0 was never published: what a device says it runs is kept, but not counted.
            _ = try device.checkin(.init(installed: [.init(name: "m", version: try SemanticVersion(version), digest: digests[version] ?? SHA256Digest(hex: String(repeating: "b", count: 64))!)]))
        }
        try eventually("flush") { try server.admin().devices({ var q = AdminClient.DeviceQuery(); q.bundle = "m"; return q }()).devices.count == 4 }
        let result = try server.request("GET", "/api/v1/fleet/summary", role: .viewer)
        let summary = try JSONDecoder().decode(AdminAPI.FleetSummary.self, from: Data(result.body))
        #expect(summary.devices == 4)
        #expect(summary.byHardware.first { $0.key == "pi" }?.count == 3)
        #expect(summary.bundles.first?.versions.sorted { $0.version < $1.version } == [.init(version: "1.0.0", count: 2), .init(version: "2.0.0", count: 1)])
    }
}

@Suite("Operators changing devices while they check in", .tags(.database))
struct DeviceChangeTests {
    @Test("Changing a device's tags keeps what it joined: downloads stay allowed, a failed bundle is not offered again")
    func patchKeepsMemberships() throws {
        let server = try TestServer()
        let bytes: [UInt8] = [5, 6, 7]
        try server.publish(name: "m", version: "1.0.0", files: ["w": bytes])
        let deployment = try server.deploy("m", "1.0.0")
        let device = try server.registerDevice("d1")
        _ = try device.checkin(.init(installed: []))
        try device.report([.init(deploymentID: deployment.id, bundleName: "m", version: "1.0.0", state: .failed, detail: "broken")])
        let patched = try server.request("PATCH", "/api/v1/devices/d1", role: .operator, json: #"{"tags":["lab"]}"#)
        #expect(patched.status == 200)
        #expect(try server.admin().device("d1").device.tags == ["lab"])
        let download = try server.request("GET", DeviceAPI.contentPathPrefix + SHA256Digest.of(bytes).hex, device: device)
        #expect(download.status == 200)
        #expect(try device.checkin(.init(installed: [])).assignments.isEmpty)
    }

    @Test("Deleting a device in the middle of its check-ins does not break saving the rest of the fleet")
    func deleteDuringCheckins() throws {
        let server = try TestServer()
        let doomed = try server.registerDevice("doomed"), healthy = try server.registerDevice("healthy")
        let token = doomed.credentials
        let configuration = server.httpConfiguration()
        let load = LoadWorkers(count: 4) { worker, n in
            let client = try DeviceClient(configuration, credentials: token)
            let round = n * (1 + worker)
            _ = try client.checkin(.init(installed: [.init(name: "m", version: SemanticVersion(stringLiteral: "1.0.\(round % 2)"), digest: SHA256Digest(hex: String(repeating: "d", count: 64))!)]))
        }
        try load.waitForRounds(20)
        #expect(try server.request("DELETE", "/api/v1/devices/doomed", role: .operator).status == 204)
        try load.waitForRounds(20)
        try load.stop()
        _ = try healthy.checkin(.init(installed: [.init(name: "m", version: "2.0.0", digest: SHA256Digest(hex: String(repeating: "e", count: 64))!)]))
        try eventually("the healthy device's check-in is saved") { try server.admin().device("healthy").device.installed.map(\.version) == ["2.0.0"] }
        let other = try server.registerDevice("other")
        _ = try other.checkin(.init(installed: []))
        #expect(try server.request("DELETE", "/api/v1/devices/other", role: .operator).status == 204)
        let log = try FileSystem.readText(server.logPath)
        #expect(!log.contains("flush failed"))
    }
}
