import ArgumentParser
import OTAAgent
import OTACore
#if canImport(Glibc)
import Glibc
#endif

@main
struct OTAAgentCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ota-agent",
        abstract: "Keeps this device on the bundles its fleet server assigns, safely.",
        discussion: """
        Every bundle is verified against the trust root before use; updates are journaled step by step, health-checked, and rolled back when unhealthy. A crash or power loss at any moment resumes or rolls back at the next start.

          ota-agent run --config /etc/ota/agent.json      (daemon; stop with SIGTERM)
          ota-agent once --config /etc/ota/agent.json     (one cycle, for cron)
          ota-agent status --config /etc/ota/agent.json
          ota-agent inventory --config /etc/ota/agent.json  (what the device is)

        For tests only: OTA_AGENT_CRASH_AT=STEP makes the agent exit abruptly (status 99) right after journaling STEP (\(CrashPoint.allCases.map(\.rawValue).joined(separator: ", "))).
        """,
        subcommands: [Run.self, Once.self, Status.self, Inventory.self]
    )
}

struct ConfigOption: ParsableArguments {
    @Option(help: ArgumentHelp("The agent's JSON config file.", valueName: "file"))
    var config: String

    func load() throws -> AgentConfig {
        do { return try AgentConfig.load(from: config) } catch {
            printError("\(error)")
            throw ExitCode(64)
        }
    }

    func agent(quiet: Bool = false) throws -> Agent {
        let loaded = try load()
        var environment = AgentEnvironment.system(quiet: quiet)
        environment.crash = TestCrashHook.fromEnvironment()
        do {
            return try Agent(config: loaded, environment: environment)
        } catch {
            printError("\(error)")
            throw ExitCode(64)
        }
    }
}

/// For tests only: `OTA_AGENT_CRASH_AT=POINT` makes the agent exit abruptly (status 99, no
/// cleanup, like a power cut) when it reaches POINT (`CrashPoint`). Unset, nothing happens.
enum TestCrashHook {
    static let variable = "OTA_AGENT_CRASH_AT"
    static let exitStatus: Int32 = 99

    static func fromEnvironment() -> CrashInjection {
        guard let value = getenv(variable).map({ String(cString: $0) }), let point = CrashPoint(rawValue: value) else { return .none }
        return CrashInjection { reached in if reached == point { _exit(exitStatus) } }
    }
}

func printError(_ message: String) {
    let bytes = Array("ota-agent: error: \(TerminalText.escape(message))\n".utf8)
    _ = bytes.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
}

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run as a daemon: check in at the server's poll interval, with jitter and backoff.",
        discussion: "Exits 0 on SIGTERM/SIGINT, 3 when a reboot was requested to finish an update."
    )
    @OptionGroup var options: ConfigOption

    func run() throws {
        let agent = try options.agent()
        switch Daemon(agent: agent).run() {
        case .stopped: return
        case .rebootPending: throw ExitCode(3)
        }
    }
}

struct Once: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run one cycle (for cron or a systemd timer) and exit.",
        discussion: """
        Exit codes:
          0   checked in; nothing to do, every update committed, an update the
              server no longer offers was abandoned, or a candidate is being
              proven in shadow (the next run looks at its figures again)
          1   could not complete (server unreachable, a transfer cut, ...): try
              again later; downloads resume where they stopped
          2   an update was given up or rolled back; the previous version runs
          3   a reboot is pending to finish an update; run again after it
          4   this device's trust is not fresh (expired or unverifiable release
              metadata), so no update starts or goes on before activation; nothing is
              condemned and what runs keeps running; `ota-agent status` shows why
          64  the configuration is invalid
        """
    )
    @OptionGroup var options: ConfigOption
    @Flag(help: "Print only errors.") var quiet = false

    func run() throws {
        let outcome = try options.agent(quiet: quiet).cycle()
        if outcome.rebootPending { throw ExitCode(3) }
        if !outcome.failed.isEmpty { throw ExitCode(2) }
        if outcome.error != nil { throw ExitCode(1) }
        if outcome.trustProblem != nil || !outcome.waitingForTrust.isEmpty { throw ExitCode(4) }
    }
}

struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show what is installed, what runs, and any update in progress.")
    @OptionGroup var options: ConfigOption
    @Flag(help: "Print the result as JSON.") var json = false

    func run() throws {
        let agent = try options.agent(quiet: true)
        let report = try agent.statusReport()
        if json {
            print(String(decoding: try StrictJSON.encode(report, pretty: true), as: UTF8.self))
        } else {
            print(try agent.statusText())
        }
    }
}

struct Inventory: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print what this device reports it is, as JSON: the agent's own probe overridden by inventory_command.",
        discussion: """
        The same reading a check-in sends (docs/agent.md, "Inventory"), done now: use it to check an inventory_command before deploying with --where. Exits 1 with the reason when inventory_command fails, times out, prints more than 64 KiB or prints no inventory.
        """
    )
    @OptionGroup var options: ConfigOption

    func run() throws {
        let agent = try options.agent(quiet: true)
        do {
            print(String(decoding: try StrictJSON.encode(try agent.readInventory(), pretty: true), as: UTF8.self))
        } catch {
            printError("inventory_command: \(error)")
            throw ExitCode(1)
        }
    }
}
