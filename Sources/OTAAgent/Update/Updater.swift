import Logging
import OTAClient
import OTACore

/// Carries one update through its steps, from whatever step its journal says. Every step
/// is journaled before the next begins; each step is safe to repeat after a crash.
///
/// Every update ends. Before activation it goes on, is given up (`failed`) or is abandoned;
/// transfer problems only delay it. From activation on, every error leads to a verdict:
/// commit, or roll back. A journal older than `max_update_age_s` ends either way.
struct Updater {
    let agent: AgentContext
    let fetcher: (any ContentFetcher)?
    var journal: Journal
    /// What the health check said, for the success event.
    var healthNote = ""
    /// Files whose SHA-256 this run has checked, so staging does not hash them again.
    var verified = Set<SHA256Digest>()

    enum Result: Equatable {
        case committed
        /// Put back after activation (why, as reported); the version is not tried again here.
        case rolledBack(String)
        /// Ended before activation: given up, abandoned, or refused before it started.
        case ended(UpdateProblem)
        case rebootPending
        /// Kept, to go on at the next cycle (the network, the disk).
        case retryLater(String)
        /// The candidate is being proven in shadow; the next cycle looks again.
        case inShadow
        /// Not started, or paused before activation, until this device's trust is fresh.
        case waitingForTrust(UpdateProblem)
    }

    /// The journal's envelope verified against the trust root in force now, once per run (a
    /// large model's chunk list makes the manifest megabytes).
    private let verification: Swift.Result<VerifiedManifest, any Error>
    /// Its manifest as the chosen variant's (`Manifest.selecting`): what this update installs.
    private let selection: Swift.Result<Manifest, any Error>

    /// `verified`: the journal's envelope as the caller has just verified it.
    init(agent: AgentContext, fetcher: (any ContentFetcher)?, journal: Journal, verified: VerifiedManifest? = nil) {
        self.agent = agent
        self.fetcher = fetcher
        self.journal = journal
        let verification = verified.map { .success($0) } ?? Swift.Result { try agent.trust.bundleTrust().verify(journal.envelope) }
        self.verification = verification
        selection = Swift.Result { try verification.get().manifest.selecting(journal.variant) }
    }

    var layout: StateLayout { agent.layout }
    var manifest: Manifest {
        get throws {
            if case .success(let selected) = selection { return selected }
            return try Manifest.decode(journal.envelope.payload).selecting(journal.variant)
        }
    }
    var label: String { journal.label }

    /// The agent's log, with this update's bundle, version and deployment as metadata.
    var log: Logger {
        var logger = agent.log
        logger[metadataKey: "bundle"] = "\(journal.name)"
        logger[metadataKey: "version"] = "\(journal.version)"
        if let deployment = journal.deploymentID { logger[metadataKey: "deployment"] = "\(deployment)" }
        return logger
    }

    mutating func run() -> Result {
        // A healthy version being committed has passed every check; committing is safe to
        // repeat, so nothing may turn it into a rollback now.
        if journal.step != .committing, let problem = recheck() {
            return journal.step.isLive ? verdict(rollingBackBecause: problem) : end(problem)
        }
        if journal.step != .committing, isOverdue {
            let problem = UpdateProblem.overdue(maximumAge: agent.config.maxUpdateAge, trustProblem: nil)
            return journal.step.isLive ? verdict(rollingBackBecause: problem) : end(problem)
        }
        do {
            while true {
                do {
                    if let result = try step() { return result }
                } catch let error where journal.step.isLive && !Self.isFinishing(journal.step) && !(error is UpdateProblem) {
                    // After activation there is no "later": whatever went wrong, put the
                    // previous version back.
                    try fail(.installFailed(String(describing: error)))
                }
            }
        } catch let problem as UpdateProblem {
            return journal.step.isLive ? verdict(rollingBackBecause: problem) : end(problem)
        } catch {
            // The network or the disk: keep the journal and resume (downloads continue
            // where they stopped).
            log.error("\(label): \(error); will resume")
            return .retryLater(String(describing: error))
        }
    }

    /// Committing and rolling back are themselves the verdict: they are repeated, never undone.
    private static func isFinishing(_ step: Journal.Step) -> Bool {
        if case .rollingBack = step { return true }
        return step == .committing
    }

    /// Ends an update that is not live yet (the server no longer offers it); a live one goes
    /// on to its verdict.
    mutating func abandon(_ problem: UpdateProblem) -> Result {
        guard !journal.step.isLive else { return run() }
        return end(problem)
    }

    /// One step; a result when the update is over (or waits for a reboot).
    private mutating func step() throws -> Result? {
        switch journal.step {
        case .verified:
            try report(.downloading, "starting")
            try advance(to: .downloading)
        case .downloading:
            let fetched = try download()
            try advance(to: .downloaded)
            try report(.downloaded, fetched, transfer: try transfer)
        case .downloaded:
            guard try checkModelSignature(), try stage() else { try advance(to: .downloading); break }
            if journal.shadowPolicy != nil && journal.previous != nil {
                try beginShadow()
            } else {
                if journal.shadowPolicy != nil {
                    try report(.shadow, "no live model to compare with on this device: the shadow phase is skipped; the health check decides")
                }
                try advance(to: .staged)
            }
        case .shadow(let phase):
            if let result = try shadow(phase) { return result }
        case .staged:
            try report(.installing, journal.kind.isModel ? "switching \(layout.current(journal.name)) to \(journal.slot)"
                                                          : "running the \(journal.kind) install handler")
            if try agent.installer(for: journal.kind).activate(journal) == .rebootRequired {
                try advance(to: .awaitingReboot)
                try report(.installing, "rebooting to finish the installation")
                log.info("\(label): the install handler asked for a reboot")
                return .rebootPending
            }
            try advance(to: .activated)
        case .activated:
            try agent.installer(for: journal.kind).afterActivation(journal)
            try advance(to: .trial)
        case .awaitingReboot:
            log.info("\(label): resuming after the reboot")
            try advance(to: .trial)
        case .trial:
            try report(.healthCheck, "checking the new version")
            let health = try HealthCheck(config: agent.config, layout: layout).run(journal, manifest: try manifest)
            if let problem = health.problem {
                try fail(.unhealthy(problem))
            } else {
                healthNote = health.note
                try advance(to: .committing)
            }
        case .committing:
            do { try agent.installer(for: journal.kind).commit(journal) } catch {
                try fail(.installFailed("the install handler could not commit: \(error)"))
                return nil
            }
            try commit()
            return .committed
        case .rollingBack(let reason):
            return .rolledBack(try rollBack(reason))
        }
        return nil
    }

    // MARK: Checks on the journal

    /// A journal read back from disk is input like any other: its envelope must still verify
    /// against the trust root in force now, and what was derived from it must agree with it.
    private func recheck() -> UpdateProblem? {
        let verified: VerifiedManifest
        do { verified = try verification.get() } catch {
            return .noLongerVerifies("the bundle no longer verifies against this device's trust root: \(error)")
        }
        let manifest = verified.manifest
        guard verified.digest == journal.digest, manifest.name == journal.name, manifest.kind == journal.kind,
              manifest.version == journal.version, journal.slot == SlotName(verified) else {
            return .noLongerVerifies("the update's journal does not match its signed manifest")
        }
        if case .failure(let error) = selection { return .noLongerVerifies("the update's journal names a variant the bundle does not hold: \(error)") }
        return nil
    }

    /// Older than `max_update_age_s`: whatever holds it up, it ends now. A start in the
    /// future (the clock went back) counts from now.
    var isOverdue: Bool { agent.clock.now.seconds(since: journal.startedAt) > agent.config.maxUpdateAge }

    // MARK: Journal and reports

    mutating func advance(to step: Journal.Step) throws {
        journal.step = step
        try saveJournal()
        log.info("\(label): \(step.name.rawValue)")
        agent.reached(CrashPoint(step.name))
    }

    func saveJournal() throws { try StateFile.write(journal, to: layout.journal(journal.name)) }

    func report(_ state: DeviceAPI.UpdateState, _ detail: String, transfer: DeviceAPI.Transfer? = nil,
                shadow: DeviceAPI.ShadowOutcome? = nil) throws {
        try agent.outbox.add(.init(deploymentID: journal.deploymentID, bundleName: journal.name, version: journal.version.description,
                                   state: state, detail: detail, at: agent.clock.now, transfer: transfer, shadow: shadow,
                                   variant: journal.variant))
    }

    private func removeJournal() throws {
        try FileSystem.remove(layout.journal(journal.name))
        try FileSystem.syncDirectory(layout.journals)
    }

    // MARK: Endings

    /// Records the committed version; safe to repeat after a crash at any point.
    private mutating func commit() throws {
        // The version is healthy and live: committing must not fail on a journal damaged since
        // its checks. The file list only lets the next update reuse these files, so without a
        // manifest to read it from, the next update fetches them all.
        let files = (try? manifest)?.files ?? []
        let record = InstalledRecord(
            name: journal.name, kind: journal.kind, version: journal.version, digest: journal.digest, slot: journal.slot,
            // Without chunk lists: the next update cuts these files itself.
            files: files.map { .init(path: $0.path, size: $0.size, sha256: $0.sha256) }, committedAt: agent.clock.now,
            previous: journal.previous, transfer: files.isEmpty ? nil : try transfer, variant: journal.variant)
        try StateFile.write(record, to: layout.record(journal.name))
        try report(.succeeded, "committed \(journal.version) after its health check" + (healthNote.isEmpty ? "" : " (\(healthNote))"))
        agent.reached(.committed)
        try removeJournal()
        log.info("\(label): committed")
        agent.cleanUp(journal.name, keep: [journal.slot] + [journal.previous?.slot].compactMap { $0 })
    }

    /// Records why, then rolls back: the live version is put back.
    private mutating func fail(_ problem: UpdateProblem) throws {
        log.error("\(label): \(problem)")
        try advance(to: .rollingBack(reason: problem.description))
    }

    /// Rolls a live update back without any further step.
    private mutating func verdict(rollingBackBecause problem: UpdateProblem) -> Result {
        do {
            try fail(problem)
            return .rolledBack(try rollBack(problem.description))
        } catch {
            return .retryLater(String(describing: error))
        }
    }

    private mutating func rollBack(_ reason: String) throws -> String {
        var detail = reason
        // A reload or handler that fails is reported; anything else (the link could not be
        // swapped back) keeps the journal at rolling-back, to be repeated.
        do { try agent.installer(for: journal.kind).rollback(journal) } catch let error as InstallError {
            detail += "; rollback: \(error)"
        }
        try agent.recordFailure(journal.name, journal.version)
        try report(.rolledBack, "\(detail); \(journal.previous.map { "back on \($0.version?.description ?? $0.slot.rawValue)" } ?? "no previous version")")
        agent.reached(.rolledBack)
        try removeJournal()
        log.info("\(label): rolled back")
        agent.cleanUp(journal.name, keep: [journal.previous?.slot].compactMap { $0 })
        return detail
    }

    /// Ends an update before activation: nothing to undo, and the version is not condemned.
    /// This deployment's assignment is not taken again; a new deployment of it is.
    private func end(_ problem: UpdateProblem) -> Result {
        log.error("\(label): \(problem.reportedState.rawValue): \(problem)")
        if case .shadow = journal.step { stopShadow() }
        do {
            try report(problem.reportedState, problem.description, shadow: journal.shadowOutcome)
            _ = try agent.noteEnded(AssignmentKey(deploymentID: journal.deploymentID, digest: journal.digest))
            try removeJournal()
            agent.cleanUp(journal.name, keep: [journal.previous?.slot].compactMap { $0 })
        } catch {
            return .retryLater(String(describing: error))
        }
        return .ended(problem)
    }
}
