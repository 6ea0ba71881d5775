import ArgumentParser
import OTACore

/// A TUF metadata file as an operator edits it: the envelope and its decoded payload. Nothing
/// in it is trusted; `otactl` only writes, signs and describes it.
struct MetadataFile<T: TUFSigned> {
    var envelope: Envelope
    var signed: T

    init(_ signed: T) throws {
        self.signed = signed
        envelope = try MetadataEnvelope.wrap(signed)
    }

    init(bytes: [UInt8], source: String) throws {
        do {
            envelope = try StrictJSON.decode(Envelope.self, from: bytes, what: source)
            guard envelope.payloadType == MetadataEnvelope.payloadType else {
                throw Failure("\(source) is not TUF metadata (payloadType '\(envelope.payloadType.prefix(60))')")
            }
            signed = try StrictJSON.decode(T.self, from: envelope.payload, what: source)
        } catch let failure as Failure { throw failure } catch { throw Failure(String(describing: error)) }
    }

    static func read(_ path: String) throws -> MetadataFile<T> {
        let bytes = try Failure.wrap("cannot read \(path)") { try FileSystem.readFile(path, limit: MetadataEnvelope.maximumSize) }
        return try MetadataFile(bytes: bytes, source: path)
    }

    var bytes: [UInt8] { get throws { try envelope.encoded() } }

    mutating func sign(with keys: [Ed25519PrivateKey]) throws {
        for key in keys { try envelope.signTUF(with: key) }
    }

    func write(to path: String) throws {
        try Failure.wrap("cannot write \(path)") {
            try FileSystem.createDirectory(FileSystem.parent(of: path))
            try FileSystem.writeAtomically(try bytes + [0x0a], to: path)
        }
    }

    /// The key ids of `role` in `root` with a valid signature on this file.
    func validSigners(of role: TUFRole, in root: RootMetadata) -> [String] {
        let message = envelope.pae
        return root.keys(of: role).compactMap { keyid, key in
            envelope.signatures.contains { $0.keyid == keyid && key.isValidSignature($0.sig, for: message) } ? keyid : nil
        }.sorted()
    }
}

/// Private keys given with `--key` / `--sign`.
func loadSigningKeys(_ paths: [String]) throws -> [Ed25519PrivateKey] {
    try paths.map { path in try Failure.wrap("cannot load the private key \(path)") { try KeyFiles.loadPrivateKey(path) } }
}

func loadPublicKeys(_ paths: [String]) throws -> [Ed25519PublicKey] {
    try paths.map { path in try Failure.wrap("cannot load the public key \(path)") { try KeyFiles.loadPublicKey(path) } }
}

/// A metadata lifetime such as 30d, written as TUF's expiry time from now.
struct Lifetime: ExpressibleByArgument {
    let seconds: Int
    init?(argument: String) {
        guard let seconds = DurationText.seconds(argument), seconds > 0 else { return nil }
        self.seconds = seconds
    }
    init(seconds: Int) { self.seconds = seconds }
    var expires: String { Timestamp.format(secondsSinceEpoch: Timestamp.epochSeconds() + Int64(seconds)) }
    static var defaultValueDescription: String { "a duration like 30d, 12h or 90m" }
}

/// A role as operators name it. `online` is the server's key: snapshot, timestamp and check-in answers.
enum RoleArgument: String, ExpressibleByArgument, CaseIterable {
    case root, release, online, snapshot, timestamp, checkin

    var roles: [String] {
        switch self {
        case .root: return ["root"]
        case .release: return ["targets"]
        case .online: return ["snapshot", "timestamp", RootMetadata.checkinField]
        case .snapshot: return ["snapshot"]
        case .timestamp: return ["timestamp"]
        case .checkin: return [RootMetadata.checkinField]
        }
    }
}

/// `ROLE=VALUE`, as in `--add release=keys/new.pub` or `--threshold root=2`.
struct RoleAssignment: ExpressibleByArgument {
    let role: RoleArgument
    let value: String
    init?(argument: String) {
        guard let equals = argument.firstIndex(of: "="), let role = RoleArgument(rawValue: String(argument[..<equals])) else { return nil }
        self.role = role
        self.value = String(argument[argument.index(after: equals)...])
        guard !value.isEmpty else { return nil }
    }
    static var defaultValueDescription: String { "ROLE=VALUE, ROLE one of \(RoleArgument.allCases.map(\.rawValue).joined(separator: ", "))" }
}

extension RootMetadata {
    /// Reads and writes a role by the names `RoleArgument` maps to (including `x-ota-checkin`).
    subscript(roleNamed name: String) -> TUFRole? {
        get { name == Self.checkinField ? checkin : roles[name] }
        set { if name == Self.checkinField { checkin = newValue } else { roles[name] = newValue } }
    }

    /// Every role with its name, in a stable order, for display.
    var namedRoles: [(String, TUFRole)] {
        TUFRoleName.allCases.compactMap { name in roles[name.rawValue].map { (name.rawValue, $0) } } + (checkin.map { [(Self.checkinField, $0)] } ?? [])
    }
}
