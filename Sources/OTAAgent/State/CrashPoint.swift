/// The instants at which tests stop the agent abruptly, as a power cut would: right after
/// each journal step is written, and at the points between steps that matter (half of a
/// file received, half of a rebuild's chunks placed, after the reload command, after the
/// record is committed).
public enum CrashPoint: String, CaseIterable, Sendable {
    case verified, downloading
    case downloadMidway = "download-midway"
    case rebuildMidway = "rebuild-midway"
    case downloaded, shadow
    case shadowStarted = "shadow-started"
    case shadowDecided = "shadow-decided"
    case staged, activated, reloaded
    case awaitingReboot = "awaiting-reboot"
    case trial, committing, committed
    case rollingBack = "rolling-back"
    case rolledBack = "rolled-back"

    init(_ step: Journal.Step.Name) { self = CrashPoint(rawValue: step.rawValue)! }
}

/// Told of every crash point the agent passes. The agent never stops itself: production
/// passes `.none`; `ota-agent` installs an abrupt exit only when a test asks for one
/// (`OTA_AGENT_CRASH_AT`), and in-process tests end their agent's thread.
public struct CrashInjection: Sendable {
    public let reached: @Sendable (CrashPoint) -> Void

    public init(_ reached: @escaping @Sendable (CrashPoint) -> Void) { self.reached = reached }

    public static let none = CrashInjection { _ in }
}
