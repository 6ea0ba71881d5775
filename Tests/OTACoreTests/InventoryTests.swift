import OTACore
import Testing

/// A device's inventory is its word, checked where it is decoded; a deployment's `where`
/// condition is a filter over it, parsed once, with one rule for what a device did not report.
@Suite("Device inventory and inventory conditions")
struct InventoryTests {
    static let jetson = DeviceInventory(
        architecture: "aarch64", cpuFeatures: ["asimd", "neon", "fp", "dotprod"], memoryMiB: 7_620,
        accelerators: [.init(kind: "cuda", name: "Orin", computeCapability: try! DottedVersion("8.7"), memoryMiB: 7_620)],
        runtimes: ["tensorrt": try! DottedVersion("8.6.2"), "onnxruntime": try! DottedVersion("1.17.1+cu118")])
    static let gateway = DeviceInventory(architecture: "x86_64", cpuFeatures: ["avx2", "sse4_2"], memoryMiB: 16_000,
                                         runtimes: ["onnxruntime": try! DottedVersion("1.16.3")])

    func meets(_ condition: String, _ inventory: DeviceInventory?) throws -> Bool {
        try InventoryCondition(condition).isMet(by: inventory)
    }

    @Test("Each kind of field: words, features, numbers, accelerators, runtime versions", arguments: [
        ("cpu.arch = aarch64", true, false),
        ("cpu.arch != aarch64", false, true),
        ("cpu.features contains neon", true, false),
        ("cpu.features lacks avx2", true, false),
        ("cpu.features contains avx2 and memory.mib >= 16000", false, true),
        ("memory.mib < 8192", true, false),
        ("memory.mib > 7620", false, true),
        ("accelerator.kind = cuda", true, false),
        ("accelerator.compute_capability >= 8.7", true, false),
        ("accelerator.compute_capability >= 8.9", false, false),
        ("accelerator.kind = cuda and accelerator.compute_capability >= 8.7", true, false),
        ("runtime.tensorrt = 8.6", true, false),
        ("runtime.tensorrt = 8.60", false, false),
        ("runtime.tensorrt >= 8.6.2", true, false),
        ("runtime.onnxruntime >= 1.17", true, false),
        ("runtime.onnxruntime < 1.17", false, true),
        ("runtime.onnxruntime != 1.16", true, false),
    ])
    func fields(condition: String, jetson: Bool, gateway: Bool) throws {
        #expect(try meets(condition, Self.jetson) == jetson, "\(condition) on the Jetson")
        #expect(try meets(condition, Self.gateway) == gateway, "\(condition) on the gateway")
    }

    @Test("A clause about something the device did not report is false, whatever its operator", arguments: [
        "runtime.tensorrt != 8.6", "accelerator.compute_capability < 99", "cpu.features lacks avx512f", "memory.mib != 1", "cpu.arch != riscv64",
    ])
    func unreportedIsFalse(condition: String) throws {
        #expect(try !meets(condition, DeviceInventory()))
        #expect(try !meets(condition, nil))
    }

    @Test("Versions compare number by number, a missing number as 0; '=' matches what starts with it; a suffix is not compared but is a change")
    func versions() throws {
        let v = { (text: String) in try DottedVersion(text) }
        #expect(try v("8.6").compare(v("8.6.0")) == 0 && v("8.6").compare(v("8.6.1")) < 0 && v("8.10").compare(v("8.9")) > 0)
        #expect(try v("1.17.1+cu118").compare(v("1.17.1")) == 0)
        #expect(try v("8.6.2").matches(prefix: v("8.6")) && !v("8.6.2").matches(prefix: v("8.6.2.1")))
        #expect(try v("8.6").matches(prefix: v("8.6.0")) && v("8").matches(prefix: v("8.0")) && !v("8.6").matches(prefix: v("8.6.1")))
        // What a device reports is compared as written: a new build of the same numbers is news.
        #expect(try v("1.17.1+cpu") != v("1.17.1+cu118") && v("8.6") != v("8.6.0"))
    }

    @Test("'!=' and '=' on versions agree with their numbers: 8.6 is 8.6.0")
    func versionEquality() throws {
        let device = DeviceInventory(runtimes: ["tensorrt": try DottedVersion("8.6")])
        #expect(try meets("runtime.tensorrt = 8.6.0", device))
        #expect(try !meets("runtime.tensorrt != 8.6.0", device))
        #expect(try meets("runtime.tensorrt = 8", device))
    }

    @Test("The accelerator clauses hold for one accelerator, not each for a different one")
    func oneAccelerator() throws {
        let mixed = DeviceInventory(accelerators: [.init(kind: "cuda", computeCapability: try DottedVersion("5.3")),
                                                   .init(kind: "npu", computeCapability: try DottedVersion("9.0"))])
        #expect(try !meets("accelerator.kind = cuda and accelerator.compute_capability >= 8.7", mixed))
        #expect(try meets("accelerator.kind = npu and accelerator.compute_capability >= 8.7", mixed))
        #expect(try meets("accelerator.kind = cuda and accelerator.compute_capability < 8.7", mixed))
        let two = DeviceInventory(accelerators: [.init(kind: "cuda", computeCapability: try DottedVersion("8.7")),
                                                 .init(kind: "cuda", computeCapability: try DottedVersion("7.5"))])
        #expect(try meets("accelerator.compute_capability != 8.7", two), "one of them is not 8.7")
        #expect(try !meets("accelerator.kind = cuda and accelerator.compute_capability >= 9", two))
    }

    @Test("Malformed conditions are refused with a reason naming the part", arguments: [
        ("", "at least one clause"),
        ("cpu.arch", "not a whole clause"),
        ("cpu.arch = aarch64 and", "cannot end with 'and'"),
        ("cpu.arch = aarch64 or cpu.arch = x86_64", "expected 'and'"),
        ("gpu.kind = cuda", "unknown field 'gpu.kind'"),
        ("cpu.features = neon", "cpu.features takes contains, lacks"),
        ("accelerator.kind != cuda", "accelerator.kind takes ="),
        ("memory.mib >= lots", "whole number of MiB"),
        ("memory.mib >= 0", "whole number of MiB"),
        ("memory.mib >= 99999999999999999999", "whole number of MiB"),
        ("runtime.tensorrt >= 8.x", "one to four numbers"),
        ("runtime.tensorrt >= 1.2.3.4.5", "one to four numbers"),
        ("runtime.TensorRT >= 8", "unknown field"),
        ("cpu.arch = AArch64", "lower-case"),
        ("runtime.x >= 1234567890", "up to 9 digits"),
        ("runtime.onnxruntime = 1.17.1+cu118", "has a suffix"),
        ("accelerator.compute_capability >= 8.7-rc", "has a suffix"),
    ])
    func malformed(text: String, reason: String) {
        #expect(throws: InventoryCondition.Invalid.self) { try InventoryCondition(text) }
        do { _ = try InventoryCondition(text) } catch { #expect(error.description.contains(reason), "\(text): \(error.description)") }
    }

    @Test("A condition is written back in one canonical form, which parses to the same condition")
    func canonical() throws {
        let condition = try InventoryCondition("  cpu.arch =   aarch64   and runtime.onnxruntime >= 1.17.0 ")
        #expect(condition.description == "cpu.arch = aarch64 and runtime.onnxruntime >= 1.17.0")
        #expect(try InventoryCondition(condition.description) == condition)
        #expect(throws: InventoryCondition.Invalid.self) { try InventoryCondition(String(repeating: "memory.mib >= 1 and ", count: 16) + "memory.mib >= 1") }
    }

    @Test("A stored condition this version cannot read matches no device")
    func unreadable() {
        #expect(!InventoryCondition.unreadable("cpu.arch ~ arm*").isMet(by: Self.jetson))
    }

    func decode(_ json: String) throws -> DeviceInventory {
        try StrictJSON.decodeRejectingUnknownFields(DeviceInventory.self, from: Array(json.utf8), what: "inventory")
    }

    @Test("An inventory round-trips, with its features sorted and without repeats")
    func roundTrip() throws {
        let decoded = try decode(#"{"architecture":"aarch64","cpu_features":["neon","asimd","neon"],"memory_mib":3906,"accelerators":[{"kind":"npu","name":"Hailo-8"}],"runtimes":{"onnxruntime":"1.17.1"}}"#)
        #expect(decoded.cpuFeatures == ["asimd", "neon"])
        #expect(decoded.accelerators == [.init(kind: "npu", name: "Hailo-8")])
        #expect(try decode(String(decoding: StrictJSON.encode(decoded), as: UTF8.self)) == decoded)
        #expect(try decode("{}") == DeviceInventory())
    }

    @Test("A hostile inventory is refused where it is decoded, naming the field", arguments: [
        (#"{"architecture":"X86_64"}"#, "architecture"),
        (#"{"architecture":""}"#, "architecture"),
        (#"{"cpu_features":["ok","has space"]}"#, "cpu_features"),
        (#"{"memory_mib":0}"#, "memory_mib"),
        (#"{"memory_mib":-5}"#, "memory_mib"),
        (#"{"memory_mib":9223372036854775807}"#, "memory_mib"),
        (#"{"memory_mib":1e300}"#, "malformed JSON"),
        (#"{"accelerators":[{"name":"no kind"}]}"#, "kind"),
        (#"{"accelerators":[{"kind":"cuda","compute_capability":"eight"}]}"#, "compute_capability"),
        (#"{"accelerators":[{"kind":"cuda","name":"line\nbreak"}]}"#, "name"),
        (#"{"accelerators":[{"kind":"cuda","name":"evil\u202egpu"}]}"#, "name"),
        (#"{"accelerators":[{"kind":"cuda","name":"zero\u200bwidth"}]}"#, "name"),
        (#"{"accelerators":[{"kind":"cuda","name":"\u0085next line"}]}"#, "name"),
        (#"{"accelerators":[{"kind":"cuda","name":""}]}"#, "name"),
        (#"{"accelerators":[{"kind":"cuda","memory_mib":0}]}"#, "memory_mib"),
        (#"{"runtimes":{"onnxruntime":"latest"}}"#, "runtimes"),
        (#"{"runtimes":{"Bad Name":"1.0"}}"#, "runtime name"),
        (#"{"runtimes":["onnxruntime","1.0"]}"#, "runtimes"),
        (#"{"gpu":"yes"}"#, "unknown field 'gpu'"),
        (#"{"accelerators":[{"kind":"cuda","driver":"535"}]}"#, "unknown field 'accelerators[0].driver'"),
    ])
    func hostile(json: String, field: String) {
        do {
            _ = try decode(json)
            Issue.record("\(json) was accepted")
        } catch {
            #expect(String(describing: error).contains(field), "\(json): \(error)")
        }
    }

    @Test("Lists and names beyond their bounds are refused, not truncated")
    func bounds() {
        // 64 letters each carrying combining marks: 64 characters, thousands of scalars.
        let heavy = String(repeating: "a" + String(repeating: "\u{301}", count: 50), count: 64)
        #expect(throws: (any Error).self) { try decode(#"{"accelerators":[{"kind":"cuda","name":"\#(heavy)"}]}"#) }
        #expect(throws: Never.self) { try decode(#"{"accelerators":[{"kind":"cuda","name":"Jetson AGX Orin 64GB é"}]}"#) }
        let features = (0...DeviceInventory.maximumCPUFeatures).map { "\"f\($0)\"" }.joined(separator: ",")
        #expect(throws: (any Error).self) { try decode(#"{"cpu_features":[\#(features)]}"#) }
        let accelerators = Array(repeating: #"{"kind":"cuda"}"#, count: DeviceInventory.maximumAccelerators + 1).joined(separator: ",")
        #expect(throws: (any Error).self) { try decode(#"{"accelerators":[\#(accelerators)]}"#) }
        let runtimes = (0...DeviceInventory.maximumRuntimes).map { "\"r\($0)\":\"1.0\"" }.joined(separator: ",")
        #expect(throws: (any Error).self) { try decode(#"{"runtimes":{\#(runtimes)}}"#) }
    }

    @Test("What the inventory command says overrides the probe part by part")
    func overriding() {
        let probe = DeviceInventory(architecture: "x86_64", cpuFeatures: ["avx2"], memoryMiB: 8_000)
        let command = DeviceInventory(architecture: "aarch64", cpuFeatures: ["neon"], runtimes: ["onnxruntime": try! DottedVersion("1.17")])
        let merged = probe.overridden(by: command)
        #expect(merged.architecture == "aarch64" && merged.cpuFeatures == ["neon"] && merged.memoryMiB == 8_000)
        #expect(merged.runtimes.keys.map(\.rawValue) == ["onnxruntime"])
        #expect(probe.overridden(by: DeviceInventory()) == probe)
    }
}
