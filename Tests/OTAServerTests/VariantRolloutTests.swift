import OTAClient
import OTACore
import TestSupport
import Testing

/// A bundle with variants on a real server (SQLite and PostgreSQL): published with its builds,
/// offered only to agents that pick variants and fit one of them, and followed per build.
@Suite("Bundles with variants in a rollout", .tags(.database))
struct VariantRolloutTests {
    static let variants = try! VariantsFile.parse("int8 cpu.features contains neon\nfp32 cpu.arch = x86_64\n")
    static let files: [String: [UInt8]] = ["int8/model.onnx": Array(repeating: 1, count: 300), "fp32/model.onnx": Array(repeating: 2, count: 1200)]
    static let pi = DeviceInventory(architecture: "aarch64", cpuFeatures: ["asimd", "neon"], memoryMiB: 3_906)
    static let gateway = DeviceInventory(architecture: "x86_64", cpuFeatures: ["avx2"], memoryMiB: 16_000)
    static let armv7 = DeviceInventory(architecture: "armv7l", cpuFeatures: ["vfpv4"], memoryMiB: 512)
    static let features = [DeviceAPI.Feature.variants.rawValue]

    @Test("Published with its builds; offered to agents that pick variants and fit one; followed per build; a made-up build counts nowhere")
    func rollout() throws {
        let server = try TestServer()
        try server.publish(name: "digits", version: "2.0.0", files: Self.files, variants: Self.variants)
        let admin = try server.admin()
        let bundle = try admin.bundle(name: "digits", version: try SemanticVersion("2.0.0"))
        #expect(bundle.variants?.map(\.name) == ["int8", "fp32"])
        #expect(bundle.variants?.map(\.size) == [300, 1200])
        #expect(bundle.variants?.first?.requires?.description == "cpu.features contains neon")

        let pi = try server.registerDevice("pi"), gateway = try server.registerDevice("gateway")
        let old = try server.registerDevice("old-agent"), unfit = try server.registerDevice("armv7")
        _ = try pi.checkin(.init(installed: [], features: Self.features, inventory: Self.pi))
        _ = try gateway.checkin(.init(installed: [], features: Self.features, inventory: Self.gateway))
        _ = try old.checkin(.init(installed: [], inventory: Self.pi))
        _ = try unfit.checkin(.init(installed: [], features: Self.features, inventory: Self.armv7))
        let deployment = try admin.createDeployment(.init(bundleName: "digits", version: "2.0.0", target: .all))

        #expect(try pi.checkin(.init(installed: [], features: Self.features)).assignments.map(\.name) == ["digits"])
        #expect(try gateway.checkin(.init(installed: [], features: Self.features)).assignments.map(\.name) == ["digits"])
        // An agent that does not announce variants would refuse schema 2; one that fits no build would refuse it too.
        #expect(try old.checkin(.init(installed: [])).assignments.isEmpty)
        #expect(try unfit.checkin(.init(installed: [], features: Self.features)).assignments.isEmpty)

        func event(_ state: DeviceAPI.UpdateState, _ variant: VariantName?) -> DeviceAPI.Event {
            .init(deploymentID: deployment.id, bundleName: "digits", version: "2.0.0", state: state, detail: "\(state)", variant: variant)
        }
        try pi.report([event(.downloading, "int8"), event(.succeeded, "int8")])
        try gateway.report([event(.downloading, "fp32"), event(.installing, "made-up")])
        // The first build a device names sticks: it cannot move its result to another build later.
        try pi.report([event(.succeeded, "fp32")])
        try eventually("each build's devices are counted") {
            let variants = try admin.deployment(deployment.id).variants
            return variants?.map(\.name) == ["int8", "fp32"] && variants?[0].counts.succeeded == 1 && variants?[1].counts.installing == 1
        }
        let shown = try admin.deployment(deployment.id)
        #expect(shown.counts.total == 2, "the old agent and the unfit device are not members")
        #expect(shown.variants?[1].counts.total == 1)
        // A build's failures are listed apart.
        try gateway.report([event(.failed, "fp32")])
        try eventually("a build's failures are listed apart") {
            let variants = try admin.deployment(deployment.id).variants
            return variants?[1].failureReasons?.first?.reason == "failed" && variants?[0].failureReasons == nil
        }
        // What each device runs, with its build, in the fleet views.
        let digest = shown.digest
        _ = try pi.checkin(.init(installed: [.init(name: "digits", version: try SemanticVersion("2.0.0"), digest: digest, variant: "int8")],
                                 features: Self.features))
        try eventually("the build a device runs is kept") { try admin.device("pi").device.installed.first?.variant == "int8" }
        let device = try otactl(["devices", "show", "pi", "--server", server.url, "--token", server.tokens[.viewer]!])
        #expect(device.stdout.contains("digits 2.0.0, variant int8"), "\(device.stdout)")
        // otactl shows one row per build.
        let view = try otactl(["deployments", "show", deployment.id.rawValue, "--server", server.url, "--token", server.tokens[.viewer]!])
        #expect(view.status == 0)
        #expect(view.stdout.contains("VARIANT") && view.stdout.contains("  int8") && view.stdout.contains("  fp32"), "\(view.stdout)")
        #expect(view.stdout.contains("failure reasons of variant fp32:\n  1× failed"), "\(view.stdout)")
        let listing = try otactl(["bundles", "show", "digits", "2.0.0", "--server", server.url, "--token", server.tokens[.viewer]!])
        #expect(listing.stdout.contains("cpu.features contains neon"), "\(listing.stdout)")
    }

    @Test("In a shadow rollout each build's figures are shown apart, against the live model beside it")
    func qualityPerBuild() throws {
        let server = try TestServer()
        try server.publish(name: "digits", version: "2.0.0", files: Self.files, variants: Self.variants)
        let features = Self.features + [DeviceAPI.Feature.shadow.rawValue]
        let devices = try [("pi-1", Self.pi), ("pi-2", Self.pi), ("gw-1", Self.gateway)].map { id, inventory in
            let device = try server.registerDevice(id)
            _ = try device.checkin(.init(installed: [], features: features, inventory: inventory))
            return device
        }
        let admin = try server.admin(.operator)
        let deployment = try admin.createDeployment(.init(bundleName: "digits", version: "2.0.0", target: .all, shadow: .init(),
                                                          gates: [try QualityGate(parsing: "agreement>=0.9")], gateMinDevices: 2))
        let live = ModelFigures(latencyP50Ms: 10, latencyP95Ms: 20)
        for (device, (variant, agreement, p50)) in zip(devices, [("int8", 0.97, 3.0), ("int8", 0.99, 3.4), ("fp32", 1.0, 9.0)]) {
            #expect(try device.checkin(.init(installed: [], features: features)).assignments.map(\.name) == ["digits"])
            let report = ShadowReport(shadowID: "s", samples: 200, agreement: agreement, live: live,
                                      candidate: ModelFigures(latencyP50Ms: p50, latencyP95Ms: p50 * 2))
            try device.report([.init(deploymentID: deployment.id, bundleName: "digits", version: "2.0.0", state: .shadow, detail: "in shadow",
                                     shadow: .init(passed: true, report: report, gates: []), variant: VariantName(variant))])
        }
        try eventually("each build's figures are shown") {
            try admin.deployment(deployment.id).variants?.compactMap(\.quality).map(\.devices) == [2, 1]
        }
        let variants = try #require(try admin.deployment(deployment.id).variants)
        func median(_ variant: Int, _ metric: String) -> Double? {
            variants[variant].quality?.metrics.first { $0.metric == metric }?.candidate?.median
        }
        #expect(median(0, "agreement") == 0.98 && median(1, "agreement") == 1.0)
        #expect(median(0, "latency_p50") == 3.2 && median(1, "latency_p50") == 9.0)
        // Each build's verdict waits for gate_min_devices of its own devices, like a phase's.
        #expect(variants[0].quality?.gates.first?.verdict == .pass)
        #expect(variants[1].quality?.gates.first?.verdict == .waiting)
        let view = try otactl(["deployments", "show", deployment.id.rawValue, "--server", server.url, "--token", server.tokens[.viewer]!])
        #expect(view.stdout.contains("variant int8 quality, 2 devices in shadow") && view.stdout.contains("variant fp32 quality, 1 device"), "\(view.stdout)")
    }

    @Test("A variant name that is not a folder name is a 400 naming the field, and changes nothing")
    func badVariantInEvent() throws {
        let server = try TestServer()
        let device = try server.registerDevice("d")
        let body = #"{"events":[{"bundle_name":"digits","version":"1.0.0","state":"downloading","detail":"x","at":"2026-12-01T00:00:00Z","variant":"../etc"}]}"#
        let result = try server.request("POST", DeviceAPI.eventsPath, device: device, body: Array(body.utf8))
        #expect(result.status == 400)
        #expect(String(decoding: result.body, as: UTF8.self).contains("variant"))
        #expect(try server.admin().device("d").events.isEmpty)
    }
}
