import Foundation
import OTACore

/// What devices measured of their models (`model_reports`): the figures of each shadow phase
/// and the live figures from `metrics_command`, the latest per device and version.
struct QualityStore: Sendable {
    let db: any SQLDatabase

    /// Keeps a shadow verdict, in the transaction that records its event.
    static func recordShadow(_ db: any SQLTransaction, deviceID: String, event: DeviceAPI.Event, deploymentID: String,
                             outcome: DeviceAPI.ShadowOutcome, receivedAt: String) throws {
        try upsert(db, deviceID: deviceID, bundleName: event.bundleName, version: event.version, source: .shadow,
                   deploymentID: deploymentID, passed: outcome.passed, report: JSONColumn.encode(outcome), at: event.at, receivedAt: receivedAt)
    }

    /// Keeps live figures; `deploymentIDs[i]` is the deployment that brought `metrics[i]`'s version.
    func recordLive(_ metrics: [DeviceAPI.ModelMetrics], deviceID: String, deploymentIDs: [String?]) async throws {
        let received = Timestamp.now()
        try await db.write { db in
            for (index, item) in metrics.enumerated() {
                try Self.upsert(db, deviceID: deviceID, bundleName: item.bundleName, version: item.version, source: .live,
                                deploymentID: deploymentIDs[index], passed: nil, report: JSONColumn.encode(item.report), at: item.at,
                                receivedAt: received)
            }
        }
    }

    private static func upsert(_ db: any SQLTransaction, deviceID: String, bundleName: String, version: String, source: ReportSource,
                               deploymentID: String?, passed: Bool?, report: String, at: String, receivedAt: String) throws {
        try db.execute("""
            INSERT INTO model_reports (device_id, bundle_name, version, source, deployment_id, passed, report, at, received_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (device_id, bundle_name, version, source) DO UPDATE SET
                deployment_id = COALESCE(excluded.deployment_id, model_reports.deployment_id), passed = excluded.passed, report = excluded.report,
                at = excluded.at, received_at = excluded.received_at
            """, [deviceID, bundleName, version, source.rawValue, deploymentID, passed.map { $0 ? 1 : 0 }, report, at, receivedAt])
    }

    /// One phase's figures: from shadow phases when the deployment has one, else from the live
    /// reports of its version. Nil when the deployment has neither a shadow phase nor gates.
    static func phaseQuality(_ db: any SQLTransaction, plan: DeploymentPlan, version: String, phase: Int, counts: AdminAPI.StateCounts) throws -> AdminAPI.PhaseQuality? {
        guard plan.shadow != nil || !plan.gates.isEmpty else { return nil }
        let needed = neededDevices(plan, phase: phase, counts: counts)
        let source: ReportSource = plan.shadow != nil ? .shadow : .live
        let rows = try db.rows("""
            SELECT r.device_id, r.report FROM model_reports r
            JOIN deployment_devices dd ON dd.deployment_id = r.deployment_id AND dd.device_id = r.device_id
            WHERE r.deployment_id = ? AND r.source = ? AND r.version = ? AND dd.phase = ?
            """, [plan.id, source.rawValue, version, phase])
        if source == .shadow {
            let outcomes = rows.compactMap { try? JSONColumn.decode(DeviceAPI.ShadowOutcome.self, from: $0.string("report")) }
            return QualitySummary.shadow(phase: phase, outcomes: outcomes, gates: plan.gates, needed: needed)
        }
        let candidate = rows.compactMap { try? JSONColumn.decode(MetricsReport.self, from: $0.string("report")) }
        // What the same devices measured of the version they ran before, where they still have it.
        let baseline = try db.rows("""
            SELECT r.report FROM model_reports r
            JOIN deployment_devices dd ON dd.device_id = r.device_id AND dd.deployment_id = ?
            WHERE r.bundle_name = ? AND r.source = 'live' AND r.version <> ? AND dd.phase = ?
            """, [plan.id, plan.bundleName, version, phase]).compactMap { try? JSONColumn.decode(MetricsReport.self, from: $0.string("report")) }
        return QualitySummary.live(phase: phase, candidate: candidate, baseline: baseline, gates: plan.gates, needed: needed)
    }

    /// The newest live reports the overview sums up: a bound on its cost with a large fleet.
    static let overviewReports = 20_000

    /// How many devices' figures a phase's gates wait for: `gate_min_devices`, or every device
    /// of a smaller phase (its named devices, or, once none is still updating, those admitted).
    /// So the first device to report in a large phase cannot decide for it alone.
    static func neededDevices(_ plan: DeploymentPlan, phase: Int, counts: AdminAPI.StateCounts) -> Int {
        if plan.phases.indices.contains(phase), let listed = plan.phases[phase].devices?.count { return min(plan.gateMinDevices, listed) }
        let updating = counts.pending + counts.downloading + counts.installing
        return updating == 0 ? min(plan.gateMinDevices, max(counts.total, 1)) : plan.gateMinDevices
    }

    /// Each version's live figures across the fleet, for the overview (from at most the
    /// `overviewReports` newest reports).
    func versionMetrics(limit: Int = 50) async throws -> [AdminAPI.VersionMetrics] {
        try await db.read { db in
            var grouped: [String: (name: String, version: String, reports: [MetricsReport])] = [:]
            for row in try db.rows("""
                SELECT bundle_name, version, report FROM model_reports WHERE source = 'live'
                  AND (bundle_name, version) IN (SELECT bundle_name, version FROM installed_counts WHERE count > 0)
                ORDER BY received_at DESC LIMIT ?
                """, [Self.overviewReports]) {
                guard let report = try? JSONColumn.decode(MetricsReport.self, from: row.string("report")) else { continue }
                let key = row.string("bundle_name") + "\u{0}" + row.string("version")
                grouped[key, default: (row.string("bundle_name"), row.string("version"), [])].reports.append(report)
            }
            return grouped.values.sorted { ($0.name, $0.version) < ($1.name, $1.version) }.prefix(limit).map { entry in
                AdminAPI.VersionMetrics(bundleName: entry.name, version: entry.version, metrics: QualitySummary.shownMetrics(gates: [], source: .live).map { metric in
                    AdminAPI.MetricComparison(metric: metric.name, candidate: AdminAPI.Distribution(entry.reports.compactMap { $0.figures.value(metric) }), baseline: nil)
                })
            }
        }
    }
}
