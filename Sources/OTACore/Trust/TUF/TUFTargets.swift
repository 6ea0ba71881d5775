/// Length and hashes of a file, as snapshot, timestamp and targets metadata describe one.
public struct TUFFileInfo: Codable, Equatable, Sendable {
    public var length: Int?
    public var hashes: TUFHashes?

    public init(length: Int?, hashes: TUFHashes?) {
        self.length = length
        self.hashes = hashes
    }

    func check(_ what: String) throws {
        if let length, !(0...Int(WireRange.bytes.upperBound)).contains(length) { throw JSONInputError("\(what): length must be from 0 to 2^50") }
        if let hashes, hashes.isEmpty { throw JSONInputError("\(what): hashes must not be empty") }
    }

    /// Checks `bytes` against the length and every hash listed. A hash of an algorithm not
    /// supported here (`MetadataHash`) cannot be checked, so it fails.
    public func problem(with bytes: [UInt8]) -> String? {
        if let length, bytes.count != length { return "length \(bytes.count) instead of \(length)" }
        for (algorithm, value) in (hashes ?? [:]).sorted(by: { $0.key < $1.key }) {
            guard let actual = MetadataHash.hex(algorithm, of: bytes) else { return "hash algorithm '\(algorithm.prefix(20))' is not supported" }
            guard actual == value.lowercased() else { return "\(algorithm) does not match" }
        }
        return nil
    }
}

/// A version of one metadata file, in snapshot and timestamp.
public struct TUFMetaFile: Codable, Equatable, Sendable {
    public var version: Int
    public var length: Int?
    public var hashes: TUFHashes?

    public init(version: Int, length: Int? = nil, hashes: TUFHashes? = nil) {
        self.version = version
        self.length = length
        self.hashes = hashes
    }

    var info: TUFFileInfo { TUFFileInfo(length: length, hashes: hashes) }

    func check(_ name: String) throws {
        guard version > 0, version <= WireRange.version.upperBound else { throw JSONInputError("\(name): version must be from 1 to 2^40") }
        try info.check(name)
    }
}

/// A released file: its length and hashes. For a bundle, the file is its signed manifest,
/// so the SHA-256 is the bundle's digest.
public struct TUFTargetFile: Codable, Equatable, Sendable {
    public var length: Int
    public var hashes: TUFHashes
    public var custom: JSONValue?

    public init(length: Int, hashes: TUFHashes, custom: JSONValue? = nil) {
        self.length = length
        self.hashes = hashes
        self.custom = custom
    }
}

/// Targets metadata, signed offline by the release keys: what may run.
public struct TargetsMetadata: TUFSigned, Equatable {
    public static let role = TUFRoleName.targets
    public var type = "targets"
    public var specVersion = TUFCommon.specVersion
    public var version: Int
    public var expires: String
    public var targets: [String: TUFTargetFile]

    enum CodingKeys: String, CodingKey { case type = "_type", specVersion = "spec_version", version, expires, targets }

    public init(version: Int, expires: String, targets: [String: TUFTargetFile]) {
        self.version = version
        self.expires = expires
        self.targets = targets
    }

    public init(from decoder: any Decoder) throws {
        let header = try TUFHeader(from: decoder, expected: .targets)
        (type, specVersion, version, expires) = (header.type, header.specVersion, header.version, header.expires)
        targets = try decoder.container(keyedBy: CodingKeys.self).decode([String: TUFTargetFile].self, forKey: .targets)
        for (path, file) in targets { try TUFFileInfo(length: file.length, hashes: file.hashes).check("target \(path.prefix(80))") }
    }
}

/// Snapshot metadata, signed online by the server: the version of every targets file.
public struct SnapshotMetadata: TUFSigned, Equatable {
    public static let role = TUFRoleName.snapshot
    public var type = "snapshot"
    public var specVersion = TUFCommon.specVersion
    public var version: Int
    public var expires: String
    public var meta: [String: TUFMetaFile]

    enum CodingKeys: String, CodingKey { case type = "_type", specVersion = "spec_version", version, expires, meta }

    public init(version: Int, expires: String, meta: [String: TUFMetaFile]) {
        self.version = version
        self.expires = expires
        self.meta = meta
    }

    public init(from decoder: any Decoder) throws {
        let header = try TUFHeader(from: decoder, expected: .snapshot)
        (type, specVersion, version, expires) = (header.type, header.specVersion, header.version, header.expires)
        meta = try decoder.container(keyedBy: CodingKeys.self).decode([String: TUFMetaFile].self, forKey: .meta)
        for (name, file) in meta { try file.check(name) }
    }
}

/// Timestamp metadata, signed online and renewed often: the freshness of everything else.
public struct TimestampMetadata: TUFSigned, Equatable {
    public static let role = TUFRoleName.timestamp
    public var type = "timestamp"
    public var specVersion = TUFCommon.specVersion
    public var version: Int
    public var expires: String
    public var meta: [String: TUFMetaFile]

    enum CodingKeys: String, CodingKey { case type = "_type", specVersion = "spec_version", version, expires, meta }

    public init(version: Int, expires: String, snapshot: TUFMetaFile) {
        self.version = version
        self.expires = expires
        self.meta = ["snapshot.json": snapshot]
    }

    public init(from decoder: any Decoder) throws {
        let header = try TUFHeader(from: decoder, expected: .timestamp)
        (type, specVersion, version, expires) = (header.type, header.specVersion, header.version, header.expires)
        meta = try decoder.container(keyedBy: CodingKeys.self).decode([String: TUFMetaFile].self, forKey: .meta)
        guard let snapshot = meta["snapshot.json"] else { throw JSONInputError("timestamp meta lists no snapshot.json") }
        try snapshot.check("snapshot.json")
    }

    public var snapshot: TUFMetaFile { meta["snapshot.json"]! }
}
