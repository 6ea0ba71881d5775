import ArgumentParser
import Foundation
import OTAClient
import OTACore

/// Simulated devices for fleet tests and benchmarks. Each one registers, checks in, and when
/// assigned a bundle reports the update steps a real agent reports: downloading, downloaded,
/// installing, health-check, then succeeded, or rolled-back for the devices chosen to fail.
/// It does not download content: it exercises the registry, not the network.
@main
struct FleetSimulator: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ota-fleet-sim",
        abstract: "Drive many simulated devices through the real device API.",
        discussion: """
        Example:
          ota-fleet-sim --server http://127.0.0.1:8080 --enrollment-token ota_enr_... \\
              --devices 1000 --failure-rate 0.1 --until-quiet 5

        Device i fails its health check when (i * 7919) mod 1000 < failure-rate * 1000, so the same devices fail in every run. Like the agent, a device that cannot reach the server or gets a 5xx keeps its unsent events and tries again next round (counted in "retried"); "events_acknowledged" counts the events the server accepted. Prints a JSON summary on stdout.
        """
    )

    @Option(help: "Server URL (loopback http is allowed).") var server: String
    @Option(help: "Enrollment token allowing --devices registrations.") var enrollmentToken: String
    @Option(help: "How many devices.") var devices = 1000
    @Option(help: "Device id prefix.") var prefix = "sim"
    @Option(help: "Hardware class of every device.") var hardware: String = "sim-hw"
    @Option(help: "Share of devices whose health check fails (0 to 1).") var failureRate = 0.0
    @Option(help: "Concurrent connections.") var threads = 8
    @Option(help: "Stop after this many rounds in a row with no assignment.") var untilQuiet = 5
    @Option(help: "Seconds between rounds.") var interval = 0.2
    @Option(help: "Give up after this many seconds.") var timeout = 300.0
    @Option(help: "Keep checking in for this many seconds whatever the assignments, then stop (soak tests).") var duration: Double?

    struct Summary: Encodable {
        var devices = 0
        var rounds = 0
        var checkins = 0
        var succeeded = 0
        var rolledBack = 0
        var seconds = 0.0
        var checkinsPerSecond = 0.0
        var retried = 0
        var eventsAcknowledged = 0
        enum CodingKeys: String, CodingKey {
            case devices, rounds, checkins, succeeded, seconds, retried
            case rolledBack = "rolled_back", checkinsPerSecond = "checkins_per_second", eventsAcknowledged = "events_acknowledged"
        }
    }

    /// One simulated device: its own key and session, like a real agent.
    final class Device: @unchecked Sendable {
        let id: DeviceID
        let fails: Bool
        let key: Ed25519PrivateKey
        var session: DeviceClient.Session?
        var installed: [DeviceAPI.InstalledBundle] = []
        /// Events not yet accepted by the server (sent again next round, as the agent does).
        var unsent: [DeviceAPI.Event] = []
        var acknowledged = 0
        var retried = 0
        init(id: DeviceID, fails: Bool) throws {
            self.id = id
            self.fails = fails
            key = try Ed25519PrivateKey.generate()
        }
    }

    func run() throws {
        let configuration = HTTPClientConfiguration(baseURL: server, allowLoopbackHTTP: true, userAgent: "ota-fleet-sim/1")
        let fleet = try (0..<devices).map { index in
            try Device(id: try DeviceID("\(prefix)-\(String(format: "%05d", index))"), fails: Double((index * 7919) % 1000) < failureRate * 1000)
        }
        let started = Date()
        try parallel(fleet, configuration: configuration) { client, device in
            try Self.retryingTransient(device) { _ = try client.register(.init(enrollmentToken: enrollmentToken, deviceID: device.id, hardware: try HardwareClass(hardware),
                                          publicKey: Base64.encode(device.key.publicKey.raw),
                                          proof: try DeviceProof.sign(.register, deviceID: device.id, key: device.key))) }
            return 0
        }
        var summary = Summary(devices: devices)
        var quiet = 0
        let loopStarted = Date()
        while duration.map({ Date().timeIntervalSince(loopStarted) < $0 }) ?? (quiet < untilQuiet) {
            guard duration != nil || Date().timeIntervalSince(started) < timeout else { throw ValidationError("timed out after \(timeout)s") }
            let assigned = try parallel(fleet, configuration: configuration) { client, device in
                client.credentials = .key(deviceID: device.id, key: device.key)
                client.session = device.session
                defer { device.session = client.session }
                do {
                    try send(device, client: client)
                    let answer = try client.checkin(.init(installed: device.installed))
                    for assignment in answer.assignments { try update(device, assignment, client: client) }
                    return answer.assignments.count
                } catch let error as HTTPClientError where Self.isTransient(error) {
                    // Not quiet: this device has more to do next round.
                    device.retried += 1
                    return 1
                }
            }
            summary.rounds += 1
            summary.checkins += fleet.count
            quiet = assigned == 0 ? quiet + 1 : 0
            Thread.sleep(forTimeInterval: interval)
        }
        summary.seconds = Date().timeIntervalSince(started)
        summary.checkinsPerSecond = Double(summary.checkins) / max(Date().timeIntervalSince(loopStarted), 0.001)
        summary.succeeded = fleet.filter { !$0.installed.isEmpty }.count
        summary.rolledBack = fleet.filter { $0.fails }.count
        summary.retried = fleet.reduce(0) { $0 + $1.retried }
        summary.eventsAcknowledged = fleet.reduce(0) { $0 + $1.acknowledged }
        let output = try JSONEncoder().encode(summary)
        print(String(decoding: output, as: UTF8.self))
    }

    /// The server could not be reached or could not serve for now: a real agent tries again.
    static func isTransient(_ error: HTTPClientError) -> Bool {
        if case .transport = error { return true }
        return (error.statusCode ?? 0) >= 500
    }

    /// Registration, once, through transient failures (a few seconds of them at most).
    static func retryingTransient(_ device: Device, _ body: () throws -> Void) throws {
        for attempt in 1...20 {
            do { return try body() } catch let error as HTTPClientError where isTransient(error) && attempt < 20 {
                device.retried += 1
                Thread.sleep(forTimeInterval: 0.25)
            }
        }
    }

    /// Sends the device's unsent events; they are dropped only once the server accepted them.
    func send(_ device: Device, client: DeviceClient) throws {
        guard !device.unsent.isEmpty else { return }
        try client.report(device.unsent)
        device.acknowledged += device.unsent.count
        device.unsent = []
    }

    /// What a real agent reports for one update.
    func update(_ device: Device, _ assignment: DeviceAPI.Assignment, client: DeviceClient) throws {
        func event(_ state: DeviceAPI.UpdateState, _ detail: String) -> DeviceAPI.Event {
            .init(deploymentID: assignment.deploymentID, bundleName: assignment.name, version: assignment.version.description, state: state,
                  detail: detail, at: SystemClock().now)
        }
        var events = [event(.downloading, "starting"), event(.downloaded, "simulated"), event(.installing, "simulated"),
                      event(.healthCheck, "checking the new version")]
        if device.fails {
            events.append(event(.rolledBack, "health check failed: exit 1: simulated accuracy 0.1 is below 0.9"))
        } else {
            events.append(event(.succeeded, "committed \(assignment.version) after its health check"))
            device.installed.removeAll { $0.name == assignment.name }
            device.installed.append(.init(name: assignment.name, version: assignment.version, digest: assignment.digest))
        }
        device.unsent += events
        try send(device, client: client)
    }

    /// Runs `body` for every device on `threads` threads, each with its own connection.
    @discardableResult
    func parallel(_ fleet: [Device], configuration: HTTPClientConfiguration,
                  _ body: @escaping @Sendable (DeviceClient, Device) throws -> Int) throws -> Int {
        let lock = NSLock()
        nonisolated(unsafe) var total = 0
        nonisolated(unsafe) var failure: (any Error)?
        let group = DispatchGroup()
        let workers = max(1, min(threads, fleet.count))
        for worker in 0..<workers {
            group.enter()
            let thread = Thread {
                defer { group.leave() }
                do {
                    let client = try DeviceClient(configuration)
                    var index = worker
                    var count = 0
                    while index < fleet.count {
                        count += try body(client, fleet[index])
                        index += workers
                    }
                    lock.withLock { total += count }
                } catch {
                    lock.withLock { failure = error }
                }
            }
            thread.stackSize = 1 << 20
            thread.start()
        }
        group.wait()
        if let failure { throw failure }
        return total
    }
}
