#if canImport(Glibc)
import Glibc
#endif
import OTACore

/// What the agent must remember beyond installs: versions that failed their health check
/// here (never tried again) and assignments it refused or ended (reported once and not
/// taken again; a new deployment of the same version is a new assignment).
struct Ledger: Codable, Equatable {
    var failedVersions: [String: [String]] = [:]
    /// "DEPLOYMENT/DIGEST" of assignments refused, given up or abandoned.
    var reportedRefusals: [String] = []

    enum CodingKeys: String, CodingKey { case failedVersions = "failed_versions", reportedRefusals = "reported_refusals" }

    func hasFailed(_ name: String, _ version: SemanticVersion) -> Bool {
        (failedVersions[name] ?? []).contains { (try? SemanticVersion($0)) == version }
    }

    mutating func recordFailure(_ name: String, _ version: String) {
        if !(failedVersions[name] ?? []).contains(version) { failedVersions[name, default: []].append(version) }
    }

    func hasEnded(_ key: String) -> Bool { reportedRefusals.contains(key) }

    /// True the first time a refusal is seen; remembers at most the last 500.
    mutating func noteRefusal(_ key: String) -> Bool {
        guard !reportedRefusals.contains(key) else { return false }
        reportedRefusals.append(key)
        if reportedRefusals.count > 500 { reportedRefusals.removeFirst(reportedRefusals.count - 500) }
        return true
    }
}

/// Writes progress lines to stderr: "2026-11-29T02:00:00Z ota-agent: digits 2.0.0: staged".
struct AgentLog: Sendable {
    let quiet: Bool

    func info(_ message: String) {
        guard !quiet else { return }
        write("\(Timestamp.now()) ota-agent: \(TerminalText.escape(message))\n")
    }

    /// One line each: a message may quote the server.
    func error(_ message: String) { write("\(Timestamp.now()) ota-agent: error: \(TerminalText.escape(message))\n") }

    private func write(_ text: String) {
        var bytes = Array(text.utf8)[...]
        while !bytes.isEmpty {
            let written = bytes.withUnsafeBytes { Glibc.write(2, $0.baseAddress, $0.count) }
            if written <= 0 { return }
            bytes = bytes.dropFirst(written)
        }
    }
}
