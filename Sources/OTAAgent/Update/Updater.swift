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
        case rolledBack(String)
        /// Given up before activation; the version may be deployed again.
        case failed(String)
        case abandoned(String)
        case rebootPending
        case retryLater(String)
        /// The candidate is being proven in shadow; the next cycle looks again.
        case inShadow
        /// Not started, or paused before activation, until this device's trust is fresh.
        case waitingForTrust(String)
    }

    /// The journal's envelope verified against the trust root in force now, once per run (a
    /// large model's chunk list makes the manifest megabytes).
    private let verification: Swift.Result<VerifiedManifest, any Error>

    /// `verified`: the journal's envelope as the caller has just verified it.
    init(agent: AgentContext, fetcher: (any ContentFetcher)?, journal: Journal, verified: VerifiedManifest? = nil) {
        self.agent = agent
        self.fetcher = fetcher
        self.journal = journal
        verification = verified.map { .success($0) } ?? Swift.Result { try agent.trust.bundleTrust().verify(journal.envelope) }
    }

    var layout: StateLayout { agent.layout }
    var manifest: Manifest {
        get throws {
            if case .success(let verified) = verification { return verified.manifest }
            return try Manifest.decode(journal.envelope.payload)
        }
    }
    var label: String { "\(journal.name) \(journal.version)" }

    /// The slot a verified bundle is staged in.
    static func slotName(_ verified: VerifiedManifest) -> String {
        "\(verified.manifest.version.description)-\(verified.digest.short)"
    }

    mutating func run() -> Result {
        // A healthy version being committed has passed every check; committing is safe to
        // repeat, so nothing may turn it into a rollback now.
        if journal.step != .committing, let problem = recheck() {
            return journal.step.isLive ? verdict(rollingBackBecause: problem) : end(.gaveUp(problem))
        }
        if journal.step != .committing, isOverdue {
            let problem = "the update did not finish within \(agent.config.maxUpdateAge) s (max_update_age_s)"
            return journal.step.isLive ? verdict(rollingBackBecause: problem) : end(.abandoned(problem))
        }
        do {
            while true {
                do {
                    if let result = try step() { return result }
                } catch let error where journal.step.isLive && ![.rollingBack, .committing].contains(journal.step) && !(error is UpdateStop) {
                    // After activation there is no "later": whatever went wrong, put the
                    // previous version back.
                    try fail(String(describing: error))
                }
            }
        } catch let stop as UpdateStop {
            return end(stop)
        } catch {
            // The network or the disk: keep the journal and resume (downloads continue
            // where they stopped).
            agent.log.error("\(label): \(error); will resume")
            return .retryLater(String(describing: error))
        }
    }

    /// Ends an update that is not live yet because the server no longer offers it.
    mutating func abandon(_ reason: String) -> Result {
        guard !journal.step.isLive else { return run() }
        return end(.abandoned(reason))
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
            guard try stage() else { try advance(to: .downloading); break }
            if journal.shadow != nil && journal.previousSlot != nil {
                try beginShadow()
            } else {
                if journal.shadow != nil {
                    try report(.shadow, "no live model to compare with on this device: the shadow phase is skipped; the health check decides")
                }
                try advance(to: .staged)
            }
        case .shadow:
            if let result = try shadow() { return result }
        case .staged:
            try report(.installing, journal.kind == "model" ? "switching \(layout.current(journal.name)) to \(journal.slot)" : "running the \(journal.kind) install handler")
            if try agent.installer(for: journal.kind).activate(journal, slot: journal.slot) == .rebootRequired {
                try advance(to: .awaitingReboot)
                try report(.installing, "rebooting to finish the installation")
                agent.log.info("\(label): the install handler asked for a reboot")
                return .rebootPending
            }
            try advance(to: .activated)
        case .activated:
            try agent.installer(for: journal.kind).afterActivation(journal)
            try advance(to: .trial)
        case .awaitingReboot:
            agent.log.info("\(label): resuming after the reboot")
            try advance(to: .trial)
        case .trial:
            try report(.healthCheck, "checking the new version")
            let health = try HealthCheck(config: agent.config, layout: layout).run(journal, manifest: try manifest)
            if let problem = health.problem {
                try fail("health check failed: \(problem)")
            } else {
                healthNote = health.note
                try advance(to: .committing)
            }
        case .committing:
            do { try agent.installer(for: journal.kind).commit(journal) } catch {
                try fail("the install handler could not commit: \(error)")
                return nil
            }
            try commit()
            return .committed
        case .rollingBack:
            return .rolledBack(try rollBack())
        }
        return nil
    }

    // MARK: Checks on the journal

    /// A journal read back from disk is input like any other: its envelope must still verify
    /// against the trust root in force now, and what was derived from it must agree with it.
    private func recheck() -> String? {
        let verified: VerifiedManifest
        do { verified = try verification.get() } catch {
            return "the bundle no longer verifies against this device's trust root: \(error)"
        }
        let manifest = verified.manifest
        guard verified.digest.hex == journal.digest, manifest.name == journal.name, manifest.kind == journal.kind,
              manifest.version.description == journal.version, journal.slot == Self.slotName(verified) else {
            return "the update's journal does not match its signed manifest"
        }
        if let previous = journal.previousSlot, SafeName.problem(with: previous, what: "slot") != nil {
            return "the update's journal names an invalid previous slot"
        }
        return nil
    }

    private var age: Int64? { Timestamp.parse(journal.startedAt).map { Timestamp.epochSeconds() - $0 } }

    /// Older than `max_update_age_s`: whatever holds it up, it ends now.
    var isOverdue: Bool { (age ?? 0) > agent.config.maxUpdateAge }

    // MARK: Journal and reports

    mutating func advance(to step: Journal.Step) throws {
        journal.step = step
        try saveJournal()
        agent.log.info("\(label): \(step.rawValue)")
        agent.crash.reached(step.rawValue)
    }

    func saveJournal() throws { try StateFile.write(journal, to: layout.journal(journal.name)) }

    func report(_ state: DeviceAPI.UpdateState, _ detail: String, transfer: DeviceAPI.Transfer? = nil,
                shadow: DeviceAPI.ShadowOutcome? = nil) throws {
        try agent.outbox.add(.init(deploymentID: journal.deploymentID, bundleName: journal.name, version: journal.version,
                                   state: state, detail: detail, transfer: transfer, shadow: shadow))
    }

    private func removeJournal() throws {
        try FileSystem.remove(layout.journal(journal.name))
        try FileSystem.syncDirectory(layout.journals)
    }

    // MARK: Endings

    /// Records the committed version; safe to repeat after a crash at any point.
    private mutating func commit() throws {
        let manifest = try manifest
        let record = InstalledRecord(
            name: journal.name, kind: journal.kind, version: journal.version, digest: journal.digest, slot: journal.slot,
            // Without chunk lists: the next update cuts these files itself.
            files: manifest.files.map { .init(path: $0.path, size: $0.size, sha256: $0.sha256) }, committedAt: Timestamp.now(),
            previous: journal.previousSlot.map { .init(version: journal.previousVersion ?? "", digest: journal.previousDigest ?? "", slot: $0) },
            transfer: try transfer)
        try StateFile.write(record, to: layout.record(journal.name))
        try report(.succeeded, "committed \(journal.version) after its health check" + (healthNote.isEmpty ? "" : " (\(healthNote))"))
        agent.crash.reached("committed")
        try removeJournal()
        agent.log.info("\(label): committed")
        agent.cleanUp(journal.name, keep: [journal.slot, journal.previousSlot].compactMap { $0 })
    }

    /// Records why, then rolls back: the live version is put back.
    private mutating func fail(_ reason: String) throws {
        agent.log.error("\(label): \(reason)")
        journal.failure = reason
        try advance(to: .rollingBack)
    }

    /// Rolls a live update back without any further step.
    private mutating func verdict(rollingBackBecause reason: String) -> Result {
        do {
            try fail(reason)
            return .rolledBack(try rollBack())
        } catch {
            return .retryLater(String(describing: error))
        }
    }

    private mutating func rollBack() throws -> String {
        let reason = journal.failure ?? "rolled back"
        var detail = reason
        // A reload or handler that fails is reported; anything else (the link could not be
        // swapped back) keeps the journal at rolling-back, to be repeated.
        do { try agent.installer(for: journal.kind).rollback(journal) } catch let error as InstallError {
            detail += "; rollback: \(error)"
        }
        try agent.recordFailure(journal.name, journal.version)
        try report(.rolledBack, "\(detail); \(journal.previousVersion.map { "back on \($0)" } ?? "no previous version")")
        agent.crash.reached("rolled-back")
        try removeJournal()
        agent.log.info("\(label): rolled back")
        agent.cleanUp(journal.name, keep: [journal.previousSlot].compactMap { $0 })
        return detail
    }

    /// Ends an update before activation: nothing to undo, and the version is not condemned.
    /// This deployment's assignment is not taken again; a new deployment of it is.
    private func end(_ stop: UpdateStop) -> Result {
        let (state, result): (DeviceAPI.UpdateState, Result)
        switch stop {
        case .gaveUp(let reason): (state, result) = (.failed, .failed(reason))
        case .abandoned(let reason): (state, result) = (.abandoned, .abandoned(reason))
        }
        agent.log.error("\(label): \(state.rawValue): \(stop)")
        if journal.step == .shadow { stopShadow() }
        do {
            try report(state, stop.description, shadow: journal.shadowOutcome)
            _ = try agent.noteEnded(Agent.assignmentKey(deploymentID: journal.deploymentID, digest: journal.digest))
            try removeJournal()
            agent.cleanUp(journal.name, keep: [journal.previousSlot].compactMap { $0 })
        } catch {
            return .retryLater(String(describing: error))
        }
        return result
    }
}
