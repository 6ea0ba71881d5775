#if canImport(Glibc)
import Glibc
#endif
import OTACore

/// The update in progress for one bundle name. Written atomically before each step begins,
/// so that after a crash or a power loss the agent resumes exactly where it stopped, or
/// rolls back.
struct Journal: Codable, Equatable {
    enum Step: String, Codable, CaseIterable {
        /// Envelope verified against the trust root; compatible and newer.
        case verified
        /// Files are being fetched (resumable).
        case downloading
        /// Every file is present and matches its SHA-256.
        case downloaded
        /// The new slot is complete, and the candidate in it runs beside the live model
        /// (`STATE/candidate/NAME`), serving nothing; the application measures both. Ends in a
        /// verdict against the deployment's gates: `staged`, or given up.
        case shadow
        /// The new slot is complete under slots/NAME/SLOT (and passed its shadow phase, if any).
        case staged
        /// The new version is live (link swapped, or handler activated); reload follows.
        case activated
        /// Waiting for the reboot a handler asked for; the trial runs after it.
        case awaitingReboot = "awaiting-reboot"
        /// The health check is running on the live new version.
        case trial
        /// Healthy: making it the committed version.
        case committing
        /// Unhealthy or broken: putting the previous version back.
        case rollingBack = "rolling-back"

        /// From activation on, the new version may be what runs (a crash during activation
        /// leaves the journal at `staged`): such an update ends only by commit or rollback.
        var isLive: Bool { ![.verified, .downloading, .downloaded, .shadow].contains(self) }
    }

    var name: String
    var kind: String
    var version: String
    var digest: String
    var deploymentID: String?
    var envelope: Envelope
    var step: Step
    var slot: String
    var previousSlot: String?
    var previousVersion: String?
    var previousDigest: String?
    /// Why the update is being rolled back.
    var failure: String?
    var startedAt: String
    /// Complete downloads (or staged files) whose SHA-256 was wrong: bounded, see `Updater`.
    var corruptDownloads: Int?
    /// Cycles in which the server refused the content (403, 404, 410) while still offering
    /// the update: bounded, see `Updater`.
    var refusedDownloads: Int?
    /// Bytes received for this update so far, across restarts (the rest came from the device).
    var fetchedBytes: UInt64?
    /// The deployment's shadow phase, if it has one.
    var shadow: ShadowPolicy?
    /// Set when the shadow phase begins: the id the report must echo, and the start (epoch s).
    var shadowID: String?
    var shadowStartedEpoch: Int64?
    /// Whether the application was told to start (so a resumed phase does not tell it twice).
    var shadowCommandRan: Bool?
    /// The verdict, journaled before it is acted on.
    var shadowOutcome: DeviceAPI.ShadowOutcome?

    enum CodingKeys: String, CodingKey {
        case name, kind, version, digest, envelope, step, slot, failure
        case deploymentID = "deployment_id", previousSlot = "previous_slot", previousVersion = "previous_version"
        case previousDigest = "previous_digest", startedAt = "started_at", corruptDownloads = "corrupt_downloads"
        case refusedDownloads = "refused_downloads", fetchedBytes = "fetched_bytes"
        case shadow, shadowID = "shadow_id", shadowStartedEpoch = "shadow_started_epoch", shadowCommandRan = "shadow_command_ran"
        case shadowOutcome = "shadow_outcome"
    }
}

/// The crash hook for tests: `OTA_AGENT_CRASH_AT=STEP` makes the agent exit abruptly (no
/// cleanup, like a power cut) right after journaling STEP. Besides the journal steps it knows
/// `download-midway` (half of a file received), `rebuild-midway` (half of a chunked file's
/// missing chunks placed) and `reloaded` (after the reload command).
/// Never set it in production.
struct CrashHook: Sendable {
    let step: String?

    static let environmentVariable = "OTA_AGENT_CRASH_AT"
    static let exitStatus: Int32 = 99

    init(step: String?) { self.step = step }

    func reached(_ name: String) {
        guard step == name else { return }
        _exit(Self.exitStatus)
    }
}
