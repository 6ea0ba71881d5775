import OTACore

/// The update in progress for one bundle name. Written atomically before each step begins,
/// so that after a crash or a power loss the agent resumes exactly where it stopped, or
/// rolls back.
///
/// Everything that holds for the whole update is a plain field; what belongs to one step
/// travels in that step's case (`Step`), so no field is ever "only valid while…".
struct Journal: Equatable {
    /// What is being installed: all of it from the verified manifest.
    var name: BundleName
    var kind: BundleKind
    var version: SemanticVersion
    var digest: SHA256Digest
    var slot: SlotName
    var envelope: Envelope
    /// The deployment that offers it now (it can change: cancelled and deployed again).
    var deploymentID: DeploymentID?
    /// What ran before, and runs again after a rollback; nil for a first install.
    var previous: InstalledRecord.Previous?
    var startedAt: Timestamp
    var transfer = TransferCounts()
    /// The deployment's shadow phase, if it has one.
    var shadowPolicy: ShadowPolicy?
    /// The build this device chose, for a bundle with variants: the update is that build's
    /// files only (`Manifest.selecting`).
    var variant: VariantName?
    var step: Step

    enum Step: Equatable {
        /// Envelope verified against the trust root; compatible and newer.
        case verified
        /// Files are being fetched (resumable).
        case downloading
        /// Every file is present and matches its SHA-256.
        case downloaded
        /// The new slot is complete, and the candidate in it runs beside the live model
        /// (`STATE/candidate/NAME`), serving nothing; the application measures both.
        case shadow(ShadowPhase)
        /// The new slot is complete under slots/NAME/SLOT (and passed its shadow phase, if any).
        case staged
        /// The new version is live (link swapped, or handler activated); reload follows.
        case activated
        /// Waiting for the reboot a handler asked for; the trial runs after it.
        case awaitingReboot
        /// The health check is running on the live new version.
        case trial
        /// Healthy: making it the committed version.
        case committing
        /// Unhealthy or broken: putting the previous version back, because of `reason`.
        case rollingBack(reason: String)

        var name: Name {
            switch self {
            case .verified: return .verified
            case .downloading: return .downloading
            case .downloaded: return .downloaded
            case .shadow: return .shadow
            case .staged: return .staged
            case .activated: return .activated
            case .awaitingReboot: return .awaitingReboot
            case .trial: return .trial
            case .committing: return .committing
            case .rollingBack: return .rollingBack
            }
        }

        /// From activation on, the new version may be what runs (a crash during activation
        /// leaves the journal at `staged`): such an update ends only by commit or rollback.
        var isLive: Bool { name.isLive }

        /// The step's name, as the journal file and `ota-agent status` spell it.
        enum Name: String, Codable, CaseIterable {
            case verified, downloading, downloaded, shadow, staged, activated
            case awaitingReboot = "awaiting-reboot"
            case trial, committing
            case rollingBack = "rolling-back"

            var isLive: Bool { ![.verified, .downloading, .downloaded, .shadow].contains(self) }
        }
    }

    /// A shadow phase under way: the id its report must echo, when it started, whether the
    /// application was told (so a resumed phase does not tell it twice), and the verdict,
    /// journaled before it is acted on.
    struct ShadowPhase: Equatable {
        var id: String
        var startedAt: Timestamp
        var commandRan = false
        var verdict: ShadowVerdict?
    }

    enum ShadowVerdict: Equatable {
        case passed(DeviceAPI.ShadowOutcome)
        case failed(DeviceAPI.ShadowOutcome, reason: String)

        var outcome: DeviceAPI.ShadowOutcome {
            switch self { case .passed(let outcome), .failed(let outcome, _): return outcome }
        }
    }

    /// What the transfer cost and how often it went wrong, across restarts.
    struct TransferCounts: Equatable {
        /// Bytes received for this update so far (the rest came from the device).
        var fetchedBytes: UInt64 = 0
        /// Complete downloads (or staged files) whose SHA-256 was wrong: bounded, see `Updater`.
        var corrupt = 0
        /// Cycles running in which the server refused the content (403, 404, 410) while still
        /// offering the update: bounded, see `Updater`.
        var refused = 0
    }

    /// The shadow phase's outcome while the update is in it.
    var shadowOutcome: DeviceAPI.ShadowOutcome? {
        if case .shadow(let phase) = step { return phase.verdict?.outcome }
        return nil
    }

    var label: String { "\(name) \(version)" }
}

/// The name of a slot folder: `VERSION-DIGEST12`. A version's build metadata brings `+`.
struct SlotName: ValidatedName {
    let rawValue: String
    init(checked text: String) { rawValue = text }
    static let what = "slot"

    static func problem(_ text: String) -> String? {
        let bytes = Array(text.utf8)
        func isAlphanumeric(_ c: UInt8) -> Bool { (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) }
        guard (1...256).contains(bytes.count), isAlphanumeric(bytes[0]),
              bytes.allSatisfy({ isAlphanumeric($0) || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "+") }) else {
            return "slot '\(PayloadPath.printable(text))' is not VERSION-DIGEST"
        }
        return nil
    }

    /// The slot a verified bundle is staged in.
    init(_ verified: VerifiedManifest) { rawValue = "\(verified.manifest.version)-\(verified.digest.short)" }
}
