import OTACore

/// `ota-agent status`: what is installed, what runs, what is in progress, what went wrong.
public struct StatusReport: Codable, Equatable, Sendable {
    public struct Bundle: Codable, Equatable, Sendable {
        public var name: BundleName
        public var kind: BundleKind?
        public var version: SemanticVersion?
        public var digest: SHA256Digest?
        public var slot: String?
        /// Where `current/NAME` points (models).
        public var current: String?
        public var previousVersion: SemanticVersion?
        public var previousSlot: String?
        public var updateInProgress: SemanticVersion?
        public var updateStep: String?
        public var failedVersions: [String]
        /// Bytes the update in progress has fetched so far.
        public var updateFetchedBytes: UInt64?
        /// What installing the committed version fetched, against the full size of its files.
        public var transfer: DeviceAPI.Transfer?
        /// The update in progress is being proven in shadow: since when, and how far.
        public var shadow: ShadowProgress?
        /// The build of a bundle with variants that runs, and the one being installed.
        public var variant: VariantName?
        public var updateVariant: VariantName?

        enum CodingKeys: String, CodingKey {
            case name, kind, version, digest, slot, current, transfer, shadow, variant
            case updateVariant = "update_variant"
            case updateFetchedBytes = "update_fetched_bytes"
            case previousVersion = "previous_version", previousSlot = "previous_slot"
            case updateInProgress = "update_in_progress", updateStep = "update_step", failedVersions = "failed_versions"
        }
    }

    public struct ShadowProgress: Codable, Equatable, Sendable {
        public var startedAt: Timestamp
        public var samples: Int?
        public var minSamples: Int
        public var maxSeconds: Int
        public var gates: [QualityGate]
        enum CodingKeys: String, CodingKey { case startedAt = "started_at", samples, minSamples = "min_samples", maxSeconds = "max_s", gates }
    }

    public var deviceID: DeviceID
    public var registered: Bool
    public var server: String
    public var lastCheckin: Timestamp?
    public var lastError: String?
    public var lastErrorAt: Timestamp?
    public var eventsWaiting: Int
    public var trust: Trust
    public var bundles: [Bundle]

    /// How fresh this device's trust is.
    public struct Trust: Codable, Equatable, Sendable {
        public var report: DeviceAPI.TrustReport
        public var stale: Bool
        public var problemAt: Timestamp?
        /// How far this device's clock was behind the server's at the last verified answer.
        public var clockBehindServerSeconds: Int64?
        enum CodingKeys: String, CodingKey { case report, stale, problemAt = "problem_at", clockBehindServerSeconds = "clock_behind_server_s" }
    }

    enum CodingKeys: String, CodingKey {
        case registered, server, bundles, trust
        case deviceID = "device_id", lastCheckin = "last_checkin", lastError = "last_error", lastErrorAt = "last_error_at"
        case eventsWaiting = "events_waiting"
    }

    /// The report as lines for a person, judged at `now`.
    public func text(now: Timestamp) -> String {
        var lines = ["device:      \(deviceID) (\(registered ? "registered" : "not registered yet"))", "server:      \(server)"]
        lines.append("last check-in: \(lastCheckin?.rfc3339 ?? "never")")
        if let lastError { lines.append("last error:  \(lastError) (\(lastErrorAt?.rfc3339 ?? "?"))") }
        lines.append("events waiting for the server: \(eventsWaiting)")
        let report = trust.report
        if report.rootVersion == 0 {
            lines.append("trust:       legacy trust root (no release metadata); channel \(report.channel)")
        } else {
            lines.append("trust:       root version \(report.rootVersion), channel \(report.channel)\(trust.stale ? " (STALE)" : "")")
            lines.append("  release metadata: " + (report.targetsVersion.map { version in
                let expires = report.targetsExpires?.rfc3339 ?? "?"
                let left = report.targetsExpires?.seconds(since: now) ?? 0
                let when = left <= 0 ? "EXPIRED at \(expires)" : "expires \(expires) (in \(DurationText.describe(seconds: Int(left))))\(left < 3 * 86_400 ? ", SOON" : "")"
                return "version \(version), \(when)"
            } ?? "none verified yet"))
            lines.append("  last verified answer: \(report.verifiedAt?.rfc3339 ?? "never")")
            if let behind = trust.clockBehindServerSeconds, abs(behind) > 300 {
                lines.append("  clock: \(DurationText.describe(seconds: Int(abs(behind)))) \(behind > 0 ? "behind" : "ahead of") the server's: expiry is judged by this device's clock; fix it (NTP)")
            }
        }
        if let problem = report.problem { lines.append("  problem: \(problem) (\(trust.problemAt?.rfc3339 ?? "?"))") }
        for bundle in bundles {
            lines.append("")
            lines.append("\(bundle.name) (\(bundle.kind?.name ?? "?"))")
            lines.append("  committed: \(bundle.version.map { "\($0) in slot \(bundle.slot ?? "?")" } ?? "nothing yet")"
                         + (bundle.variant.map { ", variant \($0)" } ?? ""))
            if let current = bundle.current { lines.append("  current -> \(current)") }
            if let previous = bundle.previousVersion { lines.append("  previous:  \(previous) in slot \(bundle.previousSlot ?? "?")") }
            if let transfer = bundle.transfer {
                lines.append("  installed by fetching \(transfer.fetchedBytes) of \(transfer.totalBytes) bytes (the rest was already on the device)")
            }
            if let update = bundle.updateInProgress {
                lines.append("  updating to \(update)\(bundle.updateVariant.map { " (variant \($0))" } ?? ""): \(bundle.updateStep ?? "?")" + (bundle.updateFetchedBytes.map { ", \($0) bytes fetched so far" } ?? ""))
            }
            if let shadow = bundle.shadow {
                lines.append("  in shadow since \(shadow.startedAt): \(shadow.samples.map(String.init) ?? "no") of \(shadow.minSamples) samples (at most \(DurationText.describe(seconds: shadow.maxSeconds))), gates \(shadow.gates.map(\.description).joined(separator: ", "))")
            }
            if !bundle.failedVersions.isEmpty { lines.append("  failed here: \(bundle.failedVersions.joined(separator: ", "))") }
        }
        // Errors, problems, names and versions came from the server: each line is escaped on
        // its own, so none of them can rewrite the terminal or add a line.
        return lines.map { TerminalText.escape($0) }.joined(separator: "\n")
    }
}

extension Agent {
    private func shadowProgress(_ journal: Journal) -> StatusReport.ShadowProgress? {
        guard case .shadow(let phase) = journal.step, let policy = journal.shadowPolicy else { return nil }
        // No report yet, or one the application is still writing: no figure yet.
        let report = try? ShadowReport.decode(FileSystem.readRegularFile(layout.shadowReport(journal.name), limit: ShadowReport.maximumBytes))
        return .init(startedAt: phase.startedAt, samples: report?.shadowID == phase.id ? report?.samples : nil,
                     minSamples: policy.minSamples, maxSeconds: policy.maxSeconds, gates: policy.gates)
    }

    public func statusReport() throws -> StatusReport {
        let records = try context.records()
        let journals = try context.journals()
        let status = storedStatus()
        let failed = context.ledger.failedVersions.keys.compactMap { BundleName(rawValue: $0) }
        let names = Set(records.map(\.name)).union(journals.map(\.name)).union(failed).sorted()
        let bundles = names.map { name -> StatusReport.Bundle in
            let record = records.first { $0.name == name }
            let journal = journals.first { $0.name == name }
            return StatusReport.Bundle(
                name: name, kind: record?.kind ?? journal?.kind, version: record?.version, digest: record?.digest, slot: record?.slot.rawValue,
                current: FileSystem.readSymlink(layout.current(name)), previousVersion: record?.previous?.version,
                previousSlot: record?.previous?.slot.rawValue, updateInProgress: journal?.version, updateStep: journal?.step.name.rawValue,
                failedVersions: context.ledger.failedVersions[name.rawValue] ?? [], updateFetchedBytes: journal?.transfer.fetchedBytes,
                transfer: record?.transfer, shadow: journal.flatMap(shadowProgress), variant: record?.variant, updateVariant: journal?.variant)
        }
        let credentials = try StateFile.read(Credentials.self, from: layout.credentials)
        let trustState = try context.trust.state()
        let report: DeviceAPI.TrustReport
        do { report = try context.trust.report() } catch {
            report = DeviceAPI.TrustReport(rootVersion: context.trust.anchor.version, channel: context.trust.channel, problem: String(describing: error))
        }
        return StatusReport(deviceID: config.deviceID, registered: credentials?.registered ?? (credentials != nil), server: config.serverURL,
                            lastCheckin: status.lastCheckin, lastError: status.lastError, lastErrorAt: status.lastErrorAt,
                            eventsWaiting: context.outbox.pending.count,
                            trust: StatusReport.Trust(report: report, stale: report.isStale(at: context.clock.now), problemAt: trustState.problemAt,
                                                     clockBehindServerSeconds: trustState.clockBehindServerSeconds),
                            bundles: bundles)
    }

    /// The status as text, judged by this agent's clock.
    public func statusText() throws -> String { try statusReport().text(now: context.clock.now) }
}
