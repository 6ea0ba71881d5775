import Foundation
import OTAAgent
import OTACore
import TestSupport
import Testing

/// A bundle with several builds of its model: the agent installs the first build its own
/// inventory meets, and only that build's files. In process, against an in-memory fleet;
/// real files, real signatures, real inventory commands.
@Suite("Choosing a bundle's variant, in process")
struct VariantChoiceTests {
    static let variants = try! VariantsFile.parse("""
        trt-orin  accelerator.kind = cuda and accelerator.compute_capability = 8.7 and runtime.tensorrt = 8.6
        int8      cpu.features contains neon and memory.mib >= 1024
        fp32      cpu.arch = x86_64
        """)
    static func files(_ version: String, changed: Bool = true) -> [String: [UInt8]] {
        ["trt-orin/model.plan": Array("engine \(version)".utf8), "trt-orin/labels.txt": Array("labels".utf8),
         "int8/model.onnx": Array("int8 weights \(changed ? version : "1")".utf8), "int8/labels.txt": Array("labels".utf8),
         "fp32/model.onnx": Array("fp32 weights with more bytes \(version)".utf8), "fp32/labels.txt": Array("labels".utf8)]
    }

    /// A device whose inventory command prints `inventory` (it can be rewritten between cycles).
    func device(_ inventory: String, id: DeviceID = "dev-1") throws -> LocalDevice {
        let device = try LocalDevice(id)
        device.config["inventory_command"] = ["/bin/cat", device.dir.file("inventory.json")]
        try write(inventory, to: device)
        return device
    }

    func write(_ inventory: String, to device: LocalDevice) throws {
        try FileSystem.writeAtomically(Array(inventory.utf8), to: device.dir.file("inventory.json"))
    }

    static let pi = #"{"architecture":"aarch64","cpu_features":["asimd","neon"],"memory_mib":4096}"#
    static let gateway = #"{"architecture":"x86_64","cpu_features":["avx2"],"memory_mib":16000}"#
    static let orin = #"{"architecture":"aarch64","cpu_features":["neon"],"memory_mib":8192,"accelerators":[{"kind":"cuda","compute_capability":"8.7"}],"runtimes":{"tensorrt":"8.6.2"}}"#

    @Test("Each device installs its own build, fetches only its files, and reports the build in events and status",
          arguments: [(pi, "int8", "model.onnx"), (gateway, "fp32", "model.onnx"), (orin, "trt-orin", "model.plan")])
    func eachGetsItsBuild(inventory: String, variant: String, model: String) throws {
        let device = try device(inventory)
        let bundle = try device.bundle("2.0.0", files: Self.files("2.0.0"), variants: Self.variants)
        try device.deploy(bundle)
        #expect(try device.cycle().committed == ["digits"])
        let expected = Dictionary(uniqueKeysWithValues: Self.files("2.0.0").compactMap { path, bytes in
            path.hasPrefix(variant + "/") ? (String(path.dropFirst(variant.count + 1)), bytes) : nil
        })
        #expect(try device.liveFiles() == expected)
        #expect(expected[model] != nil)
        // Two distinct files of that build, nothing of the others.
        #expect(device.fleet.calls(.content) == 2)
        #expect(device.fleet.events.allSatisfy { $0.variant?.rawValue == variant })
        let size = expected.values.reduce(0) { $0 + UInt64($1.count) }
        #expect(device.fleet.events.last?.state == .succeeded)
        #expect(device.fleet.events.compactMap(\.transfer).last?.totalBytes == size)
        let status = try device.status()
        #expect(status.bundles.first?.variant?.rawValue == variant)
        try device.cycle()
        #expect(device.fleet.checkins.last?.installed.first?.variant?.rawValue == variant, "the server learns the build that runs")
        #expect(status.text(now: device.clock.now).contains("variant \(variant)"))
    }

    @Test("A bundle none of whose builds fits is not compatible: not taken, no failure reported, and the inventory goes to the server again")
    func noneFits() throws {
        let device = try device(#"{"architecture":"armv7l","cpu_features":["vfpv4"],"memory_mib":512}"#)
        try device.deploy(try device.bundle("1.0.0"))
        try device.cycle()
        let before = try device.liveFiles()
        let events = device.fleet.events.count
        try device.deploy(try device.bundle("2.0.0", files: Self.files("2.0.0"), variants: Self.variants), deploymentID: "dep_2")
        let outcome = try device.cycle()
        #expect(outcome.failed.isEmpty && outcome.committed.isEmpty && outcome.error == nil)
        #expect(device.fleet.events.count == events, "not compatible is no failure of the version: nothing is reported")
        #expect(try device.liveFiles() == before)
        #expect(!device.journalExists)
        // The server offered it on an older reading: the next check-in tells it what the device is.
        try device.cycle()
        #expect(device.fleet.checkins.last?.inventory?.architecture == "armv7l")
        // Once the device fits a build, the same deployment installs.
        try write(Self.gateway, to: device)
        device.clock.advance(seconds: 3600)
        #expect(try device.cycle().committed == ["digits"], "2.0.0 is installable once the device fits a build")
        #expect(device.fleet.events.last?.variant == "fp32")
    }

    @Test("Before the device's inventory could be read, a bundle with variants waits: nothing starts, nothing is refused")
    func waitsForInventory() throws {
        let device = try device("not json")
        try device.deploy(try device.bundle("2.0.0", files: Self.files("2.0.0"), variants: Self.variants))
        let outcome = try device.cycle()
        #expect(outcome.error?.contains("inventory could not be read") == true, "\(outcome)")
        #expect(device.fleet.events.isEmpty && !device.journalExists)
        // Read again at the next check-in, not an inventory interval later.
        try write(Self.pi, to: device)
        #expect(try device.cycle().committed == ["digits"])
        #expect(device.fleet.events.last?.variant == "int8")
    }

    @Test("A device that gains an accelerator gets the better build at the next deployment; a new version of the same build reuses its unchanged files")
    func hardwareChanges() throws {
        let device = try device(Self.pi)
        try device.deploy(try device.bundle("2.0.0", files: Self.files("2.0.0", changed: false), variants: Self.variants))
        #expect(try device.cycle().committed == ["digits"])
        #expect(try device.status().bundles.first?.variant == "int8")
        // 2.1.0 changes only the other builds: the int8 device fetches nothing.
        let fetched = device.fleet.calls(.content)
        try device.deploy(try device.bundle("2.1.0", files: Self.files("2.1.0", changed: false), variants: Self.variants), deploymentID: "dep_2")
        #expect(try device.cycle().committed == ["digits"])
        #expect(device.fleet.calls(.content) == fetched)
        #expect(device.fleet.events.compactMap(\.transfer).last?.fetchedBytes == 0)
        // The Orin module is plugged in: read at the next inventory interval, and 3.0.0 is its TensorRT build.
        try write(Self.orin, to: device)
        device.clock.advance(seconds: 3600)
        try device.deploy(try device.bundle("3.0.0", files: Self.files("3.0.0"), variants: Self.variants), deploymentID: "dep_3")
        #expect(try device.cycle().committed == ["digits"])
        #expect(try device.liveFiles()["model.plan"] == Array("engine 3.0.0".utf8))
        #expect(device.fleet.events.last?.variant == "trt-orin")
    }

    @Test("The agent announces that it picks variants")
    func announcesFeature() throws {
        let device = try device(Self.pi)
        try device.cycle()
        #expect(device.fleet.checkins.last?.features?.contains("variants") == true)
    }

    @Test("A journal damaged while committing a healthy build still commits, once")
    func damagedWhileCommitting() throws {
        let device = try device(Self.pi)
        try device.deploy(try device.bundle("2.0.0", files: Self.files("2.0.0"), variants: Self.variants))
        #expect(try device.cycle(crashingAt: .committing))
        let journal = device.statePath + "/journal/digits.json"
        var object = try #require(try JSONSerialization.jsonObject(with: Data(try FileSystem.readFile(journal))) as? [String: Any])
        object["variant"] = "fp16"
        try FileSystem.writeAtomically(Array(try JSONSerialization.data(withJSONObject: object)), to: journal)
        #expect(try device.cycle().committed == ["digits"])
        #expect(!device.journalExists)
        #expect(try device.liveFiles()["model.onnx"] == Self.files("2.0.0")["int8/model.onnx"])
    }

    @Test("A journal naming a variant the bundle does not hold ends the update, and the live version stays")
    func damagedJournal() throws {
        let device = try device(Self.pi)
        try device.deploy(try device.bundle("1.0.0"))
        try device.cycle()
        let live = try device.liveFiles()
        try device.deploy(try device.bundle("2.0.0", files: Self.files("2.0.0"), variants: Self.variants), deploymentID: "dep_2")
        #expect(try device.cycle(crashingAt: .verified))
        let journal = device.statePath + "/journal/digits.json"
        var object = try #require(try JSONSerialization.jsonObject(with: Data(try FileSystem.readFile(journal))) as? [String: Any])
        #expect(object["variant"] as? String == "int8")
        object["variant"] = "fp16"
        try FileSystem.writeAtomically(Array(try JSONSerialization.data(withJSONObject: object)), to: journal)
        #expect(try device.cycle().failed == ["digits"])
        #expect(device.fleet.events.last?.detail.contains("variant the bundle does not hold") == true)
        #expect(try device.liveFiles() == live)
    }
}
