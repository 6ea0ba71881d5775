import Logging
import OTAClient
import OTACore

/// One check-in cycle: finish interrupted updates, register if needed, report what runs,
/// take assignments, update, and deliver events.
public final class Agent {
    let context: AgentContext
    private var transport: (any DeviceTransport)?

    public struct CycleOutcome: Equatable, Sendable {
        public var pollIntervalSeconds: Int
        public var committed: [BundleName] = []
        public var failed: [BundleName] = []
        /// Updates ended before activation because the server no longer offers them.
        public var abandoned: [BundleName] = []
        public var rebootPending = false
        /// A candidate is being proven in shadow: look again soon, whatever the poll interval.
        public var shadowing = false
        /// Updates offered but not started, or paused before activation, because this
        /// device's trust is not fresh (stale or unverifiable release metadata): nothing is
        /// condemned, but nothing moves until the metadata is fresh again.
        public var waitingForTrust: [BundleName] = []
        /// Why this device's trust is not fresh, when it is not (shown by `status` too).
        public var trustProblem: String?
        public var error: String?
        /// Set when the server asked to slow down (429/503 with Retry-After).
        public var retryAfterSeconds: Int?
    }

    public init(config: AgentConfig, environment: AgentEnvironment = .system()) throws {
        context = try AgentContext(config: config, environment: environment)
    }

    var config: AgentConfig { context.config }
    var layout: StateLayout { context.layout }
    var log: Logger { context.log }

    public func cycle() -> CycleOutcome {
        var outcome = CycleOutcome(pollIntervalSeconds: storedStatus().pollIntervalSeconds ?? config.defaultPollInterval)
        defer { if outcome.rebootPending { reboot() } }
        do {
            // Updates that may be live end first, committed or rolled back, even without a server.
            for journal in try context.journals() where journal.step.isLive {
                record(run(journal), name: journal.name, into: &outcome)
                if outcome.rebootPending { return outcome }
            }
            let transport = try connectedTransport()
            deliverEvents(transport)
            let trusted = try trustedCheckin(transport)
            let answer = trusted.response
            outcome.pollIntervalSeconds = answer.pollIntervalSeconds
            outcome.trustProblem = trusted.problem
            noteStatus { $0.lastCheckin = self.context.clock.now; $0.pollIntervalSeconds = answer.pollIntervalSeconds }
            // An update not live yet goes on only while the server still offers it: one it
            // dropped (cancelled, superseded, no longer targeted) is abandoned, which frees
            // its bundle name for the next assignment.
            for journal in try context.journals() where !journal.step.isLive {
                let offered = answer.assignments.first { $0.name == journal.name }
                guard offered?.digest != journal.digest else { continue }
                let reason = offered.map { "superseded by \($0.version) (deployment \($0.deploymentID))" }
                    ?? "the server no longer offers it (the deployment was cancelled, or this device is no longer targeted)"
                var updater = Updater(agent: context, fetcher: transport, journal: journal)
                record(updater.abandon(.notOffered(reason)), name: journal.name, into: &outcome)
            }
            for assignment in answer.assignments {
                guard let result = try take(assignment, trusted: trusted) else { continue }
                record(result, name: assignment.name, into: &outcome)
                if outcome.rebootPending { break }
            }
            try context.outbox.flush(transport)
            if !outcome.committed.isEmpty || !outcome.failed.isEmpty || outcome.rebootPending {
                // Tell the server at once what runs now, rather than at the next poll.
                checkInQuietly(transport)
            }
            // After that check-in: the server takes figures only for what it knows runs.
            sendMetricsIfDue(transport)
        } catch let error as HTTPClientError {
            if case .unknownDevice = error {
                // The server does not know this device with this key (deleted, or re-keyed by an
                // operator): it registers again at the next cycle, which succeeds at once if the
                // server still knows it, and otherwise only if an operator authorised it anew
                // (a new token, or pre-authorisation): a deleted device does not come back by itself.
                DeviceEnrollment(context: context).forgetRegistration()
                transport = nil
            }
            if error.asksToSlowDown { outcome.retryAfterSeconds = error.retryAfterSeconds ?? 60 }
            outcome.error = error.description
        } catch {
            outcome.error = String(describing: error)
        }
        if let error = outcome.error {
            log.error("\(error)")
            noteStatus { $0.lastError = error; $0.lastErrorAt = self.context.clock.now }
        }
        return outcome
    }

    /// Tells the server what runs (the version on trial), then asks for the reboot an
    /// install handler requested. The trial finishes when the agent starts again.
    private func reboot() {
        if let transport = reachableTransport() {
            deliverEvents(transport)
            checkInQuietly(transport)
        }
        guard let command = config.rebootCommand else {
            log.info("a reboot is needed to finish the update; no reboot_command is configured")
            return
        }
        log.info("rebooting: \(command.joined(separator: " "))")
        do {
            let outcome = try CommandRunner.run(command, timeoutSeconds: 300)
            if !outcome.succeeded { log.error("reboot command failed (\(outcome.summary))") }
        } catch { log.error("cannot run the reboot command: \(error)") }
    }

    private func record(_ result: Updater.Result, name: BundleName, into outcome: inout CycleOutcome) {
        switch result {
        case .committed: outcome.committed.append(name)
        case .rolledBack(let reason):
            outcome.failed.append(name)
            noteStatus { $0.lastError = "\(name): \(reason)"; $0.lastErrorAt = self.context.clock.now }
        case .ended(let problem) where problem.ending == .abandoned:
            outcome.abandoned.append(name)
            noteStatus { $0.lastError = "\(name): abandoned: \(problem)"; $0.lastErrorAt = self.context.clock.now }
        case .ended(let problem):
            outcome.failed.append(name)
            let text = problem.ending == .refused ? "refused: \(problem)" : problem.description
            noteStatus { $0.lastError = "\(name): \(text)"; $0.lastErrorAt = self.context.clock.now }
        case .rebootPending: outcome.rebootPending = true
        case .inShadow: outcome.shadowing = true
        case .waitingForTrust(let problem):
            outcome.waitingForTrust.append(name)
            noteStatus { $0.lastError = "\(name): \(problem)"; $0.lastErrorAt = self.context.clock.now }
        case .retryLater(let reason): outcome.error = "\(name): \(reason)"
        }
    }

    func run(_ journal: Journal, verified: VerifiedManifest? = nil) -> Updater.Result {
        // Offline, an update that needs nothing from the server (a trial, a rollback) still ends.
        let transport = reachableTransport()
        var updater = Updater(agent: context, fetcher: transport, journal: journal, verified: verified)
        let result = updater.run()
        if let transport { deliverEvents(transport) }
        return result
    }

    /// The transport that authenticates with this device's key, registering first if needed.
    func connectedTransport() throws -> any DeviceTransport {
        if let transport { return transport }
        let connector = context.environment.connector ?? HTTPDeviceConnector(HTTPClientConfiguration(
            baseURL: config.serverURL, caFile: config.caFile, allowInsecureHTTP: config.allowInsecureHTTP ?? false,
            stallTimeoutSeconds: config.stallTimeoutSeconds ?? 60, requestTimeoutSeconds: config.requestTimeoutSeconds ?? 120,
            maxDownloadBytesPerSecond: config.maxDownloadBytesPerSecond, userAgent: "ota-agent/1"))
        let connected = try DeviceEnrollment(context: context).connect(connector)
        transport = connected
        return connected
    }

    /// The transport, or nil (logged) when the server cannot be reached now.
    func reachableTransport() -> (any DeviceTransport)? {
        do { return try connectedTransport() } catch {
            log.info("not connected to the server: \(error)")
            return nil
        }
    }

    /// Delivers what the outbox holds; what cannot go now waits for the next attempt.
    private func deliverEvents(_ transport: any DeviceTransport) {
        do { try context.outbox.flush(transport) } catch { log.info("events wait for the next check-in: \(error)") }
    }

    /// A check-in whose only purpose is to tell the server what runs now.
    private func checkInQuietly(_ transport: any DeviceTransport) {
        do { _ = try trustedCheckin(transport) } catch { log.info("the server learns what runs at the next check-in: \(error)") }
    }

    /// What runs, what this agent can do (the server offers shadow deployments only to
    /// agents that can run them), and what the device is when the server does not know yet.
    func checkinRequest() throws -> DeviceAPI.CheckinRequest {
        DeviceAPI.CheckinRequest(installed: try running(), attributes: config.attributes,
                                 features: ([.variants] + (config.shadowCommand == nil ? [] : [DeviceAPI.Feature.shadow])).map(\.rawValue),
                                 inventory: context.inventory.forCheckin(now: context.clock.now.secondsSinceEpoch))
    }

    /// A check-in whose answer is verified (`DeviceTrust`). Content downloads may then follow
    /// redirects only to the hosts the answer names (or the config adds).
    func trustedCheckin(_ transport: any DeviceTransport) throws -> TrustedAnswer {
        let request = try checkinRequest()
        let trusted = try context.trust.checkin(transport, request, deviceID: transport.deviceID ?? config.deviceID)
        context.inventory.taken(request.inventory)
        let hosts = Set((config.contentHosts ?? []) + trusted.contentHosts)
        let insecure = config.allowInsecureHTTP ?? false
        transport.mayFollowRedirect = { url in
            guard let target = HTTPClient.contentHost(of: url), hosts.contains(target.host) else { return false }
            // Plain http only where the config allows plain http (tests, a lab network).
            return target.scheme == "https" || (target.scheme == "http" && insecure)
        }
        return trusted
    }

    /// What actually runs: the version on trial where an update is live but not committed,
    /// else the committed one. After a rollback that is the old version again.
    func running() throws -> [DeviceAPI.InstalledBundle] {
        var result: [BundleName: DeviceAPI.InstalledBundle] = [:]
        for record in try context.records() {
            result[record.name] = .init(name: record.name, version: record.version, digest: record.digest, state: .committed, variant: record.variant)
        }
        // A crash during activation leaves `staged` with the link already on the new slot.
        for journal in try context.journals() where [.activated, .awaitingReboot, .trial, .committing].contains(journal.step.name)
            || (journal.step == .staged && FileSystem.readSymlink(layout.current(journal.name)) == layout.linkTarget(journal.name, journal.slot)) {
            result[journal.name] = .init(name: journal.name, version: journal.version, digest: journal.digest, state: .trial, variant: journal.variant)
        }
        return result.values.sorted { $0.name < $1.name }
    }

    /// The live models' figures, every `metrics_interval_s`; a failure is logged, never fatal.
    private func sendMetricsIfDue(_ transport: any DeviceTransport) {
        let collector = MetricsCollector(context: context)
        guard collector.isDue(lastCollectedEpoch: storedStatus().lastMetricsEpoch) else { return }
        let (metrics, problems) = collector.collect()
        noteStatus { $0.lastMetricsEpoch = self.context.clock.now.secondsSinceEpoch }
        for problem in problems { log.error("\(problem)") }
        if let problem = problems.first { noteStatus { $0.lastError = problem; $0.lastErrorAt = self.context.clock.now } }
        guard !metrics.isEmpty else { return }
        do {
            try transport.sendMetrics(metrics)
            log.info("sent the figures of \(metrics.map { "\($0.bundleName) \($0.version)" }.joined(separator: ", "))")
        } catch { log.error("cannot send model metrics: \(error)") }
    }

    /// Changes `status.json`. What it holds is for people (`ota-agent status`): a write that
    /// fails is logged and the cycle goes on.
    private func noteStatus(_ change: (inout AgentStatus) -> Void) {
        var current = storedStatus()
        change(&current)
        do { try StateFile.write(current, to: layout.status) } catch { log.warning("cannot write \(layout.status): \(error)") }
    }

    /// `status.json`, or an empty status when it is missing or unreadable (logged).
    func storedStatus() -> AgentStatus {
        do { return try StateFile.read(AgentStatus.self, from: layout.status) ?? AgentStatus() } catch {
            log.warning("cannot read \(layout.status): \(error); starting a new one")
            return AgentStatus()
        }
    }
}
