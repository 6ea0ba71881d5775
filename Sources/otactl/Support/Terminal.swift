#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Logging
import OTAClient
import OTACore

/// Prints one line for people on stdout. Every line otactl prints goes through here (a test
/// keeps `print` out of otactl): what a device or a server said is part of it, so control
/// characters in it are shown escaped (`TerminalText`) and cannot rewrite the operator's
/// terminal or fake a line. JSON goes out with `Terminal.printJSON`.
func say(_ line: String = "", terminator: String = "\n") {
    Swift.print(TerminalText.escape(line), terminator: terminator)
}

/// Output helpers: errors on stderr, tables and JSON on stdout, a progress bar on a terminal.
enum Terminal {
    /// otactl's messages on stderr, through swift-log: `otactl: error: ...`, `otactl: warning: ...`,
    /// `otactl: note: ...`, one escaped line each (a message may quote the server).
    static let log = Logger.readable("otactl", showsTime: false)

    static func printError(_ message: String) {
        // One line, however many the message holds: it may quote the server.
        log.error("\(message.trimmed)")
    }

    /// Raw bytes on stderr, for the progress bar's redraws (not a message: no line, no label).
    static func writeStderr(_ text: String) {
        ReadableLogHandler.writeStderr(text)
    }

    /// JSON escapes control characters itself.
    static func printJSON<T: Encodable>(_ value: T) throws {
        let data = try StrictJSON.encode(value, pretty: true)
        Swift.print(TerminalText.escapeJSON(String(decoding: data, as: UTF8.self)))
    }

    /// Several lines, each escaped on its own.
    static func printLines(_ lines: [String]) {
        for line in lines { say(line) }
    }

    static var stderrIsTerminal: Bool { isatty(2) == 1 }

    /// Prints rows as aligned columns under a header.
    static func printTable(_ header: [String], _ rows: [[String]]) {
        let rows = rows.map { $0.map { TerminalText.escape($0) } }
        var widths = header.map(\.count)
        for row in rows {
            for (index, cell) in row.enumerated() where index < widths.count { widths[index] = max(widths[index], cell.count) }
        }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { index, cell in
                index == cells.count - 1 ? cell : cell + String(repeating: " ", count: widths[index] - cell.count)
            }.joined(separator: "  ")
        }
        say(line(header))
        for row in rows { say(line(row)) }
    }

    static func formatBytes(_ bytes: UInt64) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var value = Double(bytes)
        var unit = 0
        while value >= 1024, unit < units.count - 1 { value /= 1024; unit += 1 }
        return unit == 0 ? "\(bytes) B" : String(format: "%.1f %@", value, units[unit])
    }
}

/// A one-line progress bar on stderr, redrawn at most ten times a second, shown only when
/// stderr is a terminal (scripts and logs stay clean).
final class ProgressBar {
    private let label: String
    private let enabled: Bool
    private var lastDraw: Double = 0
    private let started = ProgressBar.now()

    init(_ label: String, enabled: Bool = Terminal.stderrIsTerminal) {
        self.label = label
        self.enabled = enabled
    }

    static func now() -> Double {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return Double(spec.tv_sec) + Double(spec.tv_nsec) / 1e9
    }

    func update(_ done: UInt64, _ total: UInt64) {
        guard enabled else { return }
        let now = Self.now()
        guard done == total || now - lastDraw >= 0.1 else { return }
        lastDraw = now
        let fraction = total == 0 ? 1 : Double(done) / Double(total)
        let width = 30
        let filled = Int(fraction * Double(width))
        let rate = Double(done) / max(now - started, 0.001)
        let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
        Terminal.writeStderr("\r\(label) [\(bar)] \(Int(fraction * 100))% \(Terminal.formatBytes(done))/\(Terminal.formatBytes(total)) \(Terminal.formatBytes(UInt64(rate)))/s  ")
    }

    func finish() {
        guard enabled else { return }
        Terminal.writeStderr("\n")
    }
}
