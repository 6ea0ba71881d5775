import Foundation
import OTAClient
import OTACore
import TestSupport
import Testing

/// What devices and operators may send about model quality: every bad input is a 400 that
/// stores nothing, and the figures land where the gates read them.
@Suite("Model quality through the API", .tags(.database))
struct QualityAPITests {
    static let figures = #""latency_p50_ms":1,"latency_p95_ms":2,"errors":0"#

    func metricsBody(_ report: String, digest: String = String(repeating: "a", count: 64), name: String = "m") -> [UInt8] {
        Array(#"{"metrics":[{"bundle_name":"\#(name)","version":"1.0.0","digest":"\#(digest)","at":"2026-12-01T00:00:00Z","report":\#(report)}]}"#.utf8)
    }

    @Test("Figures for a version the device does not run are refused and stored nowhere")
    func metricsForAnotherVersionAreRefused() throws {
        let server = try TestServer()
        let device = try server.registerDevice("d1")
        let sent = try server.request("POST", DeviceAPI.metricsPath, device: device, body: metricsBody("{\"samples\":5,\(Self.figures)}"))
        #expect(sent.status == 409, "\(String(decoding: sent.body, as: UTF8.self))")
        #expect(String(decoding: sent.body, as: UTF8.self).contains("does not run m 1.0.0"))
        #expect(try server.admin().fleetSummary().metrics == [])
    }

    @Test("Bad metrics from a device are refused whole, with a reason", arguments: [
        ("{\"samples\":5,\"latency_p50_ms\":3,\"latency_p95_ms\":2,\"errors\":0}", "below its latency_p50_ms"),
        ("{\"samples\":-5,\(figures)}", "samples must be"),
        ("{\"samples\":5,\(figures),\"confidence\":7}", "confidence"),
        ("{\"samples\":5,\(figures),\"metrics\":{\"../x\":1}}", "metric name"),
        ("{\"samples\":5,\(figures),\"extra\":1}", "unknown field"),
        ("{\"samples\":5}", "missing field"),
    ])
    func badMetricsAreRefused(_ report: String, _ problem: String) throws {
        let server = try TestServer()
        let device = try server.registerDevice("d1")
        let result = try server.request("POST", DeviceAPI.metricsPath, device: device, body: metricsBody(report))
        #expect(result.status == 400)
        #expect(String(decoding: result.body, as: UTF8.self).contains(problem), "\(String(decoding: result.body, as: UTF8.self))")
    }

    @Test("Metrics naming a malformed digest or bundle, or too many at once, are refused")
    func badMetricsEnvelopeIsRefused() throws {
        let server = try TestServer()
        let device = try server.registerDevice("d1")
        let report = "{\"samples\":5,\(Self.figures)}"
        #expect(try server.request("POST", DeviceAPI.metricsPath, device: device, body: metricsBody(report, digest: "xyz")).status == 400)
        #expect(try server.request("POST", DeviceAPI.metricsPath, device: device, body: metricsBody(report, name: "../etc")).status == 400)
        #expect(try server.request("POST", DeviceAPI.metricsPath, device: device, body: Array(#"{"metrics":[]}"#.utf8)).status == 400)
        #expect(try server.request("POST", DeviceAPI.metricsPath, body: metricsBody(report)).status == 401, "only devices report figures")
    }

    @Test("An event whose shadow report is out of range is refused and changes nothing")
    func badShadowEventIsRefused() throws {
        let server = try TestServer()
        let device = try server.registerDevice("d1")
        let event = #"{"events":[{"bundle_name":"m","version":"1.0.0","state":"failed","detail":"x","at":"2026-12-01T00:00:00Z","shadow":{"passed":true,"gates":[],"report":{"shadow_id":"s","samples":5,"agreement":3,"live":{\#(Self.figures)},"candidate":{\#(Self.figures)}}}}]}"#
        let result = try server.request("POST", DeviceAPI.eventsPath, device: device, body: Array(event.utf8))
        #expect(result.status == 400)
        #expect(try server.admin().device("d1").events.isEmpty)
    }

    @Test("A shadow phase is refused for a bundle that is not a model")
    func shadowNeedsAModel() throws {
        let server = try TestServer()
        try server.publish(name: "fw", version: "1.0.0", files: ["image": [1]], kind: "firmware")
        #expect(throws: HTTPClientError.self) {
            _ = try server.admin(.operator).createDeployment(.init(bundleName: "fw", version: "1.0.0", target: .everyCompatibleDevice, shadow: .init()))
        }
        #expect(try server.admin().deployments().isEmpty)
    }

    @Test("A deployment shows its shadow policy and gates, with the default gate when none is given")
    func deploymentShowsItsPolicy() throws {
        let server = try TestServer()
        try server.publish(name: "m", version: "1.0.0", files: ["a": [1]])
        let created = try server.admin(.operator).createDeployment(.init(bundleName: "m", version: "1.0.0", target: .everyCompatibleDevice,
                                                                          shadow: .init(minSamples: 30)))
        let shown = try server.admin().deployment(created.id)
        #expect(shown.shadow == ShadowPolicy(minSamples: 30, maxSeconds: 600, sampleShare: 1, gates: ShadowPolicy.defaultGates))
        #expect(shown.gates?.map(\.description) == ["errors<=0"])
    }
}
