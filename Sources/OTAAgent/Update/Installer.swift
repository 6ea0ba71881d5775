import OTACore

/// How a staged slot becomes what runs, and how it is undone. `model` bundles swap a link;
/// every other kind goes through an install handler the device's config names.
protocol Installer {
    /// Makes the staged slot live. Must be safe to repeat after a crash.
    func activate(_ journal: Journal) throws -> Activation
    /// Runs right after activation and again after a crash before the trial (reload hooks).
    func afterActivation(_ journal: Journal) throws
    func commit(_ journal: Journal) throws
    /// Puts the previous version back. Must be safe to repeat.
    func rollback(_ journal: Journal) throws
}

enum Activation: Equatable {
    case done
    case rebootRequired
}

struct InstallError: Error, CustomStringConvertible {
    let description: String
}

/// `model`: `current/NAME` is a symbolic link swapped atomically by rename; the reload
/// command tells the application to pick the new files up.
struct ModelInstaller: Installer {
    let layout: StateLayout
    let reloadCommand: [String]?
    let crash: CrashInjection

    func activate(_ journal: Journal) throws -> Activation {
        try FileSystem.replaceSymlink(layout.current(journal.name), target: layout.linkTarget(journal.name, journal.slot))
        return .done
    }

    func afterActivation(_ journal: Journal) throws {
        try reload(journal, version: journal.version.description)
        crash.reached(.reloaded)
    }

    func commit(_ journal: Journal) throws {}

    func rollback(_ journal: Journal) throws {
        let link = layout.current(journal.name)
        if let previous = journal.previous {
            try FileSystem.replaceSymlink(link, target: layout.linkTarget(journal.name, previous.slot))
        } else {
            try FileSystem.remove(link)
            try FileSystem.syncDirectory(layout.currentDirectory)
        }
        try reload(journal, version: journal.previous?.version?.description ?? "none")
    }

    private func reload(_ journal: Journal, version: String) throws {
        guard let command = reloadCommand else { return }
        let outcome: CommandRunner.Outcome
        do {
            outcome = try CommandRunner.run(command, environment: [
                "OTA_BUNDLE_NAME": journal.name.rawValue, "OTA_BUNDLE_VERSION": version, "OTA_CURRENT_DIR": layout.current(journal.name),
            ], timeoutSeconds: 120)
        } catch { throw InstallError(description: "cannot run the reload command: \(error)") }
        guard outcome.succeeded else { throw InstallError(description: "reload command failed (\(outcome.summary))") }
    }
}

/// Any other kind: an executable run as `HANDLER install SLOT_DIR`, `HANDLER activate`,
/// `HANDLER commit`, `HANDLER rollback` (like Mender's update modules). `activate` exits 0
/// when done, or `rebootExitStatus` to ask for a reboot before the trial. Every call must be
/// safe to repeat: after a crash the agent repeats the step it was in.
struct HandlerInstaller: Installer {
    static let rebootExitStatus: Int32 = 10

    let handler: String
    let layout: StateLayout
    let timeoutSeconds: Int

    private func call(_ verb: String, _ journal: Journal, extra: [String] = []) throws -> CommandRunner.Outcome {
        try CommandRunner.run([handler, verb] + extra, environment: [
            "OTA_BUNDLE_NAME": journal.name.rawValue, "OTA_BUNDLE_VERSION": journal.version.description, "OTA_BUNDLE_KIND": journal.kind.name,
            "OTA_BUNDLE_DIR": layout.slot(journal.name, journal.slot), "OTA_PREVIOUS_VERSION": journal.previous?.version?.description ?? "",
        ], timeoutSeconds: timeoutSeconds)
    }

    func activate(_ journal: Journal) throws -> Activation {
        let install = try call("install", journal, extra: [layout.slot(journal.name, journal.slot)])
        guard install.succeeded else { throw InstallError(description: "handler install failed (\(install.summary))") }
        let activate = try call("activate", journal)
        if activate.exitStatus == Self.rebootExitStatus && !activate.timedOut { return .rebootRequired }
        guard activate.succeeded else { throw InstallError(description: "handler activate failed (\(activate.summary))") }
        return .done
    }

    func afterActivation(_ journal: Journal) throws {}

    func commit(_ journal: Journal) throws {
        let outcome = try call("commit", journal)
        guard outcome.succeeded else { throw InstallError(description: "handler commit failed (\(outcome.summary))") }
    }

    func rollback(_ journal: Journal) throws {
        let outcome = try call("rollback", journal)
        guard outcome.succeeded else { throw InstallError(description: "handler rollback failed (\(outcome.summary))") }
    }
}
