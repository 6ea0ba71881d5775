#if canImport(Glibc)
import Glibc
#endif
import OTACore

/// What the agent reads itself to say what the device is: the architecture (`uname -m`), the
/// CPU features (/proc/cpuinfo's `flags` on x86, `Features` on ARM) and the memory
/// (/proc/meminfo's MemTotal). Accelerators and runtimes come from the device's
/// `inventory_command` (`InventoryReporter`). Tests hand in fixture files and a machine name.
public struct InventoryProbe: Sendable {
    /// Where /proc is: "/proc" on a device.
    public var procRoot: String
    public var machine: @Sendable () -> String

    public init(procRoot: String, machine: @escaping @Sendable () -> String) {
        self.procRoot = procRoot
        self.machine = machine
    }

    public static let system = InventoryProbe(procRoot: "/proc", machine: {
        var names = utsname()
        guard uname(&names) == 0 else { return "" }
        return withUnsafeBytes(of: &names.machine) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    })

    /// What the probe finds; a part it cannot read is left out, never guessed.
    public func read() -> DeviceInventory {
        let cpuinfo = (try? FileSystem.readFile(procRoot + "/cpuinfo", limit: 4 << 20)).map { String(decoding: $0, as: UTF8.self) } ?? ""
        let meminfo = (try? FileSystem.readFile(procRoot + "/meminfo", limit: 1 << 20)).map { String(decoding: $0, as: UTF8.self) } ?? ""
        return DeviceInventory(architecture: InventoryToken(rawValue: machine().lowercased()),
                               cpuFeatures: Self.cpuFeatures(cpuinfo: cpuinfo),
                               memoryMiB: Self.memoryMiB(meminfo: meminfo))
    }

    /// The first processor's feature flags, lower-cased. AArch64 calls its NEON unit `asimd`:
    /// it is reported as `neon` too, the name model builds use.
    static func cpuFeatures(cpuinfo: String) -> [InventoryToken] {
        for line in cpuinfo.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 1)
            guard parts.count == 2 else { continue }
            let key = String(parts[0]).trimmed
            guard key == "flags" || key == "Features" else { continue }
            var tokens = parts[1].split(whereSeparator: { $0 == " " || $0 == "\t" })
                .prefix(DeviceInventory.maximumCPUFeatures)
                .compactMap { InventoryToken(rawValue: $0.lowercased()) }
            if tokens.contains("asimd") && !tokens.contains("neon") { tokens.append("neon") }
            return Array(tokens.prefix(DeviceInventory.maximumCPUFeatures))
        }
        return []
    }

    /// MemTotal, in MiB.
    static func memoryMiB(meminfo: String) -> Int? {
        for line in meminfo.split(separator: "\n") where line.hasPrefix("MemTotal:") {
            let fields = line.dropFirst("MemTotal:".count).split(separator: " ")
            guard fields.count == 2, fields[1] == "kB", let kilobytes = Int(fields[0]) else { return nil }
            let mebibytes = kilobytes / 1024
            return DeviceInventory.memoryRange.contains(mebibytes) ? mebibytes : nil
        }
        return nil
    }
}
