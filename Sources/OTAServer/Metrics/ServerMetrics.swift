import OTACore
import Prometheus

/// The server's Prometheus metrics, served at `GET /metrics`. Owned by the application and
/// passed where needed (no global metrics system).
public final class ServerMetrics: Sendable {
    let registry = PrometheusCollectorRegistry()
    let checkins: Counter
    let registrations: Counter
    let downloads: Counter
    let bytesSent: Counter
    let uploads: Counter
    let bytesReceived: Counter
    let publishes: Counter
    private let events: [DeviceAPI.UpdateState: Counter]

    public init() {
        checkins = registry.makeCounter(name: "ota_checkins_total", help: "Device check-ins answered.")
        registrations = registry.makeCounter(name: "ota_registrations_total", help: "Devices registered.")
        downloads = registry.makeCounter(name: "ota_content_downloads_total", help: "Content downloads started (including ranges).")
        bytesSent = registry.makeCounter(name: "ota_content_bytes_sent_total", help: "Content bytes sent to devices.")
        uploads = registry.makeCounter(name: "ota_content_uploads_total", help: "Content uploads stored.")
        bytesReceived = registry.makeCounter(name: "ota_content_bytes_received_total", help: "Content bytes stored from uploads.")
        publishes = registry.makeCounter(name: "ota_publishes_total", help: "Bundles published.")
        var events: [DeviceAPI.UpdateState: Counter] = [:]
        for state in DeviceAPI.UpdateState.allCases {
            events[state] = registry.makeCounter(name: "ota_device_events_total", labels: [("state", state.rawValue)],
                                                 help: "Update events reported by devices, by state.")
        }
        self.events = events
    }

    func event(_ state: DeviceAPI.UpdateState) { events[state]?.increment() }

    func text() -> [UInt8] { registry.emitToBuffer() }
}
