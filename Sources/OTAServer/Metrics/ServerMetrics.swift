import OTACore
import Prometheus

/// The server's Prometheus metrics, served at `GET /metrics`. Owned by the application and
/// passed where needed (no global metrics system).
public final class ServerMetrics: Sendable {
    let registry = PrometheusCollectorRegistry()
    let checkins: Counter
    let registrations: Counter
    let downloads: Counter
    let redirectedDownloads: Counter
    let bytesSent: Counter
    let uploads: Counter
    let bytesReceived: Counter
    let publishes: Counter
    /// What answering `ranges` requests cost the content store.
    let rangeStoreReads: Counter
    let rangeStoreBytes: Counter
    /// Requests refused by a quota or a per-address limit (429), and connections closed to
    /// make room for others (`ConnectionGate`) or for missing a deadline (`ConnectionGuard`).
    let rateLimited: Counter
    let connectionsDropped: Counter
    /// 1 on the instance that runs the once-only background work (see `holdsLeadership`).
    let leader: Gauge
    /// Rounds of the leader's rollout timers: a leader whose count stops has stalled.
    let rolloutTicks: Counter
    private let events: [DeviceAPI.UpdateState: Counter]

    public init() {
        checkins = Self.counter(registry, "checkins", "Device check-ins answered.")
        registrations = Self.counter(registry, "registrations", "Devices registered.")
        downloads = Self.counter(registry, "content_downloads", "Content downloads started (including ranges).")
        redirectedDownloads = Self.counter(registry, "content_redirects", "Downloads sent to the object store with a short-lived URL.")
        bytesSent = Self.counter(registry, "content_bytes_sent", "Content bytes sent to devices.")
        uploads = Self.counter(registry, "content_uploads", "Content uploads stored.")
        bytesReceived = Self.counter(registry, "content_bytes_received", "Content bytes stored from uploads.")
        publishes = Self.counter(registry, "publishes", "Bundles published.")
        rangeStoreReads = Self.counter(registry, "range_store_reads", "Reads from the content store made to answer ranges requests.")
        rangeStoreBytes = Self.counter(registry, "range_store_read_bytes", "Bytes read from the content store to answer ranges requests.")
        rateLimited = Self.counter(registry, "rate_limited", "Requests answered 429: a device over its quota, or an address with too many failures.")
        connectionsDropped = Self.counter(registry, "connections_dropped", "Connections closed for missing a deadline, for a stalled answer, or to make room for others (unauthenticated ones beyond their share).")
        leader = registry.makeGauge(name: "ota_leader", help: "1 when this instance leads the instances sharing the database (rollout timers, trust renewal).")
        rolloutTicks = Self.counter(registry, "rollout_ticks", "Rounds of the rollout timers (soak, automatic advances, quality gates) run by the leading instance.")
        var events: [DeviceAPI.UpdateState: Counter] = [:]
        for state in DeviceAPI.UpdateState.allCases {
            events[state] = Self.counter(registry, "device_events", "Update events reported by devices, by state.",
                                         labels: [("state", state.rawValue)])
        }
        self.events = events
    }

    /// A counter named `ota_NAME_total`.
    private static func counter(_ registry: PrometheusCollectorRegistry, _ name: String, _ help: String,
                                labels: [(String, String)] = []) -> Counter {
        registry.makeCounter(descriptor: .init(namespace: "ota", metricName: name, unitName: "total", helpText: help), labels: labels)
    }

    func event(_ state: DeviceAPI.UpdateState) { events[state]?.increment() }

    func text() -> [UInt8] { registry.emitToBuffer() }
}
