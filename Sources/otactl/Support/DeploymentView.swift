import Foundation
import OTACore

/// The text view of a deployment (also what --watch redraws), as lines: each is printed, and
/// escaped, on its own (a failure reason a device wrote cannot add lines).
enum DeploymentView {
    static func render(_ d: AdminAPI.Deployment) -> [String] {
        var lines: [String] = []
        lines.append("deployment \(d.id): \(d.bundleName) \(d.version) to \(d.target.summary)")
        var status = "status: \(d.status), phase \(d.currentPhase + 1) of \(d.phases.count)"
        if d.autoAdvance { status += ", advances automatically (soak \(d.soakSeconds)s, success ratio \(Int(d.successRatio * 100))%)" }
        lines.append(status)
        if let line = qualityLine(d) { lines.append(line) }
        if let reason = d.pausedReason { lines.append("paused: \(reason)") }
        lines.append("")
        let header = ["PHASE", "PROGRESS", "PENDING", "DOWNLOADING", "INSTALLING", "SUCCEEDED", "FAILED", "ROLLED BACK"]
        var rows: [[String]] = []
        for phase in d.phases {
            let c = phase.counts
            let marker = phase.index == d.currentPhase ? "▶ " : (phase.index < d.currentPhase ? "✓ " : "  ")
            rows.append([marker + "\(phase.index + 1) " + phase.label, bar(c), String(c.pending), String(c.downloading), String(c.installing),
                         String(c.succeeded), String(c.failed), String(c.rolledBack)])
        }
        let c = d.counts
        rows.append(["  all", bar(c), String(c.pending), String(c.downloading), String(c.installing), String(c.succeeded),
                     String(c.failed), String(c.rolledBack)])
        lines += table(header, rows)
        if let variants = d.variants, !variants.isEmpty {
            lines.append("")
            lines += table(["VARIANT"] + header.dropFirst(), variants.map { v in
                let c = v.counts
                return ["  " + v.name.rawValue, bar(c), String(c.pending), String(c.downloading), String(c.installing), String(c.succeeded),
                        String(c.failed), String(c.rolledBack)]
            })
        }
        if let reasons = d.failureReasons, !reasons.isEmpty {
            lines.append("")
            lines.append("failure reasons:")
            for reason in reasons { lines.append("  \(reason.count)× \(reason.reason)") }
        }
        for variant in d.variants ?? [] {
            guard let reasons = variant.failureReasons, !reasons.isEmpty else { continue }
            lines.append("")
            lines.append("failure reasons of variant \(variant.name):")
            for reason in reasons { lines.append("  \(reason.count)× \(reason.reason)") }
        }
        if let versions = d.versions, !versions.isEmpty {
            lines.append("")
            lines.append("\(d.bundleName) versions running: " + versions.map { "\($0.version) on \($0.count)" }.joined(separator: ", "))
        }
        if let transfer = d.transfer, transfer.devices > 0 {
            let share = transfer.totalBytes == 0 ? 0 : Double(transfer.savedBytes) * 100 / Double(transfer.totalBytes)
            lines.append("")
            lines.append("transfer: \(transfer.devices) device\(transfer.devices == 1 ? "" : "s") fetched \(Terminal.formatBytes(transfer.fetchedBytes)) of \(Terminal.formatBytes(transfer.totalBytes)); saved \(Terminal.formatBytes(transfer.savedBytes)) (\(String(format: "%.1f", share))%) by reusing what they held")
        }
        for phase in d.quality ?? [] { lines.append(""); lines += quality(phase, of: d) }
        for variant in d.variants ?? [] {
            guard let q = variant.quality, q.devices > 0 else { continue }
            lines.append("")
            lines += quality(q, of: d, title: "variant \(variant.name)")
        }
        return lines
    }

    /// "shadow: 200 samples within 10m, share 1; gates agreement>=0.97, latency_p95<=1.2x (20 devices per phase)".
    static func qualityLine(_ d: AdminAPI.Deployment) -> String? {
        var parts: [String] = []
        if let shadow = d.shadow {
            parts.append("shadow: \(shadow.minSamples) samples within \(DurationText.describe(seconds: shadow.maxSeconds)), share \(QualityGate.format(shadow.sampleShare))")
        }
        if let gates = d.gates, !gates.isEmpty {
            parts.append("gates \(gates.map(\.description).joined(separator: ", ")) (median over \(d.gateMinDevices ?? 20) devices per phase)")
        }
        return parts.isEmpty ? nil : parts.joined(separator: "; ")
    }

    /// A phase's figures: per metric the candidate's distribution against the baseline's, then
    /// each gate's verdict.
    /// `title`: what the figures are of (a variant's devices in every reached phase); one phase's by default.
    static func quality(_ q: AdminAPI.PhaseQuality, of d: AdminAPI.Deployment, title: String? = nil) -> [String] {
        let label = q.phase < d.phases.count ? d.phases[q.phase].label : "?"
        let source = q.source == .shadow ? "in shadow beside the live model" : "live, against the version before"
        var lines = ["\(title ?? "phase \(q.phase + 1) (\(label))") quality, \(q.devices) device\(q.devices == 1 ? "" : "s") \(source)"
                     + (q.passedInShadow.map { ", \($0) passed" } ?? "") + ":"]
        func figures(_ distribution: AdminAPI.Distribution?) -> String {
            guard let x = distribution else { return "-" }
            return "median \(QualityGate.format(x.median)) [\(QualityGate.format(x.min))..\(QualityGate.format(x.max))]"
        }
        var rows: [[String]] = []
        for metric in q.metrics where metric.candidate != nil || metric.baseline != nil {
            rows.append(["  " + metric.metric, figures(metric.candidate), figures(metric.baseline)])
        }
        if !rows.isEmpty { lines += table(["  METRIC", "CANDIDATE \(d.version)", q.source == .shadow ? "LIVE MODEL" : "BEFORE"], rows) }
        for check in q.gates { lines.append("  gate \(check.gate): \(check.verdict.rawValue) (\(check.summary))") }
        return lines
    }

    /// Succeeded as '#', failed or rolled back as 'x', in progress as '~', pending as '.'.
    static func bar(_ c: AdminAPI.StateCounts, width: Int = 24) -> String {
        guard c.total > 0 else { return "[" + String(repeating: " ", count: width) + "]   0%" }
        func cells(_ n: Int) -> Int { Int((Double(n) / Double(c.total) * Double(width)).rounded()) }
        let done = cells(c.succeeded), bad = cells(c.unsuccessful), busy = cells(c.downloading + c.installing)
        let used = min(width, done + bad + busy)
        let text = String(repeating: "#", count: done) + String(repeating: "x", count: bad) + String(repeating: "~", count: busy)
        let percent = Int(Double(c.finished) / Double(c.total) * 100)
        return "[" + String(text.prefix(width)) + String(repeating: ".", count: width - used) + "] " + String(repeating: " ", count: 3 - String(percent).count) + "\(percent)%"
    }

    static func table(_ header: [String], _ rows: [[String]]) -> [String] {
        // Escaped before measuring, so the columns line up as printed.
        let rows = rows.map { $0.map { TerminalText.escape($0) } }
        var widths = header.map(\.count)
        for row in rows { for (i, cell) in row.enumerated() { widths[i] = max(widths[i], cell.count) } }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { i, cell in i == cells.count - 1 ? cell : cell + String(repeating: " ", count: widths[i] - cell.count) }
                .joined(separator: "  ")
        }
        return [line(header)] + rows.map(line)
    }
}
