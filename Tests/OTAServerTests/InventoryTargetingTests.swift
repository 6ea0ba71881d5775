import OTAClient
import OTACore
import TestSupport
import Testing

/// What devices say they are, kept by a real server (SQLite and PostgreSQL), shown to the
/// operator, and read by deployments that filter by it.
@Suite("Device inventories and deployments filtered by them", .tags(.database))
struct InventoryTargetingTests {
    static let pi = DeviceInventory(architecture: "aarch64", cpuFeatures: ["asimd", "neon"], memoryMiB: 3_906,
                                    runtimes: ["onnxruntime": try! DottedVersion("1.17.1")])
    static let gateway = DeviceInventory(architecture: "x86_64", cpuFeatures: ["avx2"], memoryMiB: 16_000,
                                         runtimes: ["onnxruntime": try! DottedVersion("1.16.0")])

    @Test("A check-in's inventory is kept and shown; one without keeps it; a filtered deployment reaches only devices that meet it, and one whose hardware changed")
    func filtered() throws {
        let server = try TestServer()
        try server.publish(name: "m", version: "1.0.0", files: ["model.onnx": [1, 2, 3]])
        let pi = try server.registerDevice("pi"), gateway = try server.registerDevice("gateway"), silent = try server.registerDevice("silent")
        _ = try pi.checkin(.init(installed: [], inventory: Self.pi))
        _ = try gateway.checkin(.init(installed: [], inventory: Self.gateway))
        _ = try silent.checkin(.init(installed: []))
        let admin = try server.admin()
        try eventually("the inventory is written") { try admin.device("pi").device.inventory == Self.pi }
        #expect(try admin.device("silent").device.inventory == nil)

        let condition = try InventoryCondition("cpu.features contains neon and runtime.onnxruntime >= 1.17")
        let deployment = try admin.createDeployment(.init(bundleName: "m", version: "1.0.0", target: .all, inventoryFilter: condition))
        #expect(deployment.inventoryFilter == condition)
        #expect(try admin.deployment(deployment.id).inventoryFilter?.description == condition.description)
        // A check-in without an inventory keeps the last one.
        #expect(try pi.checkin(.init(installed: [])).assignments.map(\.name) == ["m"])
        #expect(try gateway.checkin(.init(installed: [])).assignments.isEmpty)
        #expect(try silent.checkin(.init(installed: [])).assignments.isEmpty)
        // The gateway gets a newer runtime and an ARM build of itself: it meets the filter now.
        var upgraded = Self.gateway
        upgraded.cpuFeatures = ["avx2", "neon"]
        upgraded.runtimes["onnxruntime"] = try DottedVersion("1.18.0")
        #expect(try gateway.checkin(.init(installed: [], inventory: upgraded)).assignments.map(\.name) == ["m"])
        try eventually("the new inventory is written") { try admin.device("gateway").device.inventory == upgraded }
    }

    @Test("A malformed filter or inventory is a 400 naming it, and changes nothing")
    func refused() throws {
        let server = try TestServer()
        try server.publish(name: "m", version: "1.0.0", files: ["model.onnx": [1]])
        let device = try server.registerDevice("d")
        let admin = try server.admin()
        for body in [#"{"bundle_name":"m","version":"1.0.0","target":{"all":true},"where":"cpu.arch ~ arm"}"#,
                     #"{"bundle_name":"m","version":"1.0.0","target":{"all":true},"where":"gpu.kind = cuda"}"#,
                     #"{"bundle_name":"m","version":"1.0.0","target":{"all":true},"where":7}"#] {
            let result = try server.request("POST", "/api/v1/deployments", role: .operator, json: body)
            let answer = String(decoding: result.body, as: UTF8.self)
            #expect(result.status == 400, "\(body): \(answer)")
            #expect(answer.contains("where"), "\(body): \(answer)")
        }
        #expect(try admin.deployments().isEmpty)
        for inventory in [#"{"memory_mib":0}"#, #"{"architecture":"X86"}"#, #"{"cpu_features":"neon"}"#, #"{"runtimes":{"ort":"new"}}"#] {
            let result = try server.request("POST", DeviceAPI.checkinPath, device: device, body: Array(#"{"installed":[],"inventory":\#(inventory)}"#.utf8))
            let answer = String(decoding: result.body, as: UTF8.self)
            #expect(result.status == 400, "\(inventory): \(answer)")
            #expect(answer.contains("inventory"), "\(inventory): \(answer)")
        }
        #expect(try admin.device("d").device.inventory == nil)
    }
}
