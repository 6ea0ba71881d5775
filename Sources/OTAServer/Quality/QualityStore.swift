import Foundation
import OTACore

/// What devices measured of their models (`model_reports`): the figures of each shadow phase
/// and the live figures from `metrics_command`, the latest per device and version.
struct QualityStore: Sendable {
    let db: any SQLDatabase

    /// Keeps a shadow verdict, in the transaction that records its event.
    static func recordShadow(_ db: any SQLTransaction, deviceID: DeviceID, event: DeviceAPI.Event, deploymentID: DeploymentID,
                             outcome: DeviceAPI.ShadowOutcome, receivedAt: Timestamp) async throws {
        try await upsert(db, deviceID: deviceID, bundleName: event.bundleName, version: event.version, source: .shadow,
                   deploymentID: deploymentID, passed: outcome.passed, report: try JSONColumn.encode(outcome), at: event.at, receivedAt: receivedAt)
    }

    /// Keeps live figures; `deploymentIDs[i]` is the deployment that brought `metrics[i]`'s version.
    func recordLive(_ metrics: [DeviceAPI.ModelMetrics], deviceID: DeviceID, deploymentIDs: [DeploymentID?], at received: Timestamp) async throws {
        try await db.write { db in
            for (index, item) in metrics.enumerated() {
                try await Self.upsert(db, deviceID: deviceID, bundleName: item.bundleName, version: item.version, source: .live,
                                deploymentID: deploymentIDs[index], passed: nil, report: try JSONColumn.encode(item.report), at: item.at,
                                receivedAt: received)
            }
        }
    }

    private static func upsert(_ db: any SQLTransaction, deviceID: DeviceID, bundleName: BundleName, version: String, source: ReportSource,
                               deploymentID: DeploymentID?, passed: Bool?, report: String, at: Timestamp, receivedAt: Timestamp) async throws {
        try await db.execute("""
            INSERT INTO model_reports (device_id, bundle_name, version, source, deployment_id, passed, report, at, received_at)
            VALUES (\(deviceID), \(bundleName), \(version), \(source), \(deploymentID), \(passed.map { $0 ? 1 : 0 }), \(report), \(at), \(receivedAt))
            ON CONFLICT (device_id, bundle_name, version, source) DO UPDATE SET
                deployment_id = COALESCE(excluded.deployment_id, model_reports.deployment_id), passed = excluded.passed, report = excluded.report,
                at = excluded.at, received_at = excluded.received_at
            """)
    }

    /// One phase's figures: from shadow phases when the deployment has one, else from the live
    /// reports of its version. Nil when the deployment has neither a shadow phase nor gates.
    /// With `variant`: the figures of the devices that chose that build, in phases up to `phase`.
    static func phaseQuality(_ db: any SQLTransaction, plan: DeploymentPlan, version: String, phase: Int, counts: AdminAPI.StateCounts,
                             variant: VariantName? = nil) async throws -> AdminAPI.PhaseQuality? {
        guard plan.shadow != nil || !plan.gates.isEmpty else { return nil }
        let needed = neededDevices(plan, phase: phase, counts: counts)
        let source: ReportSource = plan.shadow != nil ? .shadow : .live
        // One phase's devices, or one build's devices in every phase reached so far.
        let members: SQLQuery = variant.map { " dd.phase <= \(phase) AND dd.variant = \($0)" } ?? " dd.phase = \(phase)"
        let rows = try await db.rows("""
            SELECT r.device_id, r.report FROM model_reports r
            JOIN deployment_devices dd ON dd.deployment_id = r.deployment_id AND dd.device_id = r.device_id
            WHERE r.deployment_id = \(plan.id) AND r.source = \(source) AND r.version = \(version) AND
            """ + members)
        if source == .shadow {
            let outcomes = rows.compactMap { Self.stored(DeviceAPI.ShadowOutcome.self, $0) }
            return QualitySummary.shadow(phase: phase, outcomes: outcomes, gates: plan.gates, needed: needed)
        }
        let candidate = rows.compactMap { Self.stored(MetricsReport.self, $0) }
        // What the same devices measured of the version they ran before, where they still have it.
        let baseline = try await db.rows("""
            SELECT r.report FROM model_reports r
            JOIN deployment_devices dd ON dd.device_id = r.device_id AND dd.deployment_id = \(plan.id)
            WHERE r.bundle_name = \(plan.bundleName) AND r.source = 'live' AND r.version <> \(version) AND
            """ + members).compactMap { Self.stored(MetricsReport.self, $0) }
        return QualitySummary.live(phase: phase, candidate: candidate, baseline: baseline, gates: plan.gates, needed: needed)
    }

    /// A stored report, or nil: its JSON came from a device, so a row that does not decode
    /// (written by another version, or damaged) is left out of the figures, not fatal.
    static func stored<T: Decodable>(_ type: T.Type, _ row: SQLRow) -> T? {
        do { return try JSONColumn.decode(T.self, from: try row.string("report")) } catch { return nil }
    }

    /// The newest live reports the overview sums up: a bound on its cost with a large fleet.
    static let overviewReports = 20_000

    /// How many devices' figures a phase's gates wait for: `gate_min_devices`, or every device
    /// of a smaller phase (its named devices, or, once none is still updating, those admitted).
    /// So the first device to report in a large phase cannot decide for it alone.
    static func neededDevices(_ plan: DeploymentPlan, phase: Int, counts: AdminAPI.StateCounts) -> Int {
        if plan.phases.indices.contains(phase), let listed = plan.phases[phase].listedDevices?.count { return min(plan.gateMinDevices, listed) }
        let updating = counts.pending + counts.downloading + counts.installing
        return updating == 0 ? min(plan.gateMinDevices, max(counts.total, 1)) : plan.gateMinDevices
    }

    /// Each version's live figures across the fleet, for the overview (from at most the
    /// `overviewReports` newest reports).
    func versionMetrics(limit: Int = 50) async throws -> [AdminAPI.VersionMetrics] {
        try await db.read { db in
            var grouped: [String: (name: BundleName, version: String, reports: [MetricsReport])] = [:]
            for row in try await db.rows("""
                SELECT bundle_name, version, report FROM model_reports WHERE source = 'live'
                  AND (bundle_name, version) IN (SELECT bundle_name, version FROM installed_counts WHERE count > 0)
                ORDER BY received_at DESC LIMIT \(Self.overviewReports)
                """) {
                guard let report = Self.stored(MetricsReport.self, row) else { continue }
                let name: BundleName = try row["bundle_name"]
                let version = try row.string("version")
                grouped[name.rawValue + "\u{0}" + version, default: (name, version, [])].reports.append(report)
            }
            return grouped.values.sorted { ($0.name, $0.version) < ($1.name, $1.version) }.prefix(limit).map { entry in
                AdminAPI.VersionMetrics(bundleName: entry.name, version: entry.version, metrics: QualitySummary.shownMetrics(gates: [], source: .live).map { metric in
                    AdminAPI.MetricComparison(metric: metric.name, candidate: AdminAPI.Distribution(entry.reports.compactMap { $0.figures.value(metric) }), baseline: nil)
                })
            }
        }
    }
}
