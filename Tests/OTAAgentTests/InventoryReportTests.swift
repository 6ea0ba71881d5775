import OTAAgent
import OTACore
import TestSupport
import Testing

/// What the agent says the device is: its own probe of /proc and uname, overridden by the
/// device's `inventory_command`, sent until the server has it. In process, against an
/// in-memory fleet and fixture /proc files; real commands.
@Suite("The device's inventory, in process")
struct InventoryReportTests {
    static let x86CPU = """
        processor\t: 0
        vendor_id\t: GenuineIntel
        flags\t\t: fpu vme sse4_2 avx avx2 fma
        bugs\t\t: spectre_v1

        processor\t: 1
        flags\t\t: fpu vme sse4_2 avx avx2 fma avx512f
        """
    static let armCPU = """
        processor\t: 0
        BogoMIPS\t: 108.00
        Features\t: fp asimd evtstrm crc32 cpuid asimddp
        CPU implementer\t: 0x41
        """
    static let memory = "MemTotal:        3999996 kB\nMemFree:          100000 kB\n"

    /// A /proc with `cpuinfo` and `meminfo`, and a probe that reads it.
    func probe(_ dir: TemporaryDirectory, cpuinfo: String, machine: String) throws -> InventoryProbe {
        try FileSystem.createDirectory(dir.file("proc"), permissions: 0o755)
        try FileSystem.writeAtomically(Array(cpuinfo.utf8), to: dir.file("proc/cpuinfo"))
        try FileSystem.writeAtomically(Array(Self.memory.utf8), to: dir.file("proc/meminfo"))
        return InventoryProbe(procRoot: dir.file("proc"), machine: { machine })
    }

    @Test("The probe reads the first processor's flags on x86 and Features on ARM, where asimd is also neon, and MemTotal in MiB")
    func probes() throws {
        let dir = TemporaryDirectory("ota-inventory")
        let x86 = try probe(dir, cpuinfo: Self.x86CPU, machine: "x86_64").read()
        #expect(x86.architecture == "x86_64" && x86.memoryMiB == 3_906)
        #expect(x86.cpuFeatures == ["avx", "avx2", "fma", "fpu", "sse4_2", "vme"])
        let arm = try probe(dir, cpuinfo: Self.armCPU, machine: "aarch64").read()
        #expect(arm.architecture == "aarch64" && arm.cpuFeatures.contains("neon") && arm.cpuFeatures.contains("asimddp"))
        // Nothing readable: nothing guessed.
        let bare = InventoryProbe(procRoot: dir.file("missing"), machine: { "" }).read()
        #expect(bare == DeviceInventory())
    }

    /// A device whose inventory command prints what `output` holds when it runs.
    func device(command: [String]? = nil, extra: [String: Any] = [:]) throws -> LocalDevice {
        var config = extra
        if let command { config["inventory_command"] = command }
        let device = try LocalDevice(config: config)
        device.inventoryProbe = try probe(device.dir, cpuinfo: Self.armCPU, machine: "aarch64")
        return device
    }

    @Test("The first check-in carries the inventory, later ones do not; a new one goes once, and each reading sends it again")
    func sentUntilTaken() throws {
        let device = try device(command: ["/bin/sh", "-c", "cat \"$0\"", "inventory.json"], extra: ["inventory_interval_s": 600])
        device.config["inventory_command"] = ["/bin/sh", "-c", "cat \"$0\"", device.dir.file("inventory.json")]
        try FileSystem.writeAtomically(Array(#"{"runtimes":{"onnxruntime":"1.17.1"}}"#.utf8), to: device.dir.file("inventory.json"))
        let agent = try device.agent()
        _ = agent.cycle()
        let first = try #require(device.fleet.checkins.last?.inventory)
        #expect(first.architecture == "aarch64" && first.memoryMiB == 3_906 && first.runtimes["onnxruntime"]?.description == "1.17.1")
        _ = agent.cycle()
        #expect(device.fleet.checkins.last?.inventory == nil)
        // A new accelerator: read again at the next interval, sent once.
        try FileSystem.writeAtomically(Array(#"{"accelerators":[{"kind":"npu","name":"Hailo-8"}],"runtimes":{"onnxruntime":"1.17.1"}}"#.utf8),
                                       to: device.dir.file("inventory.json"))
        device.clock.advance(seconds: 599)
        _ = agent.cycle()
        #expect(device.fleet.checkins.last?.inventory == nil)
        device.clock.advance(seconds: 1)
        _ = agent.cycle()
        #expect(device.fleet.checkins.last?.inventory?.accelerators.map(\.kind) == ["npu"])
        _ = agent.cycle()
        #expect(device.fleet.checkins.last?.inventory == nil)
        // The next reading sends it again though nothing changed: a report an instance lost
        // is not lost for good.
        device.clock.advance(seconds: 600)
        _ = agent.cycle()
        #expect(device.fleet.checkins.last?.inventory?.accelerators.map(\.kind) == ["npu"])
    }

    @Test("What the command says overrides the probe: a device can play an ARM board with NEON")
    func overrides() throws {
        let device = try device(command: ["/bin/echo", #"{"architecture":"armv7l","cpu_features":["neon","vfpv4"]}"#])
        device.inventoryProbe = try probe(device.dir, cpuinfo: Self.x86CPU, machine: "x86_64")
        try device.cycle()
        let sent = try #require(device.fleet.checkins.last?.inventory)
        #expect(sent.architecture == "armv7l" && sent.cpuFeatures == ["neon", "vfpv4"] && sent.memoryMiB == 3_906)
    }

    @Test("A command that fails, hangs, floods or prints no inventory sends nothing, and says why", arguments: [
        (["/bin/sh", "-c", "echo '{}'; exit 3"], "exited with status 3"),
        // Valid JSON each, but for the limit and the deadline.
        (["/bin/sh", "-c", "printf '{}'; exec sleep 30"], "did not finish within 1 s"),
        (["/bin/sh", "-c", "printf '{}'; head -c 70000 /dev/zero | tr '\\000' ' '"], "printed more than 64 KiB"),
        (["/bin/echo", "not json"], "malformed JSON"),
        (["/bin/echo", #"{"gpu":"yes"}"#], "unknown field 'gpu'"),
        (["/bin/echo", #"{"memory_mib":-1}"#], "memory_mib"),
        (["/nonexistent/inventory"], "/nonexistent/inventory"),
    ])
    func failingCommand(command: [String], reason: String) throws {
        let device = try device(command: command, extra: ["inventory_timeout_s": 1])
        let started = ContinuousClock.now
        #expect(throws: (any Error).self) { try device.agent().readInventory() }
        do { _ = try device.agent().readInventory() } catch { #expect("\(error)".contains(reason), "\(command): \(error)") }
        let outcome = try device.cycle()
        #expect(ContinuousClock.now - started < .seconds(10), "the deadline and the limit stop the command")
        #expect(outcome.error == nil, "a failing inventory command must not fail the check-in: \(outcome)")
        #expect(device.fleet.checkins.count >= 1 && device.fleet.checkins.allSatisfy { $0.inventory == nil })
    }

    @Test("A command that fails later leaves the last good inventory standing: that one is sent again, once per reading")
    func failureKeepsTheLast() throws {
        let device = try device(command: ["/bin/sh", "-c", "cat \"$0\"", "inventory.json"], extra: ["inventory_interval_s": 60])
        device.config["inventory_command"] = ["/bin/sh", "-c", "cat \"$0\"", device.dir.file("inventory.json")]
        try FileSystem.writeAtomically(Array(#"{"accelerators":[{"kind":"cuda","compute_capability":"8.7"}]}"#.utf8), to: device.dir.file("inventory.json"))
        let agent = try device.agent()
        _ = agent.cycle()
        #expect(device.fleet.checkins.last?.inventory?.accelerators.first?.computeCapability?.description == "8.7")
        _ = agent.cycle()
        #expect(device.fleet.checkins.last?.inventory == nil)
        try FileSystem.writeAtomically(Array("broken".utf8), to: device.dir.file("inventory.json"))
        device.clock.advance(seconds: 60)
        _ = agent.cycle()
        #expect(device.fleet.checkins.last?.inventory?.accelerators.first?.computeCapability?.description == "8.7")
        _ = agent.cycle()
        #expect(device.fleet.checkins.last?.inventory == nil)
    }

    @Test("Settings out of range are refused when the config loads", arguments: [
        ("inventory_timeout_s", 0), ("inventory_timeout_s", 301), ("inventory_interval_s", 59), ("inventory_interval_s", 86_401),
    ])
    func settings(key: String, value: Int) throws {
        let device = try device(extra: [key: value])
        #expect(throws: AgentConfig.Invalid.self) { try device.agent() }
    }
}
