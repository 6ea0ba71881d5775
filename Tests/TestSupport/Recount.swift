import OTACore

extension TestServer {
    /// Counts per membership state recomputed from the devices' last events for the
    /// deployment (and devices that joined without reporting yet): what the trigger-kept
    /// counters must equal.
    public func recountFromEvents(_ deployment: String) throws -> [String: Int] {
        let result = try sql("""
            SELECT e.state, count(*) FROM events e
            JOIN (SELECT device_id, max(id) AS id FROM events WHERE deployment_id = '\(deployment)' GROUP BY device_id) last ON last.id = e.id
            GROUP BY e.state;
            SELECT 'pending', count(*) FROM deployment_devices dd WHERE dd.deployment_id = '\(deployment)'
                AND NOT EXISTS (SELECT 1 FROM events e WHERE e.deployment_id = dd.deployment_id AND e.device_id = dd.device_id);
            """)
        var counts: [String: Int] = [:]
        for line in result.stdout.split(separator: "\n") {
            let parts = line.split(separator: " ")
            let state: String
            switch parts[0] {
            case "downloading", "downloaded": state = "downloading"
            case "installing", "health-check": state = "installing"
            case "rolled-back": state = "rolled_back"
            default: state = String(parts[0])
            }
            counts[state, default: 0] += Int(parts[1]) ?? 0
        }
        return counts.filter { $0.value > 0 }
    }
}

extension AdminAPI.StateCounts {
    /// The non-zero counts by membership state, as `recountFromEvents` gives them.
    public var byState: [String: Int] {
        ["pending": pending, "downloading": downloading, "installing": installing,
         "succeeded": succeeded, "failed": failed, "rolled_back": rolledBack].filter { $0.value > 0 }
    }
}
