/// A Semantic Versioning 2.0.0 version. Its precedence is the anti-rollback order of the
/// bundles that share a name. Build metadata is kept for display but ignored for precedence,
/// so `1.0.0+a == 1.0.0+b`.
public struct SemanticVersion: Comparable, Hashable, Sendable, TextCoded {
    public enum Identifier: Hashable, Sendable {
        case numeric(UInt64)
        case alphanumeric(String)
    }

    public let major: UInt64
    public let minor: UInt64
    public let patch: UInt64
    public let preRelease: [Identifier]
    public let build: [String]
    /// The text exactly as written.
    public let description: String

    public struct ParseError: Error, CustomStringConvertible, Equatable, Sendable {
        public let text: String
        public let reason: String
        public var description: String { "'\(text)' is not a semantic version (MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD]): \(reason)" }
    }

    public init(_ text: String) throws(ParseError) {
        // Nearly every version a server reads (each check-in names what the device runs) is
        // plain MAJOR.MINOR.PATCH: read it without the allocations of the general parser.
        if let (major, minor, patch) = Self.plainCore(text) {
            self.init(major: major, minor: minor, patch: patch, description: text)
        } else {
            try self.init(parsing: text)
        }
    }

    private init(major: UInt64, minor: UInt64, patch: UInt64, description: String) {
        self.major = major
        self.minor = minor
        self.patch = patch
        preRelease = []
        build = []
        self.description = description
    }

    /// MAJOR.MINOR.PATCH and nothing else, without leading zeros or overflow; nil for any other
    /// text, which the general parser then reads (or refuses, saying why).
    static func plainCore(_ text: String) -> (UInt64, UInt64, UInt64)? {
        var numbers: (UInt64, UInt64, UInt64) = (0, 0, 0)
        var index = 0
        var value: UInt64 = 0
        var digits = 0
        for c in text.utf8 {
            if c == UInt8(ascii: "."), digits > 0, index < 2 {
                if index == 0 { numbers.0 = value } else { numbers.1 = value }
                index += 1
                value = 0
                digits = 0
            } else if isDigit(c), !(digits == 1 && value == 0) {
                let (times, overflowed) = value.multipliedReportingOverflow(by: 10)
                let (sum, carried) = times.addingReportingOverflow(UInt64(c - UInt8(ascii: "0")))
                guard !overflowed, !carried else { return nil }
                value = sum
                digits += 1
            } else {
                return nil
            }
        }
        guard index == 2, digits > 0 else { return nil }
        numbers.2 = value
        return numbers
    }

    /// The general parser: pre-release and build identifiers, and a reason for any refusal.
    init(parsing text: String) throws(ParseError) {
        func fail(_ reason: String) -> ParseError { ParseError(text: text, reason: reason) }
        guard !text.isEmpty else { throw fail("it is empty") }
        guard text.utf8.count <= 256 else { throw fail("it is longer than 256 characters") }

        var rest = Substring(text)
        var buildParts: [String] = []
        if let plus = rest.firstIndex(of: "+") {
            buildParts = rest[rest.index(after: plus)...].split(separator: ".", omittingEmptySubsequences: false).map(String.init)
            rest = rest[..<plus]
            guard !buildParts.isEmpty else { throw fail("the build metadata is empty") }
            for part in buildParts {
                guard !part.isEmpty else { throw fail("the build metadata has an empty identifier") }
                guard part.utf8.allSatisfy(Self.isIdentifierCharacter) else { throw fail("build metadata may hold only [0-9A-Za-z-]") }
            }
        }
        var preParts: [Identifier] = []
        if let dash = rest.firstIndex(of: "-") {
            let parts = rest[rest.index(after: dash)...].split(separator: ".", omittingEmptySubsequences: false)
            rest = rest[..<dash]
            for part in parts {
                guard !part.isEmpty else { throw fail("the pre-release has an empty identifier") }
                guard part.utf8.allSatisfy(Self.isIdentifierCharacter) else { throw fail("pre-release identifiers may hold only [0-9A-Za-z-]") }
                if part.utf8.allSatisfy(Self.isDigit) {
                    guard part == "0" || !part.hasPrefix("0") else { throw fail("numeric pre-release identifier '\(part)' has a leading zero") }
                    guard let number = UInt64(part) else { throw fail("numeric identifier '\(part)' is too large") }
                    preParts.append(.numeric(number))
                } else {
                    preParts.append(.alphanumeric(String(part)))
                }
            }
        }
        let core = rest.split(separator: ".", omittingEmptySubsequences: false)
        guard core.count == 3 else { throw fail("it needs exactly three numbers, MAJOR.MINOR.PATCH") }
        var numbers: [UInt64] = []
        for part in core {
            guard !part.isEmpty, part.utf8.allSatisfy(Self.isDigit) else { throw fail("'\(part)' is not a number") }
            guard part == "0" || !part.hasPrefix("0") else { throw fail("'\(part)' has a leading zero") }
            guard let number = UInt64(part) else { throw fail("'\(part)' is too large") }
            numbers.append(number)
        }
        major = numbers[0]
        minor = numbers[1]
        patch = numbers[2]
        preRelease = preParts
        build = buildParts
        description = text
    }

    private static func isDigit(_ c: UInt8) -> Bool { c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") }
    private static func isIdentifierCharacter(_ c: UInt8) -> Bool {
        isDigit(c) || (c >= UInt8(ascii: "a") && c <= UInt8(ascii: "z")) || (c >= UInt8(ascii: "A") && c <= UInt8(ascii: "Z")) || c == UInt8(ascii: "-")
    }

    public static func == (lhs: SemanticVersion, rhs: SemanticVersion) -> Bool {
        lhs.major == rhs.major && lhs.minor == rhs.minor && lhs.patch == rhs.patch && lhs.preRelease == rhs.preRelease
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(major)
        hasher.combine(minor)
        hasher.combine(patch)
        hasher.combine(preRelease)
    }

    /// SemVer 2.0.0 §11: numbers compare numerically; a pre-release sorts before its release;
    /// identifiers compare left to right, numeric below alphanumeric, shorter first on a tie.
    public static func < (lhs: SemanticVersion, rhs: SemanticVersion) -> Bool {
        if lhs.major != rhs.major { return lhs.major < rhs.major }
        if lhs.minor != rhs.minor { return lhs.minor < rhs.minor }
        if lhs.patch != rhs.patch { return lhs.patch < rhs.patch }
        if lhs.preRelease.isEmpty { return false }
        if rhs.preRelease.isEmpty { return true }
        for (left, right) in zip(lhs.preRelease, rhs.preRelease) where left != right {
            switch (left, right) {
            case (.numeric(let a), .numeric(let b)): return a < b
            case (.numeric, .alphanumeric): return true
            case (.alphanumeric, .numeric): return false
            case (.alphanumeric(let a), .alphanumeric(let b)): return Array(a.utf8).lexicographicallyPrecedes(Array(b.utf8))
            }
        }
        return lhs.preRelease.count < rhs.preRelease.count
    }
}

extension SemanticVersion: ExpressibleByStringLiteral {
    /// A version written in the program itself (a test, a default): it must be valid.
    public init(stringLiteral text: String) {
        do { self = try SemanticVersion(text) } catch { preconditionFailure("invalid version literal '\(text)': \(error)") }
    }
}
