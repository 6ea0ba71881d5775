/// A bundle may carry several builds of its payload (an int8 model for ARM boards, an fp32 one
/// for x86 gateways, a TensorRT engine for one GPU), each in a folder named by the build, with
/// what a device must report to get it. The device takes the first that fits and installs only
/// that folder's files, as if the bundle held nothing else: the slot, the health check, chunk
/// reuse and deltas all work on the chosen build (`Manifest.selecting`).
///
/// A manifest with variants is schema 2, so an agent that predates variants refuses it with
/// "schema 2 is not supported" instead of installing every build side by side.
public struct VariantName: ValidatedName, ExpressibleByStringLiteral {
    public static let what = "variant name"
    public let rawValue: String
    public init(checked text: String) { rawValue = text }
    /// A folder name: the same words as inventory words (`int8`, `fp32`, `trt-8.6-sm87`).
    public static func problem(_ text: String) -> String? { InventoryToken.problem(text) }
}

extension Manifest {
    public static let maximumVariants = 16

    public struct Variant: Codable, Equatable, Sendable {
        public var name: VariantName
        /// What a device must report to get this build (`DeviceInventory`); nil: any device.
        public var requires: InventoryCondition?

        public init(name: VariantName, requires: InventoryCondition? = nil) {
            self.name = name
            self.requires = requires
        }

        public init(from decoder: any Decoder) throws {
            try decoder.rejectUnknownKeys(allowed: ["name", "requires"])
            let container = try decoder.container(keyedBy: CodingKeys.self)
            name = try container.decode(VariantName.self, forKey: .name)
            requires = try container.decodeIfPresent(InventoryCondition.self, forKey: .requires)
        }

        public func fits(_ inventory: DeviceInventory?) -> Bool { requires?.isMet(by: inventory) ?? true }

        /// `int8 (cpu.features contains neon)`, for messages.
        public var summary: String { requires.map { "\(name) (\($0))" } ?? "\(name) (any device)" }
    }

    /// The first variant, in the manifest's order of preference, whose requirements `inventory`
    /// meets; nil when none does (or the manifest has none).
    public func variant(fitting inventory: DeviceInventory?) -> Variant? {
        variants?.first { $0.fits(inventory) }
    }

    /// The files of one variant, by their paths in the bundle (`int8/model.onnx`).
    public func files(of variant: VariantName) -> [FileEntry] {
        files.filter { Self.variantName(of: $0.path) == variant.rawValue }
    }

    /// The manifest as a device that chose `variant` installs it: that folder's files, with
    /// paths inside the folder, and no variants. `nil` leaves a manifest without variants as
    /// it is. A name the manifest does not list (a damaged journal) is an error.
    public func selecting(_ variant: VariantName?) throws(BundleError) -> Manifest {
        guard let variants else {
            if let variant { throw .invalidManifest("the bundle has no variants, yet variant '\(variant)' was chosen") }
            return self
        }
        guard let variant, variants.contains(where: { $0.name == variant }) else {
            throw .invalidManifest("the bundle's variants are \(variants.map(\.name.rawValue).joined(separator: ", ")); '\(variant?.rawValue ?? "none")' is not one of them")
        }
        var selected = self
        selected.schema = Self.schemaVersion
        selected.variants = nil
        selected.files = []
        for file in files(of: variant) {
            let inside: PayloadPath
            do { inside = try PayloadPath(String(file.path.value.dropFirst(variant.rawValue.count + 1))) } catch {
                throw .invalidManifest(error.description)
            }
            selected.files.append(.init(path: inside, size: file.size, sha256: file.sha256, chunks: file.chunks))
        }
        return selected
    }

    /// Whether the file at `path` in the bundle is the health command (of its variant).
    public func isHealthCommand(_ path: PayloadPath) -> Bool {
        guard let command = health?.command else { return false }
        guard variants != nil else { return path == command }
        guard let variant = Self.variantName(of: path) else { return false }
        return path.value == variant + "/" + command.value
    }

    static func variantName(of path: PayloadPath) -> String? {
        guard let slash = path.value.firstIndex(of: "/") else { return nil }
        return String(path.value[..<slash])
    }

    /// The rules of a manifest with variants: 1 to 16 with distinct names, every file in the
    /// folder of one of them, none empty, and the health command in each.
    func variantProblem(_ variants: [Variant]) -> String? {
        guard (1...Self.maximumVariants).contains(variants.count) else { return "variants must list 1 to \(Self.maximumVariants) builds" }
        let names = Set(variants.map(\.name.rawValue))
        guard names.count == variants.count else { return "variants lists a name twice" }
        var used = Set<String>()
        for file in files {
            guard let name = Self.variantName(of: file.path), names.contains(name) else {
                return "'\(file.path)' is in no variant's folder: in a bundle with variants every file lives in the folder named by its variant"
            }
            used.insert(name)
        }
        if let empty = variants.first(where: { !used.contains($0.name.rawValue) }) { return "variant '\(empty.name)' has no files" }
        if let command = health?.command {
            let paths = Set(files.map(\.path.value))
            if let missing = variants.first(where: { !paths.contains("\($0.name)/\(command)") }) {
                return "health.command '\(command)' is not in variant '\(missing.name)' (with variants it is a path inside each variant's folder)"
            }
        }
        return nil
    }
}
