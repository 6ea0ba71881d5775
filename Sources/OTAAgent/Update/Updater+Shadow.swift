import OTACore

/// The shadow phase: the staged candidate runs beside the live model on the same live inputs
/// and serves nothing, until the application has measured `min_samples` of them or `max_s`
/// passed. Then the device decides against the deployment's gates: pass goes on to
/// activation, fail discards the candidate without it ever serving.
///
/// It never blocks a cycle: each cycle reads the report and returns `inShadow` until there is
/// enough evidence, so check-ins (and a cancellation) go on meanwhile. The verdict is
/// journaled before it is acted on, so a crash at any point repeats the same verdict.
extension Updater {
    /// Starts the shadow phase right after staging, with a fresh id for its report.
    mutating func beginShadow() throws {
        try advance(to: .shadow(Journal.ShadowPhase(id: Hex.encode(SecureRandom.bytes(16)), startedAt: agent.clock.now)))
    }

    /// Nil once the candidate passed (the journal is at `staged`); `inShadow` while the
    /// application gathers evidence. Throws `UpdateProblem.stoppedInShadow` when it failed.
    mutating func shadow(_ phase: Journal.ShadowPhase) throws -> Result? {
        guard let policy = journal.shadowPolicy else {
            throw UpdateProblem.stoppedInShadow("stopped in shadow: the update's journal has a shadow step without its policy")
        }
        var phase = phase
        if phase.verdict == nil, let waiting = try gatherEvidence(policy, &phase) { return waiting }
        switch phase.verdict {
        case nil:
            return nil
        case .failed(_, let reason):
            // `end` reports the outcome and stops the application's evaluation itself.
            throw UpdateProblem.stoppedInShadow(reason)
        case .passed(let outcome):
            stopShadow()
            log.info("\(label): passed in shadow (\(outcome.gates.map(\.summary).joined(separator: ", ")))")
            try report(.shadow, "passed in shadow after \(outcome.report?.samples ?? 0) samples: \(outcome.gates.map(\.summary).joined(separator: ", "))",
                       shadow: outcome)
            try advance(to: .staged)
            return nil
        }
    }

    /// Tells the application (once) and reads its report; journals a verdict when there is
    /// enough evidence or time is up.
    private mutating func gatherEvidence(_ policy: ShadowPolicy, _ phase: inout Journal.ShadowPhase) throws -> Result? {
        guard let command = agent.config.shadowCommand else {
            return try decide(&phase, .init(passed: false, report: nil, gates: []), why: "this device has no shadow_command, so its candidate cannot be proven")
        }
        // Told once per phase, and again by each new agent process (after a crash or a
        // reboot the application may have lost the candidate): `start` with the same id must
        // be harmless to repeat.
        if !phase.commandRan || !agent.startedShadows.contains(phase.id) {
            if !phase.commandRan {
                try FileSystem.replaceSymlink(layout.candidate(journal.name), target: layout.linkTarget(journal.name, journal.slot))
                // Whatever cannot be removed here is refused when read (not a regular file).
                try? FileSystem.removeFile(layout.shadowReport(journal.name))
                try report(.shadow, "running \(journal.version) in shadow beside \(journal.previous?.version?.description ?? "nothing"): \(policy.minSamples) samples within \(DurationText.describe(seconds: policy.maxSeconds)), gates \(policy.gates.map(\.description).joined(separator: ", "))")
                // Journaled before it runs: a start that times out half-way is still stopped.
                phase.commandRan = true
                journal.step = .shadow(phase)
                try saveJournal()
            }
            agent.startedShadows.insert(phase.id)
            let outcome: CommandRunner.Outcome
            do { outcome = try CommandRunner.run(command, environment: shadowEnvironment("start", policy, shadowID: phase.id), timeoutSeconds: 120) } catch {
                return try decide(&phase, .init(passed: false, report: nil, gates: []), why: "cannot run the shadow command: \(error)")
            }
            guard outcome.succeeded else {
                return try decide(&phase, .init(passed: false, report: nil, gates: []), why: "the shadow command failed (\(outcome.summary))")
            }
            agent.reached(.shadowStarted)
        }
        let now = agent.clock.now
        if now < phase.startedAt {
            // The clock went back: count the phase's time from now, so it still ends.
            phase.startedAt = now
            journal.step = .shadow(phase)
            try saveJournal()
        }
        let elapsed = now.seconds(since: phase.startedAt)
        switch readReport(shadowID: phase.id) {
        case .malformed(let problem):
            return try decide(&phase, .init(passed: false, report: nil, gates: []), why: "the application's shadow report is unusable: \(problem)")
        case .found(let report) where report.samples >= policy.minSamples || elapsed >= Int64(policy.maxSeconds):
            let verdict = policy.verdict(report)
            let outcome = DeviceAPI.ShadowOutcome(passed: verdict.passed, report: report, gates: verdict.results)
            return try decide(&phase, outcome, why: Self.failureDetail(outcome, policy: policy))
        case .missing(let why) where elapsed >= Int64(policy.maxSeconds):
            return try decide(&phase, .init(passed: false, report: nil, gates: []), why: "no shadow report within \(DurationText.describe(seconds: policy.maxSeconds)) (\(why))")
        case .found(let report):
            log.info("\(label): in shadow, \(report.samples) of \(policy.minSamples) samples after \(elapsed)s")
            return .inShadow
        case .missing:
            log.info("\(label): in shadow, no report yet after \(elapsed)s")
            return .inShadow
        }
    }

    /// Journals the verdict (and, for a failure, why) before anything acts on it.
    private mutating func decide(_ phase: inout Journal.ShadowPhase, _ outcome: DeviceAPI.ShadowOutcome, why: String) throws -> Result? {
        phase.verdict = outcome.passed ? .passed(outcome)
            : .failed(outcome, reason: why.hasPrefix("stopped in shadow") ? why : "stopped in shadow: " + why)
        journal.step = .shadow(phase)
        try saveJournal()
        agent.reached(.shadowDecided)
        return nil
    }

    /// "stopped in shadow after 512 samples: latency_p95 3.1x > 1.2x" (with every figure that failed).
    static func failureDetail(_ outcome: DeviceAPI.ShadowOutcome, policy: ShadowPolicy) -> String {
        let failed = outcome.gates.filter { !$0.passed }
        if let report = outcome.report, !failed.isEmpty, report.samples >= policy.minSamples {
            return "stopped in shadow after \(report.samples) samples: \(failed.map(\.summary).joined(separator: ", "))"
        }
        return "stopped in shadow: " + (outcome.report.map { policy.verdict($0).reason } ?? "no usable report")
    }

    private enum ReportRead {
        case found(ShadowReport)
        case missing(String)
        case malformed(String)
    }

    /// The application's report, as hostile as any input: a regular file (not a link or a
    /// pipe, checked on the open descriptor), at most 64 KiB, strictly shaped, for this very
    /// shadow phase.
    private func readReport(shadowID: String) -> ReportRead {
        let path = layout.shadowReport(journal.name)
        let report: ShadowReport
        do { report = try ShadowReport.decode(try FileSystem.readRegularFile(path, limit: ShadowReport.maximumBytes)) } catch let error as FileError where error.isNotFound {
            return .missing("the application wrote nothing to \(path)")
        } catch {
            return .malformed(String(describing: error))
        }
        // Left from another attempt (or another candidate): never evidence for this one.
        guard report.shadowID == shadowID else { return .missing("the report at \(path) names another shadow_id") }
        return .found(report)
    }

    /// Tells the application to drop the candidate, and removes its link and report. Best
    /// effort and safe to repeat: the candidate never served, so nothing can go wrong here
    /// that a later cleanup does not repair.
    func stopShadow() {
        guard case .shadow(let phase) = journal.step else { return }
        if let command = agent.config.shadowCommand, phase.commandRan, let policy = journal.shadowPolicy {
            do {
                let outcome = try CommandRunner.run(command, environment: shadowEnvironment("stop", policy, shadowID: phase.id),
                                                    timeoutSeconds: 120)
                if !outcome.succeeded { log.error("\(label): the shadow command could not stop the candidate (\(outcome.summary))") }
            } catch { log.error("\(label): cannot run the shadow command: \(error)") }
        }
        do {
            try FileSystem.removeFile(layout.candidate(journal.name))
            try FileSystem.removeFile(layout.shadowReport(journal.name))
        } catch {
            log.warning("\(label): cannot remove the candidate's link or report (\(error)); a later cleanup does")
        }
    }

    private func shadowEnvironment(_ action: String, _ policy: ShadowPolicy, shadowID: String) -> [String: String] {
        ["OTA_SHADOW_ACTION": action, "OTA_SHADOW_ID": shadowID, "OTA_SHADOW_REPORT": layout.shadowReport(journal.name),
         "OTA_SHADOW_MIN_SAMPLES": String(policy.minSamples), "OTA_SHADOW_MAX_S": String(policy.maxSeconds),
         "OTA_SHADOW_SAMPLE_SHARE": String(policy.sampleShare),
         "OTA_BUNDLE_NAME": journal.name.rawValue, "OTA_BUNDLE_VERSION": journal.version.description,
         "OTA_LIVE_VERSION": journal.previous?.version?.description ?? "",
         "OTA_CANDIDATE_DIR": layout.candidate(journal.name), "OTA_CURRENT_DIR": layout.current(journal.name)]
    }
}
