#if canImport(Glibc)
import Glibc
#endif
import OTACore

/// Step 6: decides whether the live new version works. The device's own health command runs
/// first; then, where the config allows it, the bundle's self-test.
///
/// The self-test is code from the bundle, so it runs boxed in: a minimal environment (none of
/// the agent's variables), a timeout no longer than the device's
/// `health_timeout_s` whatever the bundle asks, and, when the agent runs as root, as the
/// unprivileged `bundle_health_user` (default `nobody`), who cannot read the state folder's
/// secrets (0600 files in a 0711 folder).
struct HealthCheck {
    let config: AgentConfig
    let layout: StateLayout

    /// `problem` is nil when healthy; `note` is the checks' last words either way. Throws
    /// when a check cannot even start: the caller rolls back (a check that cannot run has
    /// not shown the version works).
    func run(_ journal: Journal, manifest: Manifest) throws -> (problem: String?, note: String) {
        let slotPath = layout.slot(journal.name, journal.slot)
        var notes: [String] = []
        if let command = config.healthCommand {
            let environment = ["OTA_BUNDLE_NAME": journal.name.rawValue, "OTA_BUNDLE_VERSION": journal.version.description, "OTA_BUNDLE_DIR": slotPath,
                               "OTA_CURRENT_DIR": layout.current(journal.name), "OTA_STATE_DIR": layout.root]
            let outcome = try CommandRunner.run(command, environment: environment, timeoutSeconds: config.healthTimeout)
            if !outcome.succeeded { return (outcome.summary, outcome.summary) }
            notes.append(outcome.summary)
        }
        if config.allowBundleHealthCheck == true, let health = manifest.health {
            let outcome = try selfTest(slotPath + "/" + health.command.value, in: slotPath, journal: journal,
                                       timeoutSeconds: min(health.timeoutSeconds, config.healthTimeout))
            let summary = "bundle self-test \(health.command): \(outcome.summary)"
            if !outcome.succeeded { return (summary, summary) }
            notes.append(summary)
        }
        return (nil, notes.joined(separator: "; "))
    }

    private func selfTest(_ program: String, in slot: String, journal: Journal, timeoutSeconds: Int) throws -> CommandRunner.Outcome {
        let environment = ["PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": slot,
                           "OTA_BUNDLE_NAME": journal.name.rawValue, "OTA_BUNDLE_VERSION": journal.version.description, "OTA_BUNDLE_DIR": slot]
        var argv = [program]
        if geteuid() == 0 {
            let user = config.bundleHealthUser ?? "nobody"
            guard let account = getpwnam(user) else {
                throw CommandRunner.LaunchError(description: "cannot run the bundle self-test: bundle_health_user '\(user)' does not exist")
            }
            guard account.pointee.pw_uid != 0 else {
                throw CommandRunner.LaunchError(description: "bundle_health_user '\(user)' is root; the self-test must run unprivileged")
            }
            argv = [Self.setpriv, "--reuid=\(account.pointee.pw_uid)", "--regid=\(account.pointee.pw_gid)", "--clear-groups",
                    "--no-new-privs", "--"] + argv
            guard access(Self.setpriv, X_OK) == 0 else {
                throw CommandRunner.LaunchError(description: "cannot drop privileges for the bundle self-test: \(Self.setpriv) is missing (util-linux)")
            }
        }
        return try CommandRunner.run(argv, environment: environment, inheritEnvironment: false, timeoutSeconds: timeoutSeconds)
    }

    static let setpriv = "/usr/bin/setpriv"
}
