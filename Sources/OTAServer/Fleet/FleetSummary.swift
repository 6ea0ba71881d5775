import OTACore

/// The fleet overview: every figure is an indexed aggregate or a trigger-kept counter.
enum FleetSummary {
    static func load(_ db: any SQLDatabase, silentAfterSeconds: Int) async throws -> AdminAPI.FleetSummary {
        let cutoff = Timestamp.epochSeconds() - Int64(silentAfterSeconds)
        return try await db.read { db in
            func counts(_ query: SQLQuery) async throws -> [AdminAPI.FleetSummary.Count] {
                try await db.rows(query).map { .init(key: try $0.string("key"), count: try $0.int("n")) }
            }
            let byState = try await counts("SELECT state AS key, count(*) AS n FROM devices GROUP BY state ORDER BY n DESC")
            let byHardware = try await counts("SELECT hardware AS key, count(*) AS n FROM devices GROUP BY hardware ORDER BY n DESC LIMIT 100")
            let silent = try await db.value(Int.self, "SELECT count(*) FROM devices WHERE last_seen IS NULL OR last_seen < \(cutoff)") ?? 0
            var bundles: [BundleName: [AdminAPI.VersionCount]] = [:]
            for row in try await db.rows("SELECT bundle_name, version, count FROM installed_counts WHERE count > 0 ORDER BY bundle_name, count DESC") {
                bundles[try row["bundle_name"], default: []].append(.init(version: try row.string("version"), count: try row.int("count")))
            }
            let active = try await db.value(Int.self, "SELECT count(*) FROM deployments WHERE status IN ('active', 'paused')") ?? 0
            return AdminAPI.FleetSummary(
                devices: byState.reduce(0) { $0 + $1.count }, byState: byState, byHardware: byHardware, silent: silent,
                silentAfterSeconds: silentAfterSeconds, bundles: bundles.keys.sorted().map { .init(name: $0, versions: bundles[$0]!) },
                activeDeployments: active)
        }
    }
}
