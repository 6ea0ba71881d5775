import Foundation
import OTAClient
import OTACore
import TestSupport
import Testing

/// Several `ota-server` instances on one PostgreSQL database: any instance answers any device
/// or operator. Run in the PostgreSQL pass of `make test` (scripts/test-postgres.sh).
@Suite("Several instances on one database", .enabled(if: TestServer.postgres != nil, "needs OTA_TEST_POSTGRES (scripts/test-postgres.sh)"), .tags(.database))
struct ClusterTests {
    @Test("A deployment created, paused and cancelled on one instance takes effect on another within two seconds")
    func controlsReachEveryInstance() throws {
        let a = try TestServer()
        let b = try TestServer(peerOf: a)
        try a.publish(name: "m", version: "1.0.0", files: ["w": [1]])
        let early = try a.registerDevice("early")
        let late = try a.registerDevice("late")
        let created = try a.deploy("m", "1.0.0")
        try eventually(timeout: 2.5, "the other instance to offer the new deployment") {
            try early.withServer(b).checkin(.init(installed: [])).assignments.map(\.deploymentID) == [created.id]
        }
        _ = try a.admin(.operator).control(created.id, .pause)
        // A paused deployment keeps its started devices going but starts no one: "early" has
        // not reported a step yet, so neither instance offers it any more.
        try eventually(timeout: 2.5, "the other instance to see the pause") {
            try early.withServer(b).checkin(.init(installed: [])).assignments.isEmpty
        }
        #expect(try late.withServer(b).checkin(.init(installed: [])).assignments.isEmpty, "nobody joins a paused deployment anywhere")
        _ = try b.admin(.operator).control(created.id, .resume)
        try eventually(timeout: 2.5, "the first instance to see the resume") {
            try late.withServer(a).checkin(.init(installed: [])).assignments.count == 1
        }
        _ = try b.admin(.operator).control(created.id, .cancel)
        try eventually(timeout: 2.5, "the first instance to see the cancel") {
            try late.withServer(a).checkin(.init(installed: [])).assignments.isEmpty
        }
        #expect(try a.admin().deployment(created.id).counts.total == 2)
    }

    @Test("An inventory reported to one instance reaches another's cache through the change feed: its filtered deployment follows the device there")
    func inventoryReachesEveryInstance() throws {
        let a = try TestServer()
        let b = try TestServer(peerOf: a)
        try a.publish(name: "m", version: "1.0.0", files: ["w": [1]])
        let device = try a.registerDevice("pi")
        let created = try a.admin(.operator).createDeployment(.init(bundleName: "m", version: "1.0.0", target: .all,
                                                                    inventoryFilter: try InventoryCondition("cpu.features contains neon")))
        // b learns the device before the inventory exists, so only the feed can tell it.
        #expect(try device.withServer(b).checkin(.init(installed: [])).assignments.isEmpty)
        let neon = DeviceInventory(architecture: "aarch64", cpuFeatures: ["neon"])
        #expect(try device.withServer(a).checkin(.init(installed: [], inventory: neon)).assignments.map(\.deploymentID) == [created.id])
        try eventually(timeout: 5, "the other instance to learn the inventory") {
            try device.withServer(b).checkin(.init(installed: [])).assignments.map(\.deploymentID) == [created.id]
        }
        // And back: an inventory without NEON, reported to b, ends the offer on a.
        #expect(try device.withServer(b).checkin(.init(installed: [], inventory: DeviceInventory(architecture: "x86_64", cpuFeatures: ["avx2"]))).assignments.isEmpty)
        try eventually(timeout: 5, "the first instance to learn the new inventory") {
            try device.withServer(a).checkin(.init(installed: [])).assignments.isEmpty
        }
    }

    @Test("With the feed polled every 30 s, another instance's pause arrives within two seconds through PostgreSQL's notification, also after the listening connection was cut")
    func notificationsWakeOtherInstances() throws {
        let a = try TestServer(arguments: ["--change-poll", "30"])
        let b = try TestServer(peerOf: a)
        try a.publish(name: "m", version: "1.0.0", files: ["w": [1]])
        let device = try a.registerDevice("d1")
        let created = try a.deploy("m", "1.0.0")
        try eventually(timeout: 2, "the other instance to offer the new deployment") {
            try device.withServer(b).checkin(.init(installed: [])).assignments.count == 1
        }
        _ = try a.admin(.operator).control(created.id, .pause)
        try eventually(timeout: 2, "the other instance to see the pause") {
            try device.withServer(b).checkin(.init(installed: [])).assignments.isEmpty
        }
        // Cut every listening connection: each listener connects again (after a second) and
        // reads what it missed meanwhile; later notifications arrive again.
        let listeners = "FROM pg_stat_activity WHERE query LIKE 'LISTEN%' AND datname = current_database()"
        let cut = try a.sql("SELECT count(pg_terminate_backend(pid)) \(listeners)")
        #expect(cut.stdout.trimmed == "2", "one listener per instance: \(cut)")
        _ = try a.admin(.operator).control(created.id, .resume)
        try eventually(timeout: 4, "the other instance to see the resume after reconnecting") {
            try device.withServer(b).checkin(.init(installed: [])).assignments.count == 1
        }
        try eventually(timeout: 4, "both instances to listen again") {
            try a.sql("SELECT count(*) \(listeners)").stdout.trimmed == "2"
        }
        _ = try a.admin(.operator).control(created.id, .pause)
        try eventually(timeout: 2, "the other instance to see the next pause through its new connection") {
            try device.withServer(b).checkin(.init(installed: [])).assignments.isEmpty
        }
    }

    @Test("With notifications lost, the poll still brings another instance's changes")
    func pollWhenNotificationsAreLost() throws {
        let a = try TestServer(arguments: ["--change-poll", "1"])
        let b = try TestServer(peerOf: a)
        _ = try a.sql("DROP TRIGGER registry_changes_notify ON registry_changes")
        try a.publish(name: "m", version: "1.0.0", files: ["w": [1]])
        let device = try a.registerDevice("d1")
        let created = try a.deploy("m", "1.0.0")
        try eventually(timeout: 3, "the other instance to offer the new deployment by polling") {
            try device.withServer(b).checkin(.init(installed: [])).assignments.count == 1
        }
        _ = try a.admin(.operator).control(created.id, .pause)
        try eventually(timeout: 3, "the other instance to see the pause by polling") {
            try device.withServer(b).checkin(.init(installed: [])).assignments.isEmpty
        }
    }

    @Test("Two instances admitting devices at once never pass a deployment's rate limit together")
    func admissionLimitHoldsAcrossInstances() throws {
        let a = try TestServer()
        let b = try TestServer(peerOf: a)
        try a.publish(name: "m", version: "1.0.0", files: ["w": [1]])
        let devices = try (0..<24).map { try a.registerDevice("d\($0)") }
        let created = try a.admin(.operator).createDeployment(.init(bundleName: "m", version: "1.0.0", target: .everyCompatibleDevice,
                                                                    rateLimitPerMinute: 5))
        Thread.sleep(forTimeInterval: 1.2)  // both instances know the deployment
        // Half the devices check in through each instance, all at once: limits kept per
        // instance would admit ten.
        nonisolated(unsafe) let clients = try devices.enumerated().map { try $0.element.withServer($0.offset % 2 == 0 ? a : b) }
        let offered = Offers()
        DispatchQueue.concurrentPerform(iterations: clients.count) { index in
            if let answer = try? clients[index].checkin(.init(installed: [])), !answer.assignments.isEmpty {
                offered.add(clients[index].deviceID?.rawValue ?? "?")
            }
        }
        #expect(offered.devices.count == 5, "\(offered.devices.sorted())")
        #expect(try a.sql("SELECT count(*) FROM deployment_devices WHERE deployment_id = '\(created.id)'").stdout.trimmed == "5")
        #expect(try b.admin().deployment(created.id).counts.total == 5)
    }

    @Test("A device rejected on one instance is refused by another at its next request")
    func rejectionReachesEveryInstance() throws {
        let a = try TestServer()
        let b = try TestServer(peerOf: a)
        let device = try a.registerDevice("d1").withServer(b)
        _ = try device.checkin(.init(installed: []))
        _ = try a.admin(.operator).setDeviceStatus("d1", .reject)
        try eventually(timeout: 2.5, "the other instance to refuse the device") {
            do { _ = try device.checkin(.init(installed: [])); return false } catch let error as HTTPClientError {
                return [401, 403].contains(error.statusCode ?? 0)
            }
        }
    }

    @Test("Release metadata published on either instance is served by both, and no version is signed twice")
    func trustIsShared() throws {
        let a = try TestServer(tuf: true)
        let b = try TestServer(peerOf: a)
        try a.publish(name: "m", version: "1.0.0", files: ["w": [1]])
        try a.release([("m", "1.0.0", "stable")])
        try eventually(timeout: 2.5, "the other instance to serve the new release metadata") {
            try b.admin().trustSummary() == a.admin().trustSummary()
        }
        try b.release([("m", "1.0.0", "stable"), ("m", "1.0.0", "beta")])
        try eventually(timeout: 2.5, "the first instance to serve the second release metadata") {
            try a.admin().trustSummary().targetsVersion == 2
        }
        #expect(try a.admin().trustSummary() == b.admin().trustSummary())
    }

    @Test("Rollout timers run on one instance at a time, and move to another when it dies")
    func leadershipMoves() throws {
        let a = try TestServer()
        let b = try TestServer(peerOf: a)
        try eventually(timeout: 5, "one instance to lead") { try a.metric("ota_leader") + b.metric("ota_leader") == 1 }
        let leader = try a.metric("ota_leader") == 1 ? a : b
        let follower = leader === a ? b : a
        // Over two more rounds of the leader's timers, the lead stays where it is.
        let ticks = try leader.metric("ota_rollout_ticks_total")
        try eventually("two more rounds of the leader's timers") { try leader.metric("ota_rollout_ticks_total") >= ticks + 2 }
        #expect(try leader.metric("ota_leader") == 1 && follower.metric("ota_leader") == 0, "the lead does not flap")
        #expect(try follower.metric("ota_rollout_ticks_total") == 0, "only the leader runs the timers")

        try follower.publish(name: "m", version: "1.0.0", files: ["w": [1]])
        let canary = try follower.registerDevice("canary")
        let created = try follower.admin(.operator).createDeployment(.init(
            bundleName: "m", version: "1.0.0", target: .everyCompatibleDevice,
            phases: [.devices(["canary"]), .percent(100)], autoAdvance: true, soakSeconds: 3, successRatio: 1))
        let assignment = try #require(try canary.checkin(.init(installed: [])).assignments.first)
        leader.kill()
        try canary.report([.init(deploymentID: created.id, bundleName: "m", version: "1.0.0", state: .succeeded, detail: "ok")])
        // Only a timer advances the phase once the soak is over, and only the new leader runs it.
        try eventually(timeout: 15, "the surviving instance to take the lead and advance the rollout") {
            try follower.admin().deployment(created.id).currentPhase == 1
        }
        #expect(try follower.metric("ota_leader") == 1)
        #expect(assignment.deploymentID == created.id)
    }
}

/// Devices that were offered a deployment, from many threads.
final class Offers: @unchecked Sendable {
    private let lock = NSLock()
    private var offered = Set<String>()
    func add(_ id: String) { lock.withLock { _ = offered.insert(id) } }
    var devices: Set<String> { lock.withLock { offered } }
}
