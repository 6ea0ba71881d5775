import Foundation
import OTACore
import TestSupport
import Testing

@Suite("Bundles with variants")
struct VariantTests {
    static let digest = String(repeating: "ab", count: 32)
    static let other = String(repeating: "cd", count: 32)
    static let valid = """
    {"schema": 2, "name": "digits", "kind": "model", "version": "2.0.0", "compatible": ["edge"], "created": "2026-12-01T00:00:00Z",
     "files": [{"path": "int8/model.onnx", "size": 100, "sha256": "\(digest)"},
               {"path": "int8/check.sh", "size": 10, "sha256": "\(other)"},
               {"path": "fp32/model.onnx", "size": 400, "sha256": "\(other)"},
               {"path": "fp32/check.sh", "size": 10, "sha256": "\(other)"}],
     "health": {"command": "check.sh", "timeout_s": 30},
     "variants": [{"name": "int8", "requires": "cpu.features contains neon"}, {"name": "fp32"}]}
    """

    func problem(_ json: String) -> String? { errorText { _ = try Manifest.decode(Array(json.utf8)) } }
    func replacing(_ old: String, _ new: String) -> String {
        precondition(Self.valid.contains(old))
        return Self.valid.replacing(old, with: new)
    }
    func inventory(features: [InventoryToken], architecture: InventoryToken = "aarch64") -> DeviceInventory {
        DeviceInventory(architecture: architecture, cpuFeatures: features, memoryMiB: 4096, accelerators: [], runtimes: [:])
    }

    @Test("A manifest with variants is schema 2, decodes and round-trips")
    func decodes() throws {
        let manifest = try Manifest.decode(Array(Self.valid.utf8))
        #expect(manifest.schema == 2)
        #expect(manifest.variants?.map(\.name) == ["int8", "fp32"])
        #expect(manifest.variants?.first?.requires?.description == "cpu.features contains neon")
        #expect(try Manifest.decode(try manifest.encoded()) == manifest)
    }

    @Test("Variants and the schema agree: variants need schema 2, schema 2 needs variants")
    func schemaAgrees() throws {
        #expect(problem(replacing("\"schema\": 2", "\"schema\": 1")) == "manifest: a schema 1 manifest lists variants (that is schema 2)")
        var object = try #require(try JSONSerialization.jsonObject(with: Data(Self.valid.utf8)) as? [String: Any])
        object["variants"] = nil
        let withoutVariants = String(decoding: try JSONSerialization.data(withJSONObject: object), as: UTF8.self)
        #expect(problem(withoutVariants) == "manifest: schema 2 is a manifest with variants, and this one lists none")
    }

    @Test("Every file lives in the folder of a listed variant, and every variant has files")
    func filesBelongToVariants() {
        #expect(problem(replacing("fp32/check.sh", "check.sh"))?.contains("'check.sh' is in no variant's folder") == true)
        #expect(problem(replacing("\"fp32/check.sh\"", "\"int16/check.sh\""))?.contains("'int16/check.sh' is in no variant's folder") == true)
        #expect(problem(replacing(#"{"name": "fp32"}"#, #"{"name": "fp32"}, {"name": "fp16"}"#)) == "manifest: variant 'fp16' has no files")
        #expect(problem(replacing(#"{"name": "fp32"}"#, #"{"name": "int8"}"#)) == "manifest: variants lists a name twice")
        #expect(problem(replacing(#"[{"name": "int8", "requires": "cpu.features contains neon"}, {"name": "fp32"}]"#, "[]")) == "manifest: variants must list 1 to 16 builds")
    }

    @Test("The health command is a path inside each variant's folder")
    func healthInEveryVariant() {
        #expect(problem(replacing("\"fp32/check.sh\"", "\"fp32/other.sh\""))?.contains("health.command 'check.sh' is not in variant 'fp32'") == true)
    }

    @Test("A bad variant name, a bad requirement or an unknown field is refused at decoding")
    func badVariantFields() {
        #expect(problem(replacing(#"{"name": "fp32"}"#, #"{"name": "FP32"}"#))?.contains("variants[1].name") == true)
        #expect(problem(replacing("cpu.features contains neon", "cpu.features has neon"))?.contains("variants[0].requires") == true)
        #expect(problem(replacing(#"{"name": "fp32"}"#, #"{"name": "fp32", "script": "x"}"#))?.contains("unknown field 'variants[1].script'") == true)
    }

    @Test("The first variant whose requirements the inventory meets is chosen; none when none fits")
    func picksFirstFitting() throws {
        var manifest = try Manifest.decode(Array(Self.valid.utf8))
        #expect(manifest.variant(fitting: inventory(features: ["neon", "asimd"]))?.name == "int8")
        #expect(manifest.variant(fitting: inventory(features: ["avx2"], architecture: "x86_64"))?.name == "fp32")
        // A build without requirements fits a device that reported nothing.
        #expect(manifest.variant(fitting: nil)?.name == "fp32")
        manifest.variants?[1].requires = try InventoryCondition("cpu.arch = x86_64")
        #expect(manifest.variant(fitting: inventory(features: ["asimd"])) == nil)
        #expect(manifest.variant(fitting: nil) == nil)
    }

    @Test("Selecting a variant gives that folder's files at their paths inside it, and no variants")
    func selecting() throws {
        let manifest = try Manifest.decode(Array(Self.valid.utf8))
        let int8 = try manifest.selecting("int8")
        #expect(int8.files.map(\.path.value) == ["model.onnx", "check.sh"])
        #expect(int8.files.map(\.size) == [100, 10])
        #expect(int8.variants == nil && int8.validationProblem() == nil)
        #expect(int8.health?.command == manifest.health?.command)
        #expect(int8.totalSize == 110)
        #expect(errorText { _ = try manifest.selecting("fp16") }?.contains("'fp16' is not one of them") == true)
        #expect(errorText { _ = try manifest.selecting(nil) }?.contains("'none' is not one of them") == true)
        let plain = try Manifest.decode(Array(ManifestTests.valid.utf8))
        #expect(try plain.selecting(nil) == plain)
        #expect(errorText { _ = try plain.selecting("int8") } != nil)
    }

    @Test("The variants file: one build per line, best first, comments and blank lines ignored")
    func variantsFile() throws {
        let text = "# builds\r\ntrt-orin  accelerator.kind = cuda and accelerator.compute_capability = 8.7 and runtime.tensorrt = 8.6\r\n\nint8\tcpu.features contains neon # ARM\nfp32   \n"
        let variants = try VariantsFile.parse(text)
        #expect(variants.map(\.name) == ["trt-orin", "int8", "fp32"])
        #expect(variants[0].requires?.clauses.count == 3)
        #expect(variants[1].requires?.description == "cpu.features contains neon")
        #expect(variants[2].requires == nil)
    }

    @Test("A bad variants file names the line and what is wrong", arguments: [
        ("int8 cpu.features has neon", "line 1: variant 'int8'"),
        ("# only comments\n", "names no variant"),
        ("int8\nINT8", "line 2: "),
        ("int8\nint8 cpu.arch = x86_64", "line 2: variant 'int8' is listed twice"),
        ((0..<17).map { "v\($0)" }.joined(separator: "\n"), "at most 16"),
    ])
    func badVariantsFile(text: String, expected: String) {
        let message = errorText { _ = try VariantsFile.parse(text) }
        #expect(message?.contains(expected) == true, "\(message ?? "accepted")")
    }

    @Test("bundle create with variants: each build in its folder, signed together, the health command executable in each")
    func createsVariantBundle() throws {
        let dir = TemporaryDirectory()
        let key = try Ed25519PrivateKey.generate()
        try dir.write("src/int8/model.onnx", [UInt8](repeating: 1, count: 300))
        try dir.write("src/int8/check.sh", "#!/bin/sh\nexit 0\n")
        try dir.write("src/fp32/model.onnx", [UInt8](repeating: 2, count: 1200))
        try dir.write("src/fp32/check.sh", "#!/bin/sh\nexit 0\n")
        let variants = try VariantsFile.parse("int8 cpu.features contains neon\nfp32\n")
        let options = BundleWriter.Options(name: "digits", version: try SemanticVersion("2.0.0"), kind: "model", compatible: ["edge"],
                                           healthCommand: "check.sh", variants: variants)
        let output = dir.file("v.otab")
        try BundleWriter.create(from: dir.file("src"), options: options, key: key, output: output)
        let verified = try BundleArchive.open(output).verify(trust: try TrustRoot(keys: [key.publicKey], threshold: 1))
        #expect(verified.manifest.schema == 2)
        #expect(verified.manifest.files(of: "fp32").map(\.size).sorted() == [17, 1200])
        let listing = try run("tar", ["-tvf", output]).stdout.split(separator: "\n")
        #expect(listing.filter { $0.contains("check.sh") }.allSatisfy { $0.hasPrefix("-rwxr-xr-x") })
        // A file outside every variant's folder is refused, with the reason.
        try dir.write("src/labels.txt", "0\n")
        let message = errorText { try BundleWriter.create(from: dir.file("src"), options: options, key: key, output: dir.file("w.otab")) }
        #expect(message?.contains("'labels.txt' is in no variant's folder") == true)
        #expect(!FileSystem.exists(dir.file("w.otab")))
    }
}
