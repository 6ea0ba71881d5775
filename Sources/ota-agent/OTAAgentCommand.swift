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
        Every bundle is verified against the trust root before use; updates are journaled step
        by step, health-checked, and rolled back when unhealthy. A crash or power loss at any
        moment resumes or rolls back at the next start.

          ota-agent run --config /etc/ota/agent.json      (daemon; stop with SIGTERM)
          ota-agent once --config /etc/ota/agent.json     (one cycle, for cron)
          ota-agent status --config /etc/ota/agent.json

        For tests only: OTA_AGENT_CRASH_AT=STEP makes the agent exit abruptly (status 99) right
        after journaling STEP (verified, downloading, download-midway, downloaded, staged,
        activated, reloaded, trial, committing, committed, rolling-back, rolled-back).
        """,
        subcommands: [Run.self, Once.self, Status.self]
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
        do {
            return try Agent(config: loaded, crashStep: getenv(CrashHookName.variable).map { String(cString: $0) }, quiet: quiet)
        } catch {
            printError("\(error)")
            throw ExitCode(64)
        }
    }
}

enum CrashHookName { static let variable = "OTA_AGENT_CRASH_AT" }

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
          0   checked in; nothing to do, every update committed, an update the server no
              longer offers was abandoned, or a candidate is being proven in shadow (the
              next run looks at its figures again)
          1   could not complete (server unreachable, a transfer cut, ...): try again later;
              downloads resume where they stopped
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
        let report = try options.agent(quiet: true).statusReport()
        if json {
            print(String(decoding: try StrictJSON.encode(report, pretty: true), as: UTF8.self))
        } else {
            print(report.text)
        }
    }
}
