/// A name or id from outside (the network, a bundle, a config), checked once when it is made
/// or decoded: once a value of one of these types exists, it is valid, and nothing downstream
/// checks it again. A bad one fails decoding with the usual 400 body, naming the field.
public protocol ValidatedName: RawRepresentable<String>, Codable, Hashable, Comparable, Sendable, CustomStringConvertible {
    /// What it is called in messages ("device id").
    static var what: String { get }
    /// Why `text` is not one, or nil.
    static func problem(_ text: String) -> String?
    /// Made without a check: only for values already checked.
    init(checked text: String)
}

/// Thrown when text is not a valid name of its kind.
public struct InvalidName: Error, CustomStringConvertible, Equatable, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

extension ValidatedName {
    public init?(rawValue: String) {
        guard Self.problem(rawValue) == nil else { return nil }
        self.init(checked: rawValue)
    }

    /// The name, or an error saying what is wrong with it.
    public init(_ text: String) throws(InvalidName) {
        if let problem = Self.problem(text) { throw InvalidName(problem) }
        self.init(checked: text)
    }

    public var description: String { rawValue }

    public static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        if let problem = Self.problem(text) {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: problem))
        }
        self.init(checked: text)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }

    /// A name written in the program itself (a test, a default): it must be valid, so a bad
    /// one is a programming error caught the first time that line runs.
    public init(stringLiteral text: String) {
        guard Self.problem(text) == nil else { preconditionFailure("invalid \(Self.what) literal '\(text)'") }
        self.init(checked: text)
    }

    /// Letters, digits, `.`, `_` and `-`, starting with a letter or digit, 1 to 128 bytes.
    static func safeNameProblem(_ text: String) -> String? { SafeName.problem(with: text, what: what) }
}

/// Names of the same shape: letters, digits, `.`, `_`, `-`; 1 to 128 bytes.
public struct DeviceID: ValidatedName, ExpressibleByStringLiteral {
    public let rawValue: String
    public init(checked text: String) { rawValue = text }
    public static let what = "device id"
    public static func problem(_ text: String) -> String? { safeNameProblem(text) }
}

public struct BundleName: ValidatedName, ExpressibleByStringLiteral {
    public let rawValue: String
    public init(checked text: String) { rawValue = text }
    public static let what = "bundle name"
    public static func problem(_ text: String) -> String? { safeNameProblem(text) }
}

/// A hardware class (`rpi4-aarch64`), matched against a bundle's `compatible` list.
public struct HardwareClass: ValidatedName, ExpressibleByStringLiteral {
    public let rawValue: String
    public init(checked text: String) { rawValue = text }
    public static let what = "hardware"
    public static func problem(_ text: String) -> String? { safeNameProblem(text) }
}

public struct Tag: ValidatedName, ExpressibleByStringLiteral {
    public let rawValue: String
    public init(checked text: String) { rawValue = text }
    public static let what = "tag"
    public static func problem(_ text: String) -> String? { safeNameProblem(text) }
}

public struct GroupName: ValidatedName, ExpressibleByStringLiteral {
    public let rawValue: String
    public init(checked text: String) { rawValue = text }
    public static let what = "group"
    public static func problem(_ text: String) -> String? { safeNameProblem(text) }
}

/// A deployment (`dep_…`), an admin token (`tok_…`) or an enrollment token (`enr_…`) as the
/// server names them.
public struct DeploymentID: ValidatedName, ExpressibleByStringLiteral {
    public let rawValue: String
    public init(checked text: String) { rawValue = text }
    public static let what = "deployment id"
    public static func problem(_ text: String) -> String? { safeNameProblem(text) }
}

public struct TokenID: ValidatedName, ExpressibleByStringLiteral {
    public let rawValue: String
    public init(checked text: String) { rawValue = text }
    public static let what = "token id"
    public static func problem(_ text: String) -> String? { safeNameProblem(text) }
}

/// A release channel devices follow: lower-case letters, digits, `.`, `_`, `-`; 1 to 64.
public struct Channel: ValidatedName, ExpressibleByStringLiteral {
    public let rawValue: String
    public init(checked text: String) { rawValue = text }
    public static let what = "channel"
    public static let stable = Channel(checked: "stable")
    public static func problem(_ text: String) -> String? { Release.channelProblem(text) }
}

/// The start of device ids an enrollment token allows (`cam-`): the shape of a device id.
public struct DeviceIDPrefix: ValidatedName, ExpressibleByStringLiteral {
    public let rawValue: String
    public init(checked text: String) { rawValue = text }
    public static let what = "id_prefix"
    public static func problem(_ text: String) -> String? { safeNameProblem(text) }
}

extension Sequence where Element: ValidatedName {
    /// The names as text, like `[String].joined(separator:)`.
    public func joined(separator: String) -> String { map(\.rawValue).joined(separator: separator) }
}
