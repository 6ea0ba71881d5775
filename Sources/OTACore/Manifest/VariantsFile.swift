/// The variants file `otactl bundle create --variants` reads: one line per build, best first,
/// the variant's name (its folder in the payload) and then what a device must report to get
/// it, in the language of deployment filters. A name alone fits any device. `#` starts a
/// comment.
///
///     # TensorRT engine for Jetson Orin, then int8 for ARM boards, then fp32 for the rest
///     trt-orin  accelerator.kind = cuda and accelerator.compute_capability = 8.7 and runtime.tensorrt = 8.6
///     int8      cpu.features contains neon
///     fp32
public enum VariantsFile {
    public static let maximumSize = 64 << 10

    public struct Invalid: Error, CustomStringConvertible, Equatable, Sendable {
        public let line: Int
        public let reason: String
        public var description: String { line == 0 ? reason : "line \(line): \(reason)" }
    }

    public static func parse(_ text: String) throws(Invalid) -> [Manifest.Variant] {
        guard text.utf8.count <= maximumSize else { throw Invalid(line: 0, reason: "a variants file is at most \(maximumSize) bytes") }
        var variants: [Manifest.Variant] = []
        for (index, raw) in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated() {
            let line = index + 1
            var content = Substring(raw)
            if let hash = content.firstIndex(of: "#") { content = content[..<hash] }
            let words = content.split(maxSplits: 1, whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" })
            guard let first = words.first else { continue }
            let name: VariantName
            do { name = try VariantName(String(first)) } catch { throw Invalid(line: line, reason: error.description) }
            guard !variants.contains(where: { $0.name == name }) else { throw Invalid(line: line, reason: "variant '\(name)' is listed twice") }
            guard variants.count < Manifest.maximumVariants else {
                throw Invalid(line: line, reason: "a bundle holds at most \(Manifest.maximumVariants) variants")
            }
            var requires: InventoryCondition?
            if words.count == 2, words[1].contains(where: { $0 != " " && $0 != "\t" }) {
                do { requires = try InventoryCondition(String(words[1])) } catch {
                    throw Invalid(line: line, reason: "variant '\(name)': \(error.description)")
                }
            }
            variants.append(.init(name: name, requires: requires))
        }
        guard !variants.isEmpty else { throw Invalid(line: 0, reason: "the file names no variant: write one line per build, like 'int8 cpu.features contains neon'") }
        return variants
    }
}
