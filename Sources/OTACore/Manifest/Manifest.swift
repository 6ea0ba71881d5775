/// What a bundle is and holds. Signed as exact bytes inside a DSSE envelope, so the JSON is
/// never re-serialised before verification. Decoding is strict: unknown fields, unsafe
/// paths, duplicate files and unknown schemas are errors.
public struct Manifest: Codable, Equatable, Sendable {
    /// A manifest without variants; one with variants is `variantSchemaVersion`.
    public static let schemaVersion = 1
    public static let variantSchemaVersion = 2

    public var schema: Int
    public var name: BundleName
    public var kind: BundleKind
    public var version: SemanticVersion
    public var compatible: [HardwareClass]
    public var created: Timestamp
    public var files: [FileEntry]
    public var health: HealthCheck?
    public var metadata: JSONValue?
    /// Builds of the payload for different devices, best first (`Variant`); nil: one build.
    public var variants: [Variant]?

    public struct FileEntry: Codable, Equatable, Sendable {
        public var path: PayloadPath
        public var size: UInt64
        public var sha256: SHA256Digest
        /// Content-defined chunks of a large file (absent in bundles older than chunking, and
        /// for small files): a device rebuilds the file from the ones it already holds.
        public var chunks: [Chunk]?

        public init(path: PayloadPath, size: UInt64, sha256: SHA256Digest, chunks: [Chunk]? = nil) {
            self.path = path
            self.size = size
            self.sha256 = sha256
            self.chunks = chunks
        }

        public init(from decoder: any Decoder) throws {
            try decoder.rejectUnknownKeys(allowed: ["path", "size", "sha256", "chunks"])
            let container = try decoder.container(keyedBy: CodingKeys.self)
            path = try container.decode(PayloadPath.self, forKey: .path)
            // Decoded as Int64 so that a negative size is reported against its field; at most
            // 1 PiB, so that sums of sizes and offsets in a file cannot overflow.
            let signedSize = try container.decode(Int64.self, forKey: .size, in: 0...Int64(WireRange.bytes.upperBound))
            size = UInt64(signedSize)
            sha256 = try container.decode(SHA256Digest.self, forKey: .sha256)
            chunks = try container.decodeIfPresent([Chunk].self, forKey: .chunks)
        }
    }

    /// A self-test shipped inside the bundle; devices run it only when their config allows.
    public struct HealthCheck: Codable, Equatable, Sendable {
        public var command: PayloadPath
        public var timeoutSeconds: Int

        enum CodingKeys: String, CodingKey {
            case command
            case timeoutSeconds = "timeout_s"
        }

        public init(command: PayloadPath, timeoutSeconds: Int) {
            self.command = command
            self.timeoutSeconds = timeoutSeconds
        }

        public init(from decoder: any Decoder) throws {
            try decoder.rejectUnknownKeys(allowed: ["command", "timeout_s"])
            let container = try decoder.container(keyedBy: CodingKeys.self)
            command = try container.decode(PayloadPath.self, forKey: .command)
            timeoutSeconds = try container.decode(Int.self, forKey: .timeoutSeconds)
        }
    }

    public init(name: BundleName, kind: BundleKind, version: SemanticVersion, compatible: [HardwareClass], created: Timestamp,
                files: [FileEntry], health: HealthCheck? = nil, metadata: JSONValue? = nil, variants: [Variant]? = nil) {
        self.schema = variants == nil ? Self.schemaVersion : Self.variantSchemaVersion
        self.name = name
        self.kind = kind
        self.version = version
        self.compatible = compatible
        self.created = created
        self.files = files
        self.health = health
        self.metadata = metadata
        self.variants = variants
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case schema, name, kind, version, compatible, created, files, health, metadata, variants
    }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(allowed: Set(CodingKeys.allCases.map(\.rawValue)))
        let container = try decoder.container(keyedBy: CodingKeys.self)
        schema = try container.decode(Int.self, forKey: .schema)
        guard schema == Self.schemaVersion || schema == Self.variantSchemaVersion else {
            throw DecodingError.dataCorrupted(.init(codingPath: [CodingKeys.schema],
                debugDescription: "schema \(schema) is not supported (this program reads schemas \(Self.schemaVersion) and \(Self.variantSchemaVersion))"))
        }
        name = try container.decode(BundleName.self, forKey: .name)
        kind = try container.decode(BundleKind.self, forKey: .kind)
        version = try container.decode(SemanticVersion.self, forKey: .version)
        compatible = try container.decode([HardwareClass].self, forKey: .compatible)
        created = try container.decode(Timestamp.self, forKey: .created)
        files = try container.decode([FileEntry].self, forKey: .files)
        health = try container.decodeIfPresent(HealthCheck.self, forKey: .health)
        metadata = try container.decodeIfPresent(JSONValue.self, forKey: .metadata)
        variants = try container.decodeIfPresent([Variant].self, forKey: .variants)
        if let problem = validationProblem() {
            throw DecodingError.dataCorrupted(.init(codingPath: [], debugDescription: problem))
        }
    }

    /// The rules beyond types (names, kind and times are checked by theirs): a non-empty file list without duplicates, a health
    /// command that is one of the files. Nil when the manifest is valid.
    public func validationProblem() -> String? {
        if compatible.isEmpty { return "compatible lists no hardware class" }
        if Set(compatible).count != compatible.count { return "compatible lists a hardware class twice" }
        if files.isEmpty { return "files is empty: a bundle carries at least one file" }
        var seen = Set<PayloadPath>()
        for file in files where !seen.insert(file.path).inserted { return "files lists '\(file.path)' twice" }
        var chunkCount = 0
        for file in files {
            guard let chunks = file.chunks else { continue }
            if let problem = ChunkList.problem(with: chunks, fileSize: file.size, path: file.path.value) { return problem }
            chunkCount += chunks.count
        }
        if chunkCount > ChunkList.maximumCount { return "the files list \(chunkCount) chunks in all; at most \(ChunkList.maximumCount)" }
        if (schema == Self.variantSchemaVersion) != (variants != nil) {
            return variants == nil ? "schema 2 is a manifest with variants, and this one lists none" : "a schema \(schema) manifest lists variants (that is schema 2)"
        }
        if let variants, let problem = variantProblem(variants) { return problem }
        if let health {
            if variants == nil, !seen.contains(health.command) { return "health.command '\(health.command)' is not one of the bundle's files" }
            if !(1...86_400).contains(health.timeoutSeconds) { return "health.timeout_s must be between 1 and 86400 seconds" }
        }
        if let metadata {
            guard case .object = metadata else { return "metadata must be a JSON object" }
        }
        return nil
    }

    /// Strictly decodes manifest bytes, naming the first problem.
    public static func decode(_ bytes: [UInt8]) throws -> Manifest {
        try StrictJSON.decode(Manifest.self, from: bytes, what: "manifest")
    }

    /// The canonical bytes otactl signs: sorted keys, no whitespace.
    public func encoded() throws -> [UInt8] {
        Array(try StrictJSON.encode(self))
    }

    /// The payload's size; saturates rather than traps for a manifest of absurd sizes (each
    /// is at most 1 PiB, but nothing bounds how many files a bundle someone made lists).
    public var totalSize: UInt64 { Self.totalSize(of: files) }

    /// The sum of the files' sizes, saturated rather than trapping.
    public static func totalSize(of files: [FileEntry]) -> UInt64 {
        files.reduce(0) { total, file in
            let (sum, overflow) = total.addingReportingOverflow(file.size)
            return overflow ? .max : sum
        }
    }
}
