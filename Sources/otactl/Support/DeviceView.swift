import OTACore

/// How `otactl devices show` prints a device's parts that take more than a line.
enum DeviceView {
    /// The inventory, one line per part, in the words `--where` uses for it.
    static func inventoryLines(_ inventory: DeviceInventory) -> [String] {
        var lines: [String] = []
        if let architecture = inventory.architecture { lines.append("cpu.arch:   \(architecture)") }
        if !inventory.cpuFeatures.isEmpty {
            lines.append("cpu.features: \(inventory.cpuFeatures.map(\.rawValue).joined(separator: " "))")
        }
        if let memory = inventory.memoryMiB { lines.append("memory.mib: \(memory)") }
        for accelerator in inventory.accelerators {
            let parts = [accelerator.name, accelerator.computeCapability.map { "compute capability \($0)" },
                         accelerator.memoryMiB.map { "\($0) MiB" }].compactMap { $0 }
            lines.append("accelerator: \(accelerator.kind)\(parts.isEmpty ? "" : " (\(parts.joined(separator: ", ")))")")
        }
        for (name, version) in inventory.runtimes.sorted(by: { $0.key < $1.key }) { lines.append("runtime.\(name): \(version)") }
        return lines.isEmpty ? ["inventory:  reported, empty"] : lines
    }
}
