/// A path inside a bundle: relative, normalised, with no `..`, no empty or `.` components,
/// no absolute part and no control characters. Checked wherever a path enters: manifests,
/// tar headers, API requests. Safe to join onto a folder on the device.
public struct PayloadPath: Hashable, Sendable, Comparable, TextCoded {
    public let value: String
    public var description: String { value }

    public static let maximumLength = 1024
    public static let maximumComponentLength = 255

    public struct Invalid: Error, CustomStringConvertible, Equatable, Sendable {
        public let path: String
        public let reason: String
        public var description: String { "unsafe path '\(path)': \(reason)" }
    }

    public init(_ value: String) throws(Invalid) {
        if let reason = Self.problem(with: value) { throw Invalid(path: Self.printable(value), reason: reason) }
        self.value = value
    }

    /// Why `path` is not acceptable, or nil when it is.
    public static func problem(with path: String) -> String? {
        let bytes = Array(path.utf8)
        if bytes.isEmpty { return "it is empty" }
        if bytes.count > maximumLength { return "it is longer than \(maximumLength) bytes" }
        if bytes.first == UInt8(ascii: "/") { return "it is absolute" }
        if bytes.contains(where: { $0 < 0x20 || $0 == 0x7f }) { return "it contains a control character" }
        if bytes.contains(UInt8(ascii: "\\")) { return "it contains a backslash" }
        for component in bytes.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false) {
            if component.isEmpty { return "it has an empty component (// or a trailing /)" }
            if component.elementsEqual(".".utf8) { return "it has a '.' component" }
            if component.elementsEqual("..".utf8) { return "it has a '..' component" }
            if component.count > maximumComponentLength { return "a component is longer than \(maximumComponentLength) bytes" }
        }
        return nil
    }

    /// The path with control characters escaped, safe to print in an error message.
    public static func printable(_ path: String) -> String {
        var out = ""
        for scalar in path.unicodeScalars.prefix(300) {
            if scalar.value < 0x20 || scalar.value == 0x7f { out += "\\u{\(String(scalar.value, radix: 16))}" } else { out.unicodeScalars.append(scalar) }
        }
        return out
    }

    public static func < (lhs: PayloadPath, rhs: PayloadPath) -> Bool {
        Array(lhs.value.utf8).lexicographicallyPrecedes(Array(rhs.value.utf8))
    }
}

/// Names that become folder names or URL parts: bundle names, kinds, hardware classes,
/// device ids. Letters, digits, `.`, `_`, `-`; starting with a letter or digit.
public enum SafeName {
    public static let maximumLength = 128

    public static func problem(with name: String, what: String) -> String? {
        let bytes = Array(name.utf8)
        guard !bytes.isEmpty else { return "\(what) is empty" }
        guard bytes.count <= maximumLength else { return "\(what) is longer than \(maximumLength) characters" }
        func isAlphanumeric(_ c: UInt8) -> Bool {
            (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a)
        }
        guard isAlphanumeric(bytes[0]) else { return "\(what) '\(PayloadPath.printable(name))' must start with a letter or digit" }
        guard bytes.allSatisfy({ isAlphanumeric($0) || $0 == 0x2e || $0 == 0x5f || $0 == 0x2d }) else {
            return "\(what) '\(PayloadPath.printable(name))' may hold only letters, digits, '.', '_' and '-'"
        }
        return nil
    }
}
