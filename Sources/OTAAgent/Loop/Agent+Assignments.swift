import OTAClient
import OTACore

/// Taking an assignment: every check before an update may start, and refusals reported once.
/// The assignment's names, version and digest were checked when the answer was decoded; its
/// envelope is checked here, against this device's own trust root and release metadata.
extension Agent {
    /// Checks an assignment and starts its update; nil when there is nothing to do.
    func take(_ assignment: DeviceAPI.Assignment, trusted: TrustedAnswer) throws -> Updater.Result? {
        if let problem = assignment.shadow?.problem {
            throw HTTPClientError.invalidAnswer("the server's answer holds a malformed shadow policy: \(problem)")
        }
        let key = AssignmentKey(deploymentID: assignment.deploymentID, digest: assignment.digest)
        let ended = context.ledger.hasEnded(key)
        if var journal = try context.journal(assignment.name) {
            // One update per bundle name at a time; an interrupted one is finished first.
            guard journal.digest == assignment.digest else { return nil }
            if ended && !journal.step.isLive {
                // It ended, but a crash came before its journal was removed: finish ending it.
                var updater = Updater(agent: context, fetcher: reachableTransport(), journal: journal)
                return updater.abandon(.notOffered("it had already ended on this device"))
            }
            if !journal.step.isLive, let paused = try pauseOrWithdraw(journal, trusted: trusted) { return paused }
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
            let reason = UpdateProblem.trustNotFresh("\(assignment.version) not started: this device's trust is not fresh: \(problem)")
            log.error("\(assignment.name) \(reason)")
            return .waitingForTrust(reason)
        }
        let verified: VerifiedManifest
        do { verified = try context.trust.bundleTrust().verify(assignment.envelope) } catch {
            return try refuse(assignment, .untrusted(String(describing: error)))
        }
        let manifest = verified.manifest
        if let releases = trusted.releases, let problem = Release.problem(verified, channel: context.trust.channel, in: releases) {
            return try refuse(assignment, .notReleased(problem))
        }
        guard manifest.name == assignment.name else { return try refuse(assignment, .nameMismatch(assigned: assignment.name, signed: manifest.name)) }
        let installed = try context.record(manifest.name)
        if installed?.digest == verified.digest { return nil }
        if let problem = refusal(of: manifest, installed: installed) { return try refuse(assignment, problem) }
        var variant: VariantName?
        if let variants = manifest.variants {
            // The server offers such a bundle only where a build fits what it holds of the
            // device; the device decides on what it read itself.
            guard let inventory = context.inventory.current else {
                return .retryLater("\(assignment.name) \(assignment.version) has builds for different devices, and this device's inventory could not be read yet (see `ota-agent inventory`)")
            }
            guard let fitting = manifest.variant(fitting: inventory) else {
                // Not compatible, which is no failure of the version: nothing is reported, and
                // the inventory goes to the server again, which then stops offering it (it
                // offered it on an older reading).
                context.inventory.resend()
                log.notice("\(assignment.name) \(assignment.version): not taken: \(UpdateProblem.noVariantFits(variants.map(\.summary)))")
                return nil
            }
            variant = fitting.name
        }
        var journal = Journal(
            name: manifest.name, kind: manifest.kind, version: manifest.version, digest: verified.digest, slot: SlotName(verified),
            envelope: assignment.envelope, deploymentID: assignment.deploymentID,
            previous: installed.map { .init(version: $0.version, digest: $0.digest, slot: $0.slot) }, startedAt: context.clock.now,
            shadowPolicy: manifest.kind.isModel ? assignment.shadow : nil, step: .verified)
        journal.variant = variant
        try StateFile.write(journal, to: layout.journal(journal.name))
        log.info("\(journal.label)\(variant.map { " (variant \($0))" } ?? ""): verified (signed by \(verified.signers.map { String($0.prefix(12)) }.joined(separator: ", ")))")
        context.reached(.verified)
        return run(journal, verified: verified)
    }

    /// Why a verified bundle may not be installed over `installed` on this device.
    func refusal(of manifest: Manifest, installed: InstalledRecord?) -> UpdateProblem? {
        guard manifest.compatible.contains(config.hardware) else { return .incompatible(hardware: config.hardware, compatible: manifest.compatible) }
        if let installed, !(manifest.version > installed.version) { return .notNewer(offered: manifest.version, installed: installed.version) }
        if context.ledger.hasFailed(manifest.name, manifest.version) { return .failedHere(manifest.version) }
        if !context.canInstall(manifest.kind) { return .noHandler(manifest.kind) }
        return nil
    }

    /// Before activation an update goes on only under fresh release metadata that still
    /// lists it: stale trust pauses it (until `max_update_age_s`), a withdrawn release ends it.
    private func pauseOrWithdraw(_ journal: Journal, trusted: TrustedAnswer) throws -> Updater.Result? {
        if let problem = trusted.problem {
            var updater = Updater(agent: context, fetcher: reachableTransport(), journal: journal)
            // Paused, but not for ever: past max_update_age_s it ends like any update.
            if updater.isOverdue { return updater.abandon(.overdue(maximumAge: config.maxUpdateAge, trustProblem: problem)) }
            let reason = UpdateProblem.trustNotFresh("paused before activation: this device's trust is not fresh: \(problem)")
            log.error("\(journal.label): \(reason)")
            return .waitingForTrust(reason)
        }
        guard let releases = trusted.releases else { return nil }
        let verified: VerifiedManifest
        do { verified = try context.trust.bundleTrust().verify(journal.envelope) } catch {
            // The updater's own check ends it, with the reason.
            return nil
        }
        guard let problem = Release.problem(verified, channel: context.trust.channel, in: releases) else { return nil }
        var updater = Updater(agent: context, fetcher: reachableTransport(), journal: journal, verified: verified)
        return updater.abandon(.withdrawn(problem))
    }

    /// Reports a refused assignment once (the server then stops offering it).
    func refuse(_ assignment: DeviceAPI.Assignment, _ problem: UpdateProblem) throws -> Updater.Result? {
        guard try context.noteEnded(AssignmentKey(deploymentID: assignment.deploymentID, digest: assignment.digest)) else { return nil }
        log.error("\(assignment.name) \(assignment.version): refused: \(problem)")
        try context.outbox.add(.init(deploymentID: assignment.deploymentID, bundleName: assignment.name, version: assignment.version.description,
                                     state: .failed, detail: "refused: \(problem)", at: context.clock.now))
        return .ended(problem)
    }
}
