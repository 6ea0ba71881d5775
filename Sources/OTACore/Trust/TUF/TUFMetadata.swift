/// TUF's four top-level roles. Root names the keys of every role.
public enum TUFRoleName: String, Codable, CaseIterable, Sendable {
    case root, targets, snapshot, timestamp
}

/// Which keys may sign a role's metadata, and how many distinct ones must.
public struct TUFRole: Codable, Equatable, Sendable {
    public var keyids: [String]
    public var threshold: Int

    public init(keyids: [String], threshold: Int) {
        self.keyids = keyids
        self.threshold = threshold
    }

    func check(_ name: String) throws {
        guard Set(keyids).count == keyids.count else { throw JSONInputError("role \(name): a key id is listed twice") }
        guard threshold >= 1 else { throw JSONInputError("role \(name): threshold must be at least 1") }
    }
}

/// What every TUF metadata payload carries: its type, the specification version, its own
/// version number and when it stops being valid.
public protocol TUFSigned: Codable, Sendable {
    static var role: TUFRoleName { get }
    var version: Int { get }
    /// `YYYY-MM-DDTHH:MM:SSZ`, as TUF writes it.
    var expires: String { get }
}

extension TUFSigned {
    public var expiresEpoch: Int64 { Timestamp.parse(expires) ?? 0 }
    public func isExpired(at now: Int64) -> Bool { now >= expiresEpoch }
}

/// The checks python-tuf makes on the fields every payload shares.
public enum TUFCommon {
    static let specVersion = "1.0.31"

    static func check(type: String, expected: TUFRoleName, specVersion: String, version: Int, expires: String) throws {
        guard type == expected.rawValue else { throw JSONInputError("expected '\(expected.rawValue)' metadata, got '\(type.prefix(40))'") }
        let parts = specVersion.split(separator: ".", omittingEmptySubsequences: false)
        guard (2...3).contains(parts.count), parts.allSatisfy({ !$0.isEmpty && $0.allSatisfy(\.isASCII) && $0.allSatisfy(\.isNumber) }) else {
            throw JSONInputError("cannot read spec_version '\(specVersion.prefix(40))'")
        }
        guard parts[0] == "1" else { throw JSONInputError("spec_version \(specVersion.prefix(40)) is not supported (1.x is)") }
        guard version > 0 else { throw JSONInputError("version must be above 0, got \(version)") }
        guard isTUFTime(expires) else { throw JSONInputError("expires '\(expires.prefix(40))' is not YYYY-MM-DDTHH:MM:SSZ") }
    }

    /// Exactly the form TUF writes: no fractions, no offsets.
    static func isTUFTime(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        return bytes.count == 20 && bytes[19] == UInt8(ascii: "Z") && bytes[10] == UInt8(ascii: "T") && Timestamp.parse(text) != nil
    }

    public static func expires(in seconds: Int64, from now: Int64 = Timestamp.epochSeconds()) -> String {
        Timestamp.format(secondsSinceEpoch: now + seconds)
    }
}

/// The fields every payload starts with, decoded and checked once for every type.
struct TUFHeader {
    let type: String
    let specVersion: String
    let version: Int
    let expires: String

    enum CodingKeys: String, CodingKey { case type = "_type", specVersion = "spec_version", version, expires }

    init(from decoder: any Decoder, expected role: TUFRoleName) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        type = try container.decode(String.self, forKey: .type)
        specVersion = try container.decode(String.self, forKey: .specVersion)
        version = try container.decode(Int.self, forKey: .version, in: WireRange.version)
        expires = try container.decode(String.self, forKey: .expires)
        try TUFCommon.check(type: type, expected: role, specVersion: specVersion, version: version, expires: expires)
    }
}

/// Root metadata: the keys of every role, signed by a threshold of its own root keys (and,
/// for version N+1, by a threshold of version N's). `x-ota-checkin` is our one addition: the
/// keys that sign check-in answers, kept outside `roles` so TUF tools still read the root.
public struct RootMetadata: TUFSigned, Equatable {
    public static let role = TUFRoleName.root
    public static let checkinField = "x-ota-checkin"

    public var type = "root"
    public var specVersion = TUFCommon.specVersion
    public var version: Int
    public var expires: String
    public var consistentSnapshot: Bool?
    public var keys: [String: TUFKey]
    public var roles: [String: TUFRole]
    public var checkin: TUFRole?
    /// Which bundles need their model team's signature, and whose (`ModelSigningPolicy`).
    public var modelSigning: ModelSigningPolicy?

    enum CodingKeys: String, CodingKey {
        case type = "_type", specVersion = "spec_version", version, expires
        case consistentSnapshot = "consistent_snapshot", keys, roles, checkin = "x-ota-checkin"
        case modelSigning = "x-ota-model-signing"
    }

    public init(version: Int, expires: String, keys: [String: TUFKey], roles: [TUFRoleName: TUFRole], checkin: TUFRole?,
                modelSigning: ModelSigningPolicy? = nil) {
        self.modelSigning = modelSigning
        self.version = version
        self.expires = expires
        self.consistentSnapshot = false
        self.keys = keys
        self.roles = Dictionary(uniqueKeysWithValues: roles.map { ($0.key.rawValue, $0.value) })
        self.checkin = checkin
    }

    public init(from decoder: any Decoder) throws {
        let header = try TUFHeader(from: decoder, expected: .root)
        (type, specVersion, version, expires) = (header.type, header.specVersion, header.version, header.expires)
        let container = try decoder.container(keyedBy: CodingKeys.self)
        consistentSnapshot = try container.decodeIfPresent(Bool.self, forKey: .consistentSnapshot)
        keys = try container.decode([String: TUFKey].self, forKey: .keys)
        roles = try container.decode([String: TUFRole].self, forKey: .roles)
        checkin = try container.decodeIfPresent(TUFRole.self, forKey: .checkin)
        modelSigning = try container.decodeIfPresent(ModelSigningPolicy.self, forKey: .modelSigning)
        guard Set(roles.keys) == Set(TUFRoleName.allCases.map(\.rawValue)) else {
            throw JSONInputError("root roles must be exactly root, targets, snapshot and timestamp")
        }
        for (name, role) in roles { try role.check(name) }
        try checkin?.check(Self.checkinField)
    }

    public func role(_ name: TUFRoleName) -> TUFRole { roles[name.rawValue] ?? TUFRole(keyids: [], threshold: 1) }

    /// The Ed25519 keys of a role, by key id; ids without a usable key are left out.
    public func keys(of role: TUFRole) -> [String: Ed25519PublicKey] {
        var result: [String: Ed25519PublicKey] = [:]
        for keyid in role.keyids { if let key = keys[keyid]?.ed25519 { result[keyid] = key } }
        return result
    }

    /// The release (targets) keys and threshold, as bundle envelopes name them.
    public var bundleTrust: BundleTrust {
        let role = role(.targets)
        return BundleTrust(keys: Array(keys(of: role).values), threshold: role.threshold, modelSigning: modelSigning)
    }
}
