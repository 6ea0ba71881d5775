import OTAClient
import OTACore

/// Carries one update through its steps, from whatever step its journal says. Every step
/// is journaled before the next begins; each step is safe to repeat after a crash.
struct Updater {
    let agent: AgentContext
    let client: DeviceClient?
    var journal: Journal
    /// What the health check said, for the success event.
    var healthNote = ""

    enum Result: Equatable {
        case committed
        case rolledBack(String)
        case failed(String)
        case rebootPending
        case retryLater(String)
    }

    /// A failure that ends the update: the version is recorded as failed here.
    struct Permanent: Error, CustomStringConvertible { let description: String }

    private var layout: StateLayout { agent.layout }
    private var manifest: Manifest { get throws { try Manifest.decode(journal.envelope.payload) } }
    private var label: String { "\(journal.name) \(journal.version)" }

    mutating func run() -> Result {
        do {
            while true {
                switch journal.step {
                case .verified:
                    try report(.downloading, "starting")
                    try advance(to: .downloading)
                case .downloading:
                    let fetched = try download()
                    try advance(to: .downloaded)
                    try report(.downloaded, fetched)
                case .downloaded:
                    try stage()
                    try advance(to: .staged)
                case .staged:
                    try report(.installing, journal.kind == "model" ? "switching \(layout.current(journal.name)) to \(journal.slot)" : "running the \(journal.kind) install handler")
                    let activation: Activation
                    do { activation = try agent.installer(for: journal.kind).activate(journal, slot: journal.slot) } catch {
                        try fail(String(describing: error), rollBack: true)
                        continue
                    }
                    if activation == .rebootRequired {
                        try advance(to: .awaitingReboot)
                        try report(.installing, "rebooting to finish the installation")
                        agent.log.info("\(label): the install handler asked for a reboot")
                        return .rebootPending
                    }
                    try advance(to: .activated)
                case .activated:
                    do { try agent.installer(for: journal.kind).afterActivation(journal) } catch {
                        try fail(String(describing: error), rollBack: true)
                        continue
                    }
                    try advance(to: .trial)
                case .awaitingReboot:
                    agent.log.info("\(label): resuming after the reboot")
                    try advance(to: .trial)
                case .trial:
                    try report(.healthCheck, "checking the new version")
                    let health = try healthCheck()
                    if let problem = health.problem {
                        try fail("health check failed: \(problem)", rollBack: true)
                        continue
                    }
                    healthNote = health.note
                    try advance(to: .committing)
                case .committing:
                    try commit()
                    return .committed
                case .rollingBack:
                    let reason = try rollBack()
                    return .rolledBack(reason)
                }
            }
        } catch let error as Permanent {
            return finishFailed(error.description)
        } catch let error as HTTPClientError {
            // The network: keep the journal, resume later (downloads continue where they stopped).
            agent.log.error("\(label): \(error); will resume")
            return .retryLater(error.description)
        } catch {
            agent.log.error("\(label): \(error); will resume")
            return .retryLater(String(describing: error))
        }
    }

    // MARK: Steps

    private mutating func advance(to step: Journal.Step) throws {
        journal.step = step
        try StateFile.write(journal, to: layout.journal(journal.name))
        agent.log.info("\(label): \(step.rawValue)")
        agent.crash.reached(step.rawValue)
    }

    private func report(_ state: DeviceAPI.UpdateState, _ detail: String) throws {
        try agent.outbox.add(.init(deploymentID: journal.deploymentID, bundleName: journal.name, version: journal.version,
                                   state: state, detail: detail))
    }

    /// Fetches every file the current slot does not hold, resuming partial downloads, each
    /// checked against its SHA-256 before it is kept.
    private func download() throws -> String {
        let manifest = try manifest
        let reusable = agent.reusableFiles(for: journal.name)
        var fetched: UInt64 = 0
        var reused = 0
        var seen = Set<SHA256Digest>()
        for file in manifest.files where seen.insert(file.sha256).inserted {
            if reusable[file.sha256] != nil || FileSystem.exists(layout.download(file.sha256)) {
                reused += 1
                continue
            }
            guard let client else { throw HTTPClientError.transport("not connected") }
            let partial = layout.partialDownload(file.sha256)
            let before = FileSystem.fileSize(partial) ?? 0
            let crash = agent.crash
            let midway = file.size / 2
            var crashed = false
            var nextReport = UInt64(0)
            let log = agent.log
            let name = "\(label): \(file.path)"
            let result = try client.download(file.sha256, to: partial, expectedSize: file.size) { done, total in
                if !crashed, done >= midway, done > before, done < file.size {
                    crashed = true
                    crash.reached("download-midway")
                }
                // Large files log their progress every tenth.
                if total >= 8 << 20, done >= nextReport {
                    log.info("\(name): \(done * 100 / total)% of \(total) bytes")
                    nextReport = done + total / 10
                }
            }
            fetched += result.received
            if before > 0 { agent.log.info("\(label): \(file.path) resumed at byte \(before)") }
            guard result.sha256 == file.sha256, FileSystem.fileSize(partial) == file.size else {
                try? FileSystem.remove(partial)
                throw Permanent(description: "'\(file.path)' from the server does not match its signed SHA-256 (tampered or corrupt content on the server)")
            }
            try FileSystem.rename(partial, to: layout.download(file.sha256))
            try FileSystem.syncDirectory(layout.downloads)
        }
        return "fetched \(fetched) bytes; \(reused) of \(seen.count) files already on the device"
    }

    /// Assembles the new slot from verified downloads and unchanged files of the current
    /// slot (hard links), then renames it into place.
    private func stage() throws {
        let manifest = try manifest
        let reusable = agent.reusableFiles(for: journal.name)
        let staging = layout.staging(journal.name, journal.slot)
        try FileSystem.remove(staging)
        try FileSystem.createDirectory(staging)
        var folders = Set([staging])
        for file in manifest.files {
            let destination = staging + "/" + file.path.value
            let folder = FileSystem.parent(of: destination)
            try FileSystem.createDirectory(folder)
            folders.insert(folder)
            let source = FileSystem.exists(layout.download(file.sha256)) ? layout.download(file.sha256) : reusable[file.sha256]
            guard let source, FileSystem.fileSize(source) == file.size else {
                throw Permanent(description: "'\(file.path)' is no longer available to stage")
            }
            try FileSystem.hardLink(source, to: destination)
            let executable = manifest.health?.command == file.path
            try FileSystem.setPermissions(destination, executable ? 0o555 : 0o444)
        }
        for folder in folders.sorted(by: >) { try FileSystem.syncDirectory(folder) }
        let final = layout.slot(journal.name, journal.slot)
        try FileSystem.createDirectory(layout.slots(journal.name))
        try FileSystem.remove(final)
        try FileSystem.rename(staging, to: final)
        try FileSystem.syncDirectory(layout.slots(journal.name))
    }

    /// The device's health command, then the bundle's own self-test where the config allows
    /// it. `problem` is nil when healthy; `note` is the checks' last words either way.
    private func healthCheck() throws -> (problem: String?, note: String) {
        let slotPath = layout.slot(journal.name, journal.slot)
        let environment = ["OTA_BUNDLE_NAME": journal.name, "OTA_BUNDLE_VERSION": journal.version, "OTA_BUNDLE_DIR": slotPath,
                           "OTA_CURRENT_DIR": layout.current(journal.name), "OTA_STATE_DIR": layout.root]
        var notes: [String] = []
        if let command = agent.config.healthCommand {
            let outcome = try CommandRunner.run(command, environment: environment, timeoutSeconds: agent.config.healthTimeout)
            if !outcome.succeeded { return (outcome.summary, outcome.summary) }
            notes.append(outcome.summary)
        }
        if agent.config.allowBundleHealthCheck == true, let health = try manifest.health {
            let outcome = try CommandRunner.run([slotPath + "/" + health.command.value], environment: environment,
                                                timeoutSeconds: health.timeoutSeconds)
            let summary = "bundle self-test \(health.command): \(outcome.summary)"
            if !outcome.succeeded { return (summary, summary) }
            notes.append(summary)
        }
        return (nil, notes.joined(separator: "; "))
    }

    private mutating func commit() throws {
        try agent.installer(for: journal.kind).commit(journal)
        let manifest = try manifest
        let record = InstalledRecord(
            name: journal.name, kind: journal.kind, version: journal.version, digest: journal.digest, slot: journal.slot,
            files: manifest.files, committedAt: Timestamp.now(),
            previous: journal.previousSlot.map { .init(version: journal.previousVersion ?? "", digest: journal.previousDigest ?? "", slot: $0) })
        try StateFile.write(record, to: layout.record(journal.name))
        try report(.succeeded, "committed \(journal.version) after its health check" + (healthNote.isEmpty ? "" : " (\(healthNote))"))
        agent.crash.reached("committed")
        try FileSystem.remove(layout.journal(journal.name))
        try FileSystem.syncDirectory(layout.journals)
        agent.log.info("\(label): committed")
        agent.cleanUp(journal.name, keep: [journal.slot, journal.previousSlot].compactMap { $0 })
    }

    /// Records why, then either rolls back (after activation) or ends here (before it).
    private mutating func fail(_ reason: String, rollBack: Bool) throws {
        agent.log.error("\(label): \(reason)")
        journal.failure = reason
        if rollBack {
            try advance(to: .rollingBack)
        } else {
            throw Permanent(description: reason)
        }
    }

    private mutating func rollBack() throws -> String {
        let reason = journal.failure ?? "rolled back"
        var detail = reason
        do { try agent.installer(for: journal.kind).rollback(journal) } catch {
            detail += "; rollback: \(error)"
        }
        try agent.recordFailure(journal.name, journal.version)
        try report(.rolledBack, "\(detail); \(journal.previousVersion.map { "back on \($0)" } ?? "no previous version")")
        agent.crash.reached("rolled-back")
        try FileSystem.remove(layout.journal(journal.name))
        try FileSystem.syncDirectory(layout.journals)
        agent.log.info("\(label): rolled back")
        agent.cleanUp(journal.name, keep: [journal.previousSlot].compactMap { $0 })
        return detail
    }

    /// A failure before anything was activated: nothing to undo.
    private func finishFailed(_ reason: String) -> Result {
        agent.log.error("\(label): failed: \(reason)")
        do {
            try agent.recordFailure(journal.name, journal.version)
            try report(.failed, reason)
            try FileSystem.remove(layout.journal(journal.name))
            agent.cleanUp(journal.name, keep: [journal.previousSlot].compactMap { $0 })
        } catch {
            return .retryLater(String(describing: error))
        }
        return .failed(reason)
    }
}
