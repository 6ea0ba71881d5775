import OTAClient
import OTACore

/// One check-in cycle: finish interrupted updates, register if needed, report what runs,
/// take assignments, update, and deliver events.
public final class Agent {
    let context: AgentContext
    private var client: DeviceClient?

    public struct CycleOutcome: Equatable, Sendable {
        public var pollIntervalSeconds: Int
        public var committed: [String] = []
        public var failed: [String] = []
        /// Updates ended before activation because the server no longer offers them.
        public var abandoned: [String] = []
        public var rebootPending = false
        /// A candidate is being proven in shadow: look again soon, whatever the poll interval.
        public var shadowing = false
        /// Updates offered but not started, or paused before activation, because this
        /// device's trust is not fresh (stale or unverifiable release metadata): nothing is
        /// condemned, but nothing moves until the metadata is fresh again.
        public var waitingForTrust: [String] = []
        /// Why this device's trust is not fresh, when it is not (shown by `status` too).
        public var trustProblem: String?
        public var error: String?
        /// Set when the server asked to slow down (429/503 with Retry-After).
        public var retryAfterSeconds: Int?
    }

    public init(config: AgentConfig, crashStep: String? = nil, quiet: Bool = false) throws {
        context = try AgentContext(config: config, crash: CrashHook(step: crashStep), log: AgentLog(quiet: quiet))
    }

    var config: AgentConfig { context.config }
    var layout: StateLayout { context.layout }

    public func cycle() -> CycleOutcome {
        var outcome = CycleOutcome(pollIntervalSeconds: (try? status())?.pollIntervalSeconds ?? config.defaultPollInterval)
        defer { if outcome.rebootPending { reboot() } }
        // Updates that may be live end first, committed or rolled back, even without a server.
        for journal in (try? context.journals()) ?? [] where journal.step.isLive {
            record(run(journal), name: journal.name, into: &outcome)
            if outcome.rebootPending { return outcome }
        }
        do {
            let client = try connectedClient()
            try? context.outbox.flush(client)
            let trusted = try trustedCheckin(client)
            let answer = trusted.response
            outcome.pollIntervalSeconds = answer.pollIntervalSeconds
            outcome.trustProblem = trusted.problem
            try saveStatus { $0.lastCheckin = Timestamp.now(); $0.pollIntervalSeconds = answer.pollIntervalSeconds }
            // An update not live yet goes on only while the server still offers it: one it
            // dropped (cancelled, superseded, no longer targeted) is abandoned, which frees
            // its bundle name for the next assignment.
            for journal in try context.journals() where !journal.step.isLive {
                let offered = answer.assignments.first { $0.name == journal.name }
                guard offered?.digest != journal.digest else { continue }
                let reason = offered.map { "superseded by \($0.version) (deployment \($0.deploymentID))" }
                    ?? "the server no longer offers it (the deployment was cancelled, or this device is no longer targeted)"
                var updater = Updater(agent: context, fetcher: client, journal: journal)
                record(updater.abandon(reason), name: journal.name, into: &outcome)
            }
            for assignment in answer.assignments {
                guard let result = try take(assignment, trusted: trusted) else { continue }
                record(result, name: assignment.name, into: &outcome)
                if outcome.rebootPending { break }
            }
            try context.outbox.flush(client)
            if !outcome.committed.isEmpty || !outcome.failed.isEmpty || outcome.rebootPending {
                // Tell the server at once what runs now, rather than at the next poll.
                _ = try? trustedCheckin(client)
            }
            // After that check-in: the server takes figures only for what it knows runs.
            sendMetricsIfDue(client)
        } catch let error as HTTPClientError {
            if case .status(401, DeviceClient.sessionRefusedCode, _, _) = error {
                // The server does not know this device with this key (deleted, or re-keyed by an
                // operator): it registers again at the next cycle, which succeeds at once if the
                // server still knows it, and otherwise only if an operator authorised it anew
                // (a new token, or pre-authorisation): a deleted device does not come back by itself.
                DeviceEnrollment(context: context).forgetRegistration()
                self.client = nil
            }
            if case .status(let code, _, _, let retryAfter) = error, code == 429 || code == 503 {
                outcome.retryAfterSeconds = retryAfter ?? 60
            }
            outcome.error = error.description
        } catch {
            outcome.error = String(describing: error)
        }
        if let error = outcome.error {
            context.log.error(error)
            try? saveStatus { $0.lastError = error; $0.lastErrorAt = Timestamp.now() }
        }
        return outcome
    }

    /// Tells the server what runs (the version on trial), then asks for the reboot an
    /// install handler requested. The trial finishes when the agent starts again.
    private func reboot() {
        if let client = try? connectedClient() {
            try? context.outbox.flush(client)
            _ = try? trustedCheckin(client)
        }
        guard let command = config.rebootCommand else {
            context.log.info("a reboot is needed to finish the update; no reboot_command is configured")
            return
        }
        context.log.info("rebooting: \(command.joined(separator: " "))")
        do {
            let outcome = try CommandRunner.run(command, timeoutSeconds: 300)
            if !outcome.succeeded { context.log.error("reboot command failed (\(outcome.summary))") }
        } catch { context.log.error("cannot run the reboot command: \(error)") }
    }

    private func record(_ result: Updater.Result, name: String, into outcome: inout CycleOutcome) {
        switch result {
        case .committed: outcome.committed.append(name)
        case .rolledBack(let reason), .failed(let reason):
            outcome.failed.append(name)
            try? saveStatus { $0.lastError = "\(name): \(reason)"; $0.lastErrorAt = Timestamp.now() }
        case .abandoned(let reason):
            outcome.abandoned.append(name)
            try? saveStatus { $0.lastError = "\(name): abandoned: \(reason)"; $0.lastErrorAt = Timestamp.now() }
        case .rebootPending: outcome.rebootPending = true
        case .inShadow: outcome.shadowing = true
        case .waitingForTrust(let reason):
            outcome.waitingForTrust.append(name)
            try? saveStatus { $0.lastError = "\(name): \(reason)"; $0.lastErrorAt = Timestamp.now() }
        case .retryLater(let reason): outcome.error = "\(name): \(reason)"
        }
    }

    func run(_ journal: Journal, verified: VerifiedManifest? = nil) -> Updater.Result {
        var updater = Updater(agent: context, fetcher: try? connectedClient(), journal: journal, verified: verified)
        let result = updater.run()
        if let client = try? connectedClient() { try? context.outbox.flush(client) }
        return result
    }

    /// The client that authenticates with this device's key, registering first if needed.
    func connectedClient() throws -> DeviceClient {
        if let client { return client }
        let http = HTTPClientConfiguration(baseURL: config.serverURL, caFile: config.caFile, allowInsecureHTTP: config.allowInsecureHTTP ?? false,
                                           stallTimeoutSeconds: config.stallTimeoutSeconds ?? 60,
                                           requestTimeoutSeconds: config.requestTimeoutSeconds ?? 120,
                                           maxDownloadBytesPerSecond: config.maxDownloadBytesPerSecond, userAgent: "ota-agent/1")
        let client = try DeviceEnrollment(context: context).connect(http)
        self.client = client
        return client
    }

    /// What runs, and what this agent can do (the server offers shadow deployments only to
    /// agents that can run them).
    func checkinRequest() throws -> DeviceAPI.CheckinRequest {
        DeviceAPI.CheckinRequest(installed: try running(), attributes: config.attributes,
                                 features: config.shadowCommand == nil ? nil : [DeviceAPI.Feature.shadow.rawValue])
    }

    /// A check-in whose answer is verified (`DeviceTrust`). Content downloads may then follow
    /// redirects only to the hosts the answer names (or the config adds).
    func trustedCheckin(_ client: DeviceClient) throws -> TrustedAnswer {
        let trusted = try context.trust.checkin(client, try checkinRequest(), deviceID: client.deviceID ?? config.deviceID)
        let hosts = Set((config.contentHosts ?? []) + (trusted.response.contentHosts ?? []))
        let insecure = config.allowInsecureHTTP ?? false
        client.mayFollowRedirect = { url in
            guard let target = HTTPClient.contentHost(of: url), hosts.contains(target.host) else { return false }
            // Plain http only to this machine, and only where the config allows plain http (tests).
            return target.scheme == "https" || (target.scheme == "http" && insecure && HTTPClient.isLoopbackURL(url))
        }
        return trusted
    }

    /// What actually runs: the version on trial where an update is live but not committed,
    /// else the committed one. After a rollback that is the old version again.
    func running() throws -> [DeviceAPI.InstalledBundle] {
        var result: [String: DeviceAPI.InstalledBundle] = [:]
        for record in try context.records() {
            result[record.name] = .init(name: record.name, version: record.version, digest: record.digest, state: .committed)
        }
        // A crash during activation leaves `staged` with the link already on the new slot.
        for journal in try context.journals() where [.activated, .awaitingReboot, .trial, .committing].contains(journal.step)
            || (journal.step == .staged && FileSystem.readSymlink(layout.current(journal.name)) == layout.linkTarget(journal.name, journal.slot)) {
            result[journal.name] = .init(name: journal.name, version: journal.version, digest: journal.digest, state: .trial)
        }
        return result.values.sorted { $0.name < $1.name }
    }

    /// The live models' figures, every `metrics_interval_s`; a failure is logged, never fatal.
    private func sendMetricsIfDue(_ client: DeviceClient) {
        let collector = MetricsCollector(context: context)
        guard collector.isDue(lastCollectedEpoch: (try? status())?.lastMetricsEpoch) else { return }
        let (metrics, problems) = collector.collect()
        try? saveStatus { $0.lastMetricsEpoch = Timestamp.epochSeconds() }
        for problem in problems { context.log.error(problem) }
        if let problem = problems.first { try? saveStatus { $0.lastError = problem; $0.lastErrorAt = Timestamp.now() } }
        guard !metrics.isEmpty else { return }
        do {
            try client.sendMetrics(metrics)
            context.log.info("sent the figures of \(metrics.map { "\($0.bundleName) \($0.version)" }.joined(separator: ", "))")
        } catch { context.log.error("cannot send model metrics: \(error)") }
    }

    private func saveStatus(_ change: (inout AgentStatus) -> Void) throws {
        var current = try status() ?? AgentStatus()
        change(&current)
        try StateFile.write(current, to: layout.status)
    }

    func status() throws -> AgentStatus? { try StateFile.read(AgentStatus.self, from: layout.status) }
}
