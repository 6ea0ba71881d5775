/// A condition on a device's inventory: clauses joined by `and`, each `FIELD OPERATOR VALUE`.
///
///     cpu.arch = aarch64 and cpu.features contains neon and memory.mib >= 2048
///     accelerator.kind = cuda and accelerator.compute_capability >= 8.7
///     runtime.tensorrt = 8.6 and runtime.onnxruntime >= 1.17
///
/// | field | operators | value |
/// |---|---|---|
/// | `cpu.arch` | `=` `!=` | a word (`uname -m`) |
/// | `cpu.features` | `contains` `lacks` | a word (a flag of /proc/cpuinfo) |
/// | `memory.mib` | `=` `!=` `<` `<=` `>` `>=` | a whole number |
/// | `accelerator.kind` | `=` | a word |
/// | `accelerator.compute_capability` | `=` `!=` `<` `<=` `>` `>=` | a version |
/// | `runtime.NAME` | `=` `!=` `<` `<=` `>` `>=` | a version |
///
/// The `accelerator.*` clauses hold together for one and the same accelerator: `kind = cuda
/// and compute_capability >= 8.7` needs a CUDA device of 8.7 or above, not any CUDA device
/// beside any accelerator of 8.7. Versions compare number by number (8.6 = 8.6.0 < 8.6.1), a
/// version in a condition has no suffix, and `=` on a version matches every version that
/// starts with it (`runtime.tensorrt = 8.6` holds for 8.6.2). A clause about something the
/// device did not report is false, whatever its operator: a device that says nothing of its GPU
/// matches no condition on GPUs. A filter, not a script: there is no `or`, no brackets,
/// nothing that runs.
public struct InventoryCondition: TextCoded, Hashable, Sendable {
    public let clauses: [Clause]

    public static let maximumLength = 1024
    public static let maximumClauses = 16

    /// Set only in `unreadable`.
    private var unreadableText: String? = nil

    /// What a stored condition this version cannot parse stands for (written by a later
    /// version): no inventory meets it, so a downgrade never widens a deployment.
    public static func unreadable(_ text: String) -> InventoryCondition {
        var condition = InventoryCondition(clauses: [])
        condition.unreadableText = text
        return condition
    }

    private init(clauses: [Clause]) { self.clauses = clauses }

    public enum Field: Hashable, Sendable, CustomStringConvertible {
        case architecture, cpuFeatures, memoryMiB, acceleratorKind, computeCapability
        case runtime(InventoryToken)

        public var description: String {
            switch self {
            case .architecture: "cpu.arch"
            case .cpuFeatures: "cpu.features"
            case .memoryMiB: "memory.mib"
            case .acceleratorKind: "accelerator.kind"
            case .computeCapability: "accelerator.compute_capability"
            case .runtime(let name): "runtime.\(name)"
            }
        }

        var isAccelerator: Bool { self == .acceleratorKind || self == .computeCapability }
    }

    public enum Operator: String, Hashable, Sendable, CaseIterable {
        case equal = "=", notEqual = "!=", less = "<", lessOrEqual = "<=", greater = ">", greaterOrEqual = ">="
        case contains, lacks
    }

    public enum Value: Hashable, Sendable, CustomStringConvertible {
        case word(InventoryToken)
        case number(Int)
        case version(DottedVersion)

        public var description: String {
            switch self {
            case .word(let word): word.rawValue
            case .number(let number): String(number)
            case .version(let version): version.description
            }
        }
    }

    public struct Clause: Hashable, Sendable, CustomStringConvertible {
        public let field: Field
        public let op: Operator
        public let value: Value
        public var description: String { "\(field) \(op.rawValue) \(value)" }
    }

    public struct Invalid: Error, CustomStringConvertible, Equatable, Sendable {
        public let description: String
    }

    public init(_ text: String) throws(Invalid) {
        guard text.utf8.count <= Self.maximumLength else { throw Invalid(description: "a condition must be at most \(Self.maximumLength) bytes") }
        let words = text.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }).map(String.init)
        guard !words.isEmpty else { throw Invalid(description: "a condition needs at least one clause, like 'cpu.features contains neon'") }
        var clauses: [Clause] = []
        var index = 0
        while index < words.count {
            guard index + 3 <= words.count else {
                throw Invalid(description: "'\(words[index...].joined(separator: " "))' is not a whole clause: write FIELD OPERATOR VALUE, like 'memory.mib >= 2048'")
            }
            clauses.append(try Self.clause(words[index], words[index + 1], words[index + 2]))
            index += 3
            if index < words.count {
                guard words[index] == "and" else {
                    throw Invalid(description: "expected 'and' between clauses, found '\(words[index].prefix(64))' (there is no 'or': deploy twice instead)")
                }
                index += 1
                guard index < words.count else { throw Invalid(description: "a condition cannot end with 'and'") }
            }
        }
        guard clauses.count <= Self.maximumClauses else { throw Invalid(description: "at most \(Self.maximumClauses) clauses") }
        self.clauses = clauses
    }

    private static func clause(_ fieldText: String, _ opText: String, _ valueText: String) throws(Invalid) -> Clause {
        let field: Field
        switch fieldText {
        case "cpu.arch": field = .architecture
        case "cpu.features": field = .cpuFeatures
        case "memory.mib": field = .memoryMiB
        case "accelerator.kind": field = .acceleratorKind
        case "accelerator.compute_capability": field = .computeCapability
        default:
            guard fieldText.hasPrefix("runtime."), let name = InventoryToken(rawValue: String(fieldText.dropFirst("runtime.".count))) else {
                throw Invalid(description: "unknown field '\(fieldText.prefix(64))': one of cpu.arch, cpu.features, memory.mib, accelerator.kind, accelerator.compute_capability, runtime.NAME")
            }
            field = .runtime(name)
        }
        let allowed: [Operator]
        switch field {
        case .architecture: allowed = [.equal, .notEqual]
        case .cpuFeatures: allowed = [.contains, .lacks]
        case .acceleratorKind: allowed = [.equal]
        case .memoryMiB, .computeCapability, .runtime: allowed = [.equal, .notEqual, .less, .lessOrEqual, .greater, .greaterOrEqual]
        }
        guard let op = Operator(rawValue: opText), allowed.contains(op) else {
            throw Invalid(description: "\(field) takes \(allowed.map { $0.rawValue }.joined(separator: ", ")), not '\(opText.prefix(16))'")
        }
        let value: Value
        switch field {
        case .architecture, .cpuFeatures, .acceleratorKind:
            guard let word = InventoryToken(rawValue: valueText) else {
                throw Invalid(description: "\(field): \(InventoryToken.problem(valueText) ?? "not a word")")
            }
            value = .word(word)
        case .memoryMiB:
            guard let number = Int(valueText), DeviceInventory.memoryRange.contains(number) else {
                throw Invalid(description: "memory.mib: '\(valueText.prefix(32))' must be a whole number of MiB, 1 to \(DeviceInventory.memoryRange.upperBound)")
            }
            value = .number(number)
        case .computeCapability, .runtime:
            let version: DottedVersion
            do { version = try DottedVersion(valueText) } catch { throw Invalid(description: "\(field): \(error.description)") }
            // Comparisons read the numbers only: a suffix here would look meaningful and be ignored.
            guard version.suffix == nil else {
                throw Invalid(description: "\(field): '\(valueText.prefix(64))' has a suffix; a condition compares the numbers only (write \(version.numbers.map(String.init).joined(separator: ".")))")
            }
            value = .version(version)
        }
        return Clause(field: field, op: op, value: value)
    }

    public var description: String { unreadableText ?? clauses.map(\.description).joined(separator: " and ") }

    /// Whether `inventory` meets every clause (nil: the device reported none, so it meets none).
    /// The accelerator clauses must all hold for one accelerator.
    public func isMet(by inventory: DeviceInventory?) -> Bool {
        guard let inventory, unreadableText == nil else { return false }
        let onAccelerators = clauses.filter(\.field.isAccelerator)
        guard clauses.allSatisfy({ $0.field.isAccelerator || $0.isMet(by: inventory) }) else { return false }
        return onAccelerators.isEmpty || inventory.accelerators.contains { accelerator in
            onAccelerators.allSatisfy { $0.isMet(by: accelerator) }
        }
    }
}

extension InventoryCondition.Clause {
    func isMet(by inventory: DeviceInventory) -> Bool {
        switch (field, value) {
        case (.architecture, .word(let word)):
            guard let architecture = inventory.architecture else { return false }
            return op == .equal ? architecture == word : architecture != word
        case (.cpuFeatures, .word(let word)):
            guard !inventory.cpuFeatures.isEmpty else { return false }
            return inventory.cpuFeatures.contains(word) == (op == .contains)
        case (.memoryMiB, .number(let number)):
            guard let memory = inventory.memoryMiB else { return false }
            return compare(memory < number ? -1 : memory == number ? 0 : 1)
        case (.runtime(let name), .version(let version)):
            guard let installed = inventory.runtimes[name] else { return false }
            return versionHolds(installed, version)
        default:
            return false  // accelerator clauses (below), or not made by the parser
        }
    }

    /// An `accelerator.*` clause, on one accelerator.
    func isMet(by accelerator: DeviceInventory.Accelerator) -> Bool {
        switch (field, value) {
        case (.acceleratorKind, .word(let word)): return accelerator.kind == word
        case (.computeCapability, .version(let version)): return accelerator.computeCapability.map { versionHolds($0, version) } ?? false
        default: return false
        }
    }

    private func versionHolds(_ have: DottedVersion, _ wanted: DottedVersion) -> Bool {
        switch op {
        case .equal: have.matches(prefix: wanted)
        case .notEqual: !have.matches(prefix: wanted)
        default: compare(have.compare(wanted))
        }
    }

    /// `order`: below 0, 0 or above 0 as the device's value is below, at or above the clause's.
    private func compare(_ order: Int) -> Bool {
        switch op {
        case .equal: order == 0
        case .notEqual: order != 0
        case .less: order < 0
        case .lessOrEqual: order <= 0
        case .greater: order > 0
        case .greaterOrEqual: order >= 0
        case .contains, .lacks: false
        }
    }
}
