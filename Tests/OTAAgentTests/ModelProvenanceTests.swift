import Foundation
import OTAAgent
import OTACore
import TestSupport
import Testing

/// The model team's signature on the device: where the trust root requires it, the agent
/// checks the downloaded files against it before staging, and refuses anything else with the
/// reason, changing nothing. Signatures by the real `model_signing` tool; in process.
@Suite("The model team's signature on the device, in process")
struct ModelProvenanceTests {
    /// A folder signed by the tool, read back as a bundle's files (with its model.sig).
    static func signed(_ files: [String: [UInt8]], key: String, tool: ModelSigningTool, name: String) throws -> [String: [UInt8]] {
        for (path, bytes) in files { try tool.dir.write("\(name)/\(path)", bytes) }
        try tool.sign(tool.dir.file(name), with: key)
        var result = files
        result[ModelSignature.fileName] = try FileSystem.readFile(tool.dir.file("\(name)/\(ModelSignature.fileName)"))
        return result
    }

    func device(signer: String) throws -> LocalDevice {
        try LocalDevice(modelSigning: try ModelSigningPolicy(signers: ["vision-team": signer], bundles: ["digits"]))
    }

    @Test("A model signed by the named team installs; one changed after signing, or unsigned, is refused with the reason and the live version stays")
    func refusesWhatTheTeamDidNotSign() throws {
        let tool = ModelSigningTool(TemporaryDirectory("ota-provenance"))
        let key = try tool.key("team", curve: "secp384r1")
        let device = try device(signer: key.publicPEM)
        let v1 = try Self.signed(["model.onnx": Array("weights 1".utf8), "labels.txt": Array("0\n1\n".utf8)], key: key.privateKey, tool: tool, name: "v1")
        try device.deploy(try device.bundle("1.0.0", files: v1))
        #expect(try device.cycle().committed == ["digits"])
        let live = try device.liveFiles()

        // The release pipeline swapped the weights after the model team signed them.
        var poisoned = try Self.signed(["model.onnx": Array("weights 2".utf8), "labels.txt": Array("0\n1\n".utf8)], key: key.privateKey, tool: tool, name: "v2")
        poisoned["model.onnx"] = Array("poisoned weights".utf8)
        try device.deploy(try device.bundle("2.0.0", files: poisoned), deploymentID: "dep_2")
        #expect(try device.cycle().failed == ["digits"])
        #expect(device.fleet.events.last?.detail.contains("refused by the model team's signature check: 'model.onnx' changed after the model team signed it") == true,
                "\(device.fleet.events.last?.detail ?? "")")
        #expect(try device.liveFiles() == live && !device.journalExists)

        // The same signed folder again under a new version: its model.sig is reused from the
        // live slot, not fetched, and still checked.
        let fetches = device.fleet.calls(.content)
        try device.deploy(try device.bundle("1.1.0", files: v1), deploymentID: "dep_4")
        #expect(try device.cycle().committed == ["digits"])
        #expect(device.fleet.calls(.content) == fetches)
        #expect(try device.liveFiles() == live)

        // No model.sig at all, for a bundle the root says must have one.
        try device.deploy(try device.bundle("3.0.0", files: ["model.onnx": Array("weights 3".utf8)]), deploymentID: "dep_3")
        #expect(try device.cycle().failed == ["digits"])
        #expect(device.fleet.events.last?.detail.contains("requires the model team's signature") == true)
        #expect(try device.liveFiles() == live)
    }

    @Test("With variants, each build's folder is signed on its own; the build a device takes must carry its signature")
    func variantsAreSignedEach() throws {
        let tool = ModelSigningTool(TemporaryDirectory("ota-provenance"))
        let key = try tool.key("team")
        let device = try device(signer: key.publicPEM)
        var files: [String: [UInt8]] = [:]
        for (path, bytes) in try Self.signed(["model.onnx": Array("fp32".utf8)], key: key.privateKey, tool: tool, name: "fp32") { files["fp32/" + path] = bytes }
        files["int8/model.onnx"] = Array("int8, unsigned".utf8)
        let variants = try VariantsFile.parse("int8 cpu.arch = aarch64\nfp32\n")
        // The x86 test device takes fp32, which is signed.
        try device.deploy(try device.bundle("1.0.0", files: files, variants: variants))
        #expect(try device.cycle().committed == ["digits"])
        #expect(try device.liveFiles()["model.onnx"] == Array("fp32".utf8))
        // An ARM device takes int8, whose folder holds no signature: refused, nothing installed.
        let arm = try self.device(signer: key.publicPEM)
        arm.inventoryProbe = InventoryProbe(procRoot: "/nonexistent", machine: { "aarch64" })
        try arm.deploy(try arm.bundle("1.0.0", files: files, variants: variants))
        #expect(try arm.cycle().failed == ["digits"])
        #expect(arm.fleet.events.last?.detail.contains("the folder of variant 'int8' holds no model.sig") == true, "\(arm.fleet.events.last?.detail ?? "")")
        #expect(arm.fleet.events.last?.variant == "int8")
        #expect(arm.currentSlot() == nil)
    }
}
