/// What a device is, as its agent reports it: the CPU architecture and features and the memory
/// from the agent's own probe, and accelerators and runtimes from the device's
/// `inventory_command` (which may also override the probe). The server keeps the last one with
/// the device; deployment filters (`InventoryCondition`) read it.
///
/// Every part is bounded and checked where it is decoded: a device is not trusted to describe
/// itself sensibly, only to describe itself.
public struct DeviceInventory: Codable, Equatable, Hashable, Sendable {
    /// `uname -m`: x86_64, aarch64, armv7l…
    public var architecture: InventoryToken?
    /// Sorted, without repeats: avx2, neon, dotprod…
    public var cpuFeatures: [InventoryToken]
    public var memoryMiB: Int?
    public var accelerators: [Accelerator]
    /// Runtime name → version: onnxruntime 1.17.1, tensorrt 8.6.2.
    public var runtimes: [InventoryToken: DottedVersion]

    public static let maximumCPUFeatures = 512
    public static let maximumAccelerators = 16
    public static let maximumRuntimes = 64
    /// 16 TiB.
    public static let memoryRange = 1...(16 << 20)

    public struct Accelerator: Codable, Equatable, Hashable, Sendable {
        /// cuda, rocm, npu, tpu…
        public var kind: InventoryToken
        /// Free text for people ("Orin", "Hailo-8"), at most 64 printable characters.
        public var name: String?
        /// A GPU's compute capability, e.g. 8.7 for a Jetson Orin.
        public var computeCapability: DottedVersion?
        public var memoryMiB: Int?

        public init(kind: InventoryToken, name: String? = nil, computeCapability: DottedVersion? = nil, memoryMiB: Int? = nil) {
            self.kind = kind
            self.name = name
            self.computeCapability = computeCapability
            self.memoryMiB = memoryMiB
        }

        enum CodingKeys: String, CodingKey { case kind, name, computeCapability = "compute_capability", memoryMiB = "memory_mib" }

        /// 1 to 64 Unicode scalars (what the document's maxLength counts), none of them a
        /// control, format (bidi overrides, zero-width), separator, private or unassigned one.
        static func isPrintable(_ name: String) -> Bool {
            let scalars = name.unicodeScalars
            return (1...64).contains(scalars.count) && scalars.allSatisfy { scalar in
                switch scalar.properties.generalCategory {
                case .control, .format, .lineSeparator, .paragraphSeparator, .surrogate, .privateUse, .unassigned: false
                default: true
                }
            }
        }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            kind = try c.decode(InventoryToken.self, forKey: .kind)
            name = try c.decodeIfPresent(String.self, forKey: .name)
            if let name {
                try c.require(Self.isPrintable(name), .name, "1 to 64 printable characters (no control, format or separator characters)")
            }
            computeCapability = try c.decodeIfPresent(DottedVersion.self, forKey: .computeCapability)
            memoryMiB = try c.decodeIfPresent(Int.self, forKey: .memoryMiB)
            if let memoryMiB { try c.require(DeviceInventory.memoryRange.contains(memoryMiB), .memoryMiB, "must be 1 to \(DeviceInventory.memoryRange.upperBound) (MiB)") }
        }
    }

    public init(architecture: InventoryToken? = nil, cpuFeatures: [InventoryToken] = [], memoryMiB: Int? = nil,
                accelerators: [Accelerator] = [], runtimes: [InventoryToken: DottedVersion] = [:]) {
        self.architecture = architecture
        self.cpuFeatures = Array(Set(cpuFeatures)).sorted()
        self.memoryMiB = memoryMiB
        self.accelerators = accelerators
        self.runtimes = runtimes
    }

    enum CodingKeys: String, CodingKey {
        case architecture, cpuFeatures = "cpu_features", memoryMiB = "memory_mib", accelerators, runtimes
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        architecture = try c.decodeIfPresent(InventoryToken.self, forKey: .architecture)
        let features = try c.decodeIfPresent([InventoryToken].self, forKey: .cpuFeatures) ?? []
        try c.require(features.count <= Self.maximumCPUFeatures, .cpuFeatures, "at most \(Self.maximumCPUFeatures)")
        cpuFeatures = Array(Set(features)).sorted()
        memoryMiB = try c.decodeIfPresent(Int.self, forKey: .memoryMiB)
        if let memoryMiB { try c.require(Self.memoryRange.contains(memoryMiB), .memoryMiB, "must be 1 to \(Self.memoryRange.upperBound) (MiB)") }
        accelerators = try c.decodeIfPresent([Accelerator].self, forKey: .accelerators) ?? []
        try c.require(accelerators.count <= Self.maximumAccelerators, .accelerators, "at most \(Self.maximumAccelerators)")
        // Decoded as [String: …] first: a dictionary keyed by a non-String type decodes from an array.
        let runtimes = try c.decodeIfPresent([String: DottedVersion].self, forKey: .runtimes) ?? [:]
        try c.require(runtimes.count <= Self.maximumRuntimes, .runtimes, "at most \(Self.maximumRuntimes)")
        var checked: [InventoryToken: DottedVersion] = [:]
        for (name, version) in runtimes {
            guard let token = InventoryToken(rawValue: name) else {
                throw DecodingError.dataCorrupted(.init(codingPath: c.codingPath + [CodingKeys.runtimes],
                                                        debugDescription: "runtime name '\(name.prefix(64))': \(InventoryToken.problem(name) ?? "invalid")"))
            }
            checked[token] = version
        }
        self.runtimes = checked
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encodeIfPresent(architecture, forKey: .architecture)
        try c.encode(cpuFeatures, forKey: .cpuFeatures)
        try c.encodeIfPresent(memoryMiB, forKey: .memoryMiB)
        try c.encode(accelerators, forKey: .accelerators)
        try c.encode(Dictionary(uniqueKeysWithValues: runtimes.map { ($0.key.rawValue, $0.value) }), forKey: .runtimes)
    }

    /// `other`'s parts where it has them, this one's elsewhere: what an `inventory_command`
    /// prints overrides the probe, part by part (an empty list overrides nothing).
    public func overridden(by other: DeviceInventory) -> DeviceInventory {
        DeviceInventory(architecture: other.architecture ?? architecture,
                        cpuFeatures: other.cpuFeatures.isEmpty ? cpuFeatures : other.cpuFeatures,
                        memoryMiB: other.memoryMiB ?? memoryMiB,
                        accelerators: other.accelerators.isEmpty ? accelerators : other.accelerators,
                        runtimes: runtimes.merging(other.runtimes) { _, new in new })
    }

    /// One line for people: "aarch64, 3906 MiB, 12 CPU features, cuda 8.7, onnxruntime 1.17.1".
    public var summary: String {
        var parts: [String] = []
        if let architecture { parts.append(architecture.rawValue) }
        if let memoryMiB { parts.append("\(memoryMiB) MiB") }
        if !cpuFeatures.isEmpty { parts.append("\(cpuFeatures.count) CPU feature\(cpuFeatures.count == 1 ? "" : "s")") }
        for accelerator in accelerators {
            parts.append([accelerator.kind.rawValue, accelerator.name, accelerator.computeCapability?.description].compactMap { $0 }.joined(separator: " "))
        }
        for (name, version) in runtimes.sorted(by: { $0.key < $1.key }) { parts.append("\(name) \(version)") }
        return parts.isEmpty ? "nothing reported" : parts.joined(separator: ", ")
    }
}

/// A word of an inventory: an architecture, a CPU feature, an accelerator kind, a runtime name.
/// Lower-case letters, digits, `_`, `.`, `+`, `-`, starting with a letter or digit; 1 to 32
/// bytes (what /proc/cpuinfo and `uname -m` print, lower-cased).
public struct InventoryToken: ValidatedName, ExpressibleByStringLiteral {
    public static let what = "inventory word"
    public let rawValue: String
    public init(checked text: String) { rawValue = text }

    public static func problem(_ text: String) -> String? {
        let bytes = Array(text.utf8)
        guard (1...32).contains(bytes.count) else { return "must be 1 to 32 characters" }
        func word(_ byte: UInt8) -> Bool { (0x61...0x7a).contains(byte) || (0x30...0x39).contains(byte) }
        guard word(bytes[0]), bytes.allSatisfy({ word($0) || $0 == 0x5f || $0 == 0x2e || $0 == 0x2b || $0 == 0x2d }) else {
            return "'\(text.prefix(32))' must be lower-case letters, digits, '_', '.', '+' or '-', starting with a letter or digit"
        }
        return nil
    }
}
