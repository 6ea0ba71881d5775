import OTACore

/// Why an update did not go on, by kind. What each kind means for the update (`ending`) and
/// the text the device reports, logs and shows in `ota-agent status` are both decided here,
/// once.
enum UpdateProblem: Error, Equatable, CustomStringConvertible {
    // Refused before anything starts: reported once as `failed`, the assignment not taken.
    /// The envelope does not verify against this device's trust root.
    case untrusted(String)
    /// The release metadata does not list it for this device's channel (or lists another).
    case notReleased(String)
    case nameMismatch(assigned: BundleName, signed: BundleName)
    case incompatible(hardware: HardwareClass, compatible: [HardwareClass])
    /// None of a bundle's variants fits what the device reports (each `name (requirements)`).
    case noVariantFits([String])
    case notNewer(offered: SemanticVersion, installed: SemanticVersion)
    /// It failed its health check here before.
    case failedHere(SemanticVersion)
    case noHandler(BundleKind)

    // Given up before activation (`failed`): this deployment's attempt is over; deploying
    // the version again retries it.
    case corruptContent(count: Int, String)
    /// The journal's envelope no longer verifies, or no longer matches the journal.
    case noLongerVerifies(String)
    case stoppedInShadow(String)
    /// The trust root requires the model team's signature, and it is absent, not theirs, or
    /// does not match the files.
    case modelSignature(ModelSignatureError)

    // Abandoned before activation: the server no longer offers or serves it, or it took too long.
    case notOffered(String)
    case contentRefused(path: PayloadPath, error: String, cycles: Int)
    case withdrawn(String)
    case overdue(maximumAge: Int64, trustProblem: String?)

    // After activation: the previous version goes back.
    case unhealthy(String)
    case installFailed(String)

    // Paused, not ended: nothing moves until this device's trust is fresh.
    case trustNotFresh(String)

    /// What the problem does to the update.
    enum Ending: Equatable {
        /// The assignment is refused before it starts.
        case refused
        /// Before activation, this attempt is over (`failed`).
        case gaveUp
        /// Before activation, the update ends (`abandoned`).
        case abandoned
        /// After activation, the previous version is put back (`rolled-back`).
        case rolledBack
        /// Nothing ends; it waits.
        case paused
    }

    var ending: Ending {
        switch self {
        case .untrusted, .notReleased, .nameMismatch, .incompatible, .noVariantFits, .notNewer, .failedHere, .noHandler: return .refused
        case .corruptContent, .noLongerVerifies, .stoppedInShadow, .modelSignature: return .gaveUp
        case .notOffered, .contentRefused, .withdrawn, .overdue: return .abandoned
        case .unhealthy, .installFailed: return .rolledBack
        case .trustNotFresh: return .paused
        }
    }

    var description: String {
        switch self {
        case .untrusted(let why): return "the bundle does not verify against this device's trust root: \(why)"
        case .notReleased(let why): return why
        case .nameMismatch(let assigned, let signed): return "the assignment names \(assigned) but the signed manifest is \(signed)"
        case .incompatible(let hardware, let compatible):
            return "hardware \(hardware) is not in the bundle's compatible list (\(compatible.joined(separator: ", ")))"
        case .noVariantFits(let variants):
            return "not compatible: no variant fits this device's inventory (\(variants.joined(separator: "; "))); see `ota-agent inventory`"
        case .notNewer(let offered, let installed): return "version \(offered) is not newer than the installed \(installed) (anti-rollback)"
        case .failedHere(let version): return "version \(version) already failed on this device; it is not tried again"
        case .noHandler(let kind): return "this device has no install handler for kind '\(kind)'"
        case .corruptContent(let count, let what):
            return "gave up after \(count) corrupt files: \(what) (corrupt content on the server, a damaged disk, or something on the way that alters it); deploy it again to retry"
        case .noLongerVerifies(let why): return why
        case .stoppedInShadow(let why): return why
        case .modelSignature(let error): return "refused by the model team's signature check: \(error)"
        case .notOffered(let why): return why
        case .contentRefused(let path, let error, let cycles):
            return "the server no longer serves '\(path)' (\(error), \(cycles) cycles running): the deployment was cancelled or superseded, or the content was removed"
        case .withdrawn(let why): return "withdrawn before activation: \(why)"
        case .overdue(let age, let trust):
            return "the update did not finish within \(age) s (max_update_age_s)" + (trust.map { "; this device's trust was not fresh: \($0)" } ?? "")
        case .unhealthy(let why): return "health check failed: \(why)"
        case .installFailed(let why): return why
        case .trustNotFresh(let why): return why
        }
    }

    /// The event that reports it, when it ends the update before activation.
    var reportedState: DeviceAPI.UpdateState {
        switch ending {
        case .abandoned: return .abandoned
        case .rolledBack: return .rolledBack
        case .refused, .gaveUp, .paused: return .failed
        }
    }
}
