import Logging
import OTACore

/// What the device is, for the server: the probe's findings overridden by what the device's
/// `inventory_command` prints, read when the agent starts and again every
/// `inventory_interval_s`. A check-in carries it after each reading until a server has
/// answered one that carried it: a fleet does not resend kilobytes of CPU flags every minute,
/// and a report an instance lost (it crashed before writing it, or was an older version that
/// ignored it) is sent again at the next reading.
///
/// A command that fails (exits non-zero, times out, prints too much or not an inventory)
/// changes nothing: the last good reading stands, and the server keeps what it last heard,
/// rather than forgetting a device's GPU because a script failed once.
final class InventoryReporter {
    private let probe: InventoryProbe
    private let command: [String]?
    private let timeoutSeconds: Int
    private let intervalSeconds: Int64
    private let log: Logger
    private(set) var current: DeviceInventory?
    private var accepted: DeviceInventory?
    private var readAt: Int64?

    /// What `inventory_command` may print at most.
    static let outputLimit = 64 << 10

    init(probe: InventoryProbe, config: AgentConfig, log: Logger) {
        self.probe = probe
        command = config.inventoryCommand
        timeoutSeconds = config.inventoryTimeout
        intervalSeconds = config.inventoryInterval
        self.log = log
    }

    /// The inventory a check-in at `now` should carry: nil when the server already has it.
    func forCheckin(now: Int64) -> DeviceInventory? {
        // A clock that went back (a device without an RTC) reads again too; so does every
        // check-in until a first reading succeeds (a driver not ready at boot), since a bundle
        // with variants waits for it. Each try is bounded by the command's timeout.
        if current == nil || readAt.map({ now - $0 >= intervalSeconds || now < $0 }) ?? true { refresh(now: now) }
        guard let current, current != accepted else { return nil }
        return current
    }

    /// The next check-in carries the inventory again (the server decided on an older one).
    func resend() { accepted = nil }

    /// The server answered a check-in that carried `inventory`.
    func taken(_ inventory: DeviceInventory?) {
        if let inventory { accepted = inventory }
    }

    private func refresh(now: Int64) {
        readAt = now
        accepted = nil
        do { current = try read() } catch {
            log.warning("inventory_command: \(error); the last inventory stands")
        }
    }

    /// The probe's findings, overridden part by part by the command's.
    func read() throws(InventoryCommandError) -> DeviceInventory {
        let probed = probe.read()
        guard let command else { return probed }
        return probed.overridden(by: try Self.run(command, timeoutSeconds: timeoutSeconds))
    }

    static func run(_ command: [String], timeoutSeconds: Int) throws(InventoryCommandError) -> DeviceInventory {
        let outcome: CommandRunner.Outcome
        do {
            outcome = try CommandRunner.run(command, timeoutSeconds: timeoutSeconds, standardOutputOnly: true, outputLimit: outputLimit)
        } catch {
            throw InventoryCommandError(description: "cannot start \(command[0]): \(error)")
        }
        if outcome.overflowed { throw InventoryCommandError(description: "printed more than \(outputLimit >> 10) KiB") }
        if outcome.timedOut { throw InventoryCommandError(description: "did not finish within \(timeoutSeconds) s (inventory_timeout_s)") }
        guard outcome.exitStatus == 0 else {
            throw InventoryCommandError(description: outcome.exitStatus.map { "exited with status \($0)" } ?? "was killed by a signal")
        }
        do {
            return try StrictJSON.decodeRejectingUnknownFields(DeviceInventory.self, from: Array(outcome.output.utf8), what: "its output")
        } catch {
            throw InventoryCommandError(description: "\(error)")
        }
    }
}

/// Why `inventory_command` gave no inventory.
struct InventoryCommandError: Error, CustomStringConvertible {
    let description: String
}

extension Agent {
    /// What this device reports it is, read now (`ota-agent inventory`): a failing
    /// `inventory_command` is an error here, with its reason.
    public func readInventory() throws -> DeviceInventory { try context.inventory.read() }
}
