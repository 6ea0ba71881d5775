import OTAClient
import OTACore

/// Taking an assignment: every check before an update may start, and refusals reported once.
extension Agent {
    /// Checks an assignment and starts its update; nil when there is nothing to do.
    func take(_ assignment: DeviceAPI.Assignment, trusted: TrustedAnswer) throws -> Updater.Result? {
        if let problem = Self.problem(with: assignment) {
            throw HTTPClientError.invalidAnswer("the server's answer holds a malformed assignment: \(problem)")
        }
        if let problem = assignment.shadow?.problem {
            throw HTTPClientError.invalidAnswer("the server's answer holds a malformed shadow policy: \(problem)")
        }
        let ended = context.ledger.hasEnded(Self.assignmentKey(deploymentID: assignment.deploymentID, digest: assignment.digest))
        if var journal = try StateFile.read(Journal.self, from: layout.journal(assignment.name)) {
            // One update per bundle name at a time; an interrupted one is finished first.
            guard journal.digest == assignment.digest else { return nil }
            if ended && !journal.step.isLive {
                // It ended, but a crash came before its journal was removed: finish ending it.
                var updater = Updater(agent: context, fetcher: try? connectedClient(), journal: journal)
                return updater.abandon("it had already ended on this device")
            }
            if !journal.step.isLive {
                // Before activation an update goes on only under fresh release metadata that
                // still lists it: a withdrawn release ends it, stale trust pauses it.
                if let problem = trusted.problem {
                    var updater = Updater(agent: context, fetcher: try? connectedClient(), journal: journal)
                    // Paused, but not for ever: past max_update_age_s it ends like any update.
                    if updater.isOverdue {
                        return updater.abandon("the update did not finish within \(config.maxUpdateAge) s (max_update_age_s); this device's trust was not fresh: \(problem)")
                    }
                    let reason = "paused before activation: this device's trust is not fresh: \(problem)"
                    context.log.error("\(journal.name) \(journal.version): \(reason)")
                    return .waitingForTrust(reason)
                }
                if let releases = trusted.releases, let verified = try? context.trust.bundleTrust().verify(journal.envelope),
                   let problem = Release.problem(verified, channel: context.trust.channel, in: releases) {
                    var updater = Updater(agent: context, fetcher: try? connectedClient(), journal: journal)
                    return updater.abandon("withdrawn before activation: \(problem)")
                }
            }
            if journal.deploymentID != assignment.deploymentID {
                // The same bundle under a new deployment (cancelled and deployed again): the
                // update carries on, and reports to the deployment that now offers it.
                journal.deploymentID = assignment.deploymentID
                try StateFile.write(journal, to: layout.journal(journal.name))
            }
            return run(journal)
        }
        // Refused, given up or abandoned before: reported once, not taken again.
        if ended { return nil }
        if let problem = trusted.problem {
            // Stale or unverifiable release metadata: nothing new starts, nothing is condemned.
            let reason = "\(assignment.version) not started: this device's trust is not fresh: \(problem)"
            context.log.error("\(assignment.name) \(reason)")
            return .waitingForTrust(reason)
        }
        let verified: VerifiedManifest
        do { verified = try context.trust.bundleTrust().verify(assignment.envelope) } catch {
            return try refuse(assignment, "the bundle does not verify against this device's trust root: \(error)")
        }
        if let releases = trusted.releases, let problem = Release.problem(verified, channel: context.trust.channel, in: releases) {
            return try refuse(assignment, problem)
        }
        let manifest = verified.manifest
        let digest = verified.digest.hex
        guard manifest.name == assignment.name else {
            return try refuse(assignment, "the assignment names \(assignment.name) but the signed manifest is \(manifest.name)")
        }
        let installed = try context.record(manifest.name)
        if installed?.digest == digest { return nil }
        guard manifest.compatible.contains(config.hardware) else {
            return try refuse(assignment, "hardware \(config.hardware) is not in the bundle's compatible list (\(manifest.compatible.joined(separator: ", ")))")
        }
        if let installed, let current = try? SemanticVersion(installed.version), !(manifest.version > current) {
            return try refuse(assignment, "version \(manifest.version) is not newer than the installed \(installed.version) (anti-rollback)")
        }
        if context.ledger.hasFailed(manifest.name, manifest.version) {
            return try refuse(assignment, "version \(manifest.version) already failed on this device; it is not tried again")
        }
        if manifest.kind != "model" && config.handlers?[manifest.kind] == nil {
            return try refuse(assignment, "this device has no install handler for kind '\(manifest.kind)'")
        }
        let journal = Journal(
            name: manifest.name, kind: manifest.kind, version: manifest.version.description, digest: digest,
            deploymentID: assignment.deploymentID, envelope: assignment.envelope, step: .verified,
            slot: Updater.slotName(verified), previousSlot: installed?.slot,
            previousVersion: installed?.version, previousDigest: installed?.digest, failure: nil, startedAt: Timestamp.now(),
            shadow: manifest.kind == "model" ? assignment.shadow : nil)
        try StateFile.write(journal, to: layout.journal(journal.name))
        context.log.info("\(journal.name) \(journal.version): verified (signed by \(verified.signers.map { String($0.prefix(12)) }.joined(separator: ", ")))")
        context.crash.reached("verified")
        return run(journal, verified: verified)
    }

    /// Why an assignment cannot even be considered. Its name picks a journal file, and its
    /// fields go into the ledger and back to the server in events, all before the envelope is
    /// verified: a name that is a path must not reach outside the state folder, and an event
    /// the server refuses would block the outbox for good.
    static func problem(with assignment: DeviceAPI.Assignment) -> String? {
        if let problem = SafeName.problem(with: assignment.name, what: "bundle name") { return problem }
        guard SHA256Digest(hex: assignment.digest) != nil else { return "digest '\(assignment.digest.prefix(80))' is not a SHA-256" }
        guard assignment.version.utf8.count <= 256, assignment.deploymentID.utf8.count <= 256 else {
            return "version or deployment ID longer than 256 bytes"
        }
        return nil
    }

    /// How the ledger names one deployment's assignment of one bundle.
    static func assignmentKey(deploymentID: String?, digest: String) -> String { "\(deploymentID ?? "")/\(digest)" }

    /// Reports a refused assignment once (the server then stops offering it).
    func refuse(_ assignment: DeviceAPI.Assignment, _ reason: String) throws -> Updater.Result? {
        let key = Self.assignmentKey(deploymentID: assignment.deploymentID, digest: assignment.digest)
        guard try context.noteRefusal(key) else { return nil }
        context.log.error("\(assignment.name) \(assignment.version): refused: \(reason)")
        try context.outbox.add(.init(deploymentID: assignment.deploymentID, bundleName: assignment.name, version: assignment.version,
                                     state: .failed, detail: "refused: \(reason)"))
        return .failed("refused: \(reason)")
    }
}
