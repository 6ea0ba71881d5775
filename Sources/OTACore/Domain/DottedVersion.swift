/// A version as runtimes and GPUs print them: one to four numbers joined by dots (8.7,
/// 1.17.1, 8.6.2.3), with an optional build suffix after `+` or `-` that is kept for people
/// and ignored when comparing (1.17.1+cu118). Unlike `SemanticVersion`, `8.6` is a whole
/// version here, and a requirement `= 8.6` matches 8.6.2 (`matches(prefix:)`).
///
/// Equality (`==`) is of what was written, suffix included, so that a device that moves from
/// 1.17.1+cpu to 1.17.1+cu118 is seen to have changed; conditions compare with `compare` and
/// `matches(prefix:)`, which read the numbers only.
public struct DottedVersion: TextCoded, Hashable, Sendable {
    public let numbers: [Int]
    public let suffix: String?

    public static let maximumNumber = 999_999_999

    public struct Invalid: Error, CustomStringConvertible, Equatable, Sendable {
        public let description: String
    }

    public init(_ text: String) throws(Invalid) {
        guard !text.isEmpty, text.utf8.count <= 64 else { throw Invalid(description: "a version must be 1 to 64 characters") }
        var core = Substring(text)
        var suffix: String?
        if let cut = text.firstIndex(where: { $0 == "+" || $0 == "-" }) {
            let rest = text[text.index(after: cut)...]
            guard !rest.isEmpty, rest.utf8.allSatisfy({ (0x30...0x39).contains($0) || (0x41...0x5a).contains($0) || (0x61...0x7a).contains($0) || $0 == 0x2e || $0 == 0x2d || $0 == 0x5f }) else {
                throw Invalid(description: "'\(text.prefix(64))': the part after '\(text[cut])' must be letters, digits, '.', '-' or '_'")
            }
            suffix = String(text[cut...])
            core = text[..<cut]
        }
        let parts = core.split(separator: ".", omittingEmptySubsequences: false)
        guard (1...4).contains(parts.count) else { throw Invalid(description: "'\(text.prefix(64))' must be one to four numbers joined by dots, like 8.7 or 1.17.1") }
        var numbers: [Int] = []
        for part in parts {
            guard (1...9).contains(part.utf8.count), part.utf8.allSatisfy({ (0x30...0x39).contains($0) }), let number = Int(part) else {
                throw Invalid(description: "'\(text.prefix(64))' must be one to four numbers (each up to 9 digits) joined by dots, like 8.7 or 1.17.1")
            }
            numbers.append(number)
        }
        self.numbers = numbers
        self.suffix = suffix
    }

    public var description: String { numbers.map(String.init).joined(separator: ".") + (suffix ?? "") }

    /// Below 0, 0 or above 0 as this version is below, at or above `other`, number by number,
    /// a missing number counting as 0 (8.6 = 8.6.0 < 8.6.1 < 8.10); suffixes are not read.
    public func compare(_ other: DottedVersion) -> Int {
        for index in 0..<max(numbers.count, other.numbers.count) {
            let (a, b) = (index < numbers.count ? numbers[index] : 0, index < other.numbers.count ? other.numbers[index] : 0)
            if a != b { return a < b ? -1 : 1 }
        }
        return 0
    }

    /// Whether this version starts with every number of `prefix`, a missing number counting as
    /// 0: 8.6.2 matches 8.6 and 8, not 8.60 or 8.6.2.1; 8.6 matches 8.6.0.
    public func matches(prefix: DottedVersion) -> Bool {
        prefix.numbers.indices.allSatisfy { index in (index < numbers.count ? numbers[index] : 0) == prefix.numbers[index] }
    }
}
