#if canImport(Glibc)
import Glibc
#endif
import Logging
import OTACore

/// swift-log lines as a person reads them on a device or a terminal, one per message:
///
///     2026-11-29T02:00:00Z ota-agent: digits 2.0.0: staged
///     2026-11-29T02:00:04Z ota-agent: error: digits 2.0.0: health check failed: exit status 1
///     otactl: note: the files are listed whole, so devices fetch them whole
///
/// The agent's lines carry the time (a device's log is read later); `otactl`'s do not (a
/// person reads them as they come). The level is the line's label: `error:` from error up,
/// `warning:`, `note:` for notice, none for info and below.
/// Metadata (device, bundle, deployment) travels with each message for handlers that want it
/// (a journald or JSON handler); this one keeps the line short. Every message is escaped:
/// much of it quotes the server or a bundle, and must not rewrite the terminal or add a line.
public struct ReadableLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level
    let program: String
    let showsTime: Bool
    let clock: any DomainClock

    public init(program: String, level: Logger.Level = .info, showsTime: Bool = true, clock: any DomainClock = SystemClock()) {
        self.program = program
        self.logLevel = level
        self.showsTime = showsTime
        self.clock = clock
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        let label = switch event.level {
        case .error, .critical: "error: "
        case .warning: "warning: "
        case .notice: "note: "
        case .trace, .debug, .info: ""
        }
        let time = showsTime ? "\(clock.now.rfc3339) " : ""
        Self.writeStderr("\(time)\(program): \(label)\(TerminalText.escape(event.message.description))\n")
    }

    /// Straight to file descriptor 2 (C's `stderr` is shared mutable state to Swift 6).
    public static func writeStderr(_ text: String) {
        var bytes = Array(text.utf8)[...]
        while !bytes.isEmpty {
            let written = bytes.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
            if written <= 0 { return }
            bytes = bytes.dropFirst(written)
        }
    }
}

extension Logger {
    /// A logger that writes readable lines for `program`, whatever the process's bootstrap.
    public static func readable(_ program: String, level: Logger.Level = .info, showsTime: Bool = true,
                                clock: any DomainClock = SystemClock()) -> Logger {
        Logger(label: program) { _ in ReadableLogHandler(program: program, level: level, showsTime: showsTime, clock: clock) }
    }
}
