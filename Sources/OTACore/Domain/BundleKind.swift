/// What a bundle is and how a device installs it: a model (the agent swaps its live folder),
/// or anything else, which an install handler of that name on the device installs (`firmware`
/// is the usual one). Spelled as its name on the wire.
public enum BundleKind: Hashable, Sendable, TextCoded, Comparable, ExpressibleByStringLiteral {
    case model
    case firmware
    /// A SWUpdate image (`.swu`) that a device's own SWUpdate installs, fetched over hawkBit DDI.
    case swupdate
    /// A RAUC bundle (`.raucb`) that a device's own RAUC installs, fetched over hawkBit DDI.
    case rauc
    /// Another kind, installed by the device's handler of this name.
    case handler(String)

    public init(_ name: String) throws(InvalidName) {
        switch name {
        case "model": self = .model
        case "firmware": self = .firmware
        case "swupdate": self = .swupdate
        case "rauc": self = .rauc
        default:
            if let problem = SafeName.problem(with: name, what: "kind") { throw InvalidName(problem) }
            self = .handler(name)
        }
    }

    /// A kind written in the program itself (a test, a default).
    public init(stringLiteral name: String) {
        do { self = try BundleKind(name) } catch { preconditionFailure("invalid bundle kind literal '\(name)'") }
    }

    public var name: String {
        switch self {
        case .model: return "model"
        case .firmware: return "firmware"
        case .swupdate: return "swupdate"
        case .rauc: return "rauc"
        case .handler(let name): return name
        }
    }

    public var description: String { name }

    /// Whether the agent installs it itself (a model) rather than through a handler.
    public var isModel: Bool { self == .model }

    /// Whether a device's own update client installs it (over hawkBit DDI) rather than
    /// `ota-agent`: such bundles go only to DDI devices, and other bundles never do.
    public var isClientImage: Bool { self == .swupdate || self == .rauc }

    /// The file name ending a client image must have (its client refuses anything else).
    public var imageExtension: String? {
        switch self {
        case .swupdate: return ".swu"
        case .rauc: return ".raucb"
        default: return nil
        }
    }

    /// The handler a device needs for it, if any (a model needs none).
    public var handlerName: String? { isModel ? nil : name }

    public static func < (a: BundleKind, b: BundleKind) -> Bool { a.name < b.name }
}
