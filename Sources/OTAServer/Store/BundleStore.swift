import OTACore

/// Published bundles and the content they reference.
struct BundleStore: Sendable {
    let db: any SQLDatabase

    func missing(_ digests: [SHA256Digest]) async throws -> [SHA256Digest] {
        try await db.read { db in
            var missing: [SHA256Digest] = []
            for digest in digests where try await db.value(Bool.self, "SELECT 1 FROM content WHERE digest = \(digest)") != true {
                missing.append(digest)
            }
            return missing
        }
    }

    func contentSize(_ digest: SHA256Digest) async throws -> UInt64? {
        try await db.read { db in
            try await db.value(UInt64.self, "SELECT size FROM content WHERE digest = \(digest)")
        }
    }

    /// Records content that is complete on disk. Idempotent.
    func recordContent(_ digest: SHA256Digest, size: UInt64, by caller: AdminIdentity) async throws -> Bool {
        try await db.write { db in
            let created = try await db.execute("INSERT INTO content (digest, size, created_at) VALUES (\(digest), \(Int64(size)), \(SystemClock().now)) ON CONFLICT DO NOTHING") > 0
            if created { try await AuditLog.record(db, by: caller, action: .contentUpload, target: digest.hex, detail: "\(size) bytes") }
            return created
        }
    }

    /// Publishes a verified bundle. Every file must already be stored with its exact size.
    /// The same name and version with other content is a conflict; the identical bundle
    /// again is a no-op, so publishing can be retried after an interruption.
    func publish(_ verified: VerifiedManifest, envelope: [UInt8], by caller: AdminIdentity) async throws -> (AdminAPI.Bundle, Bool) {
        let manifest = verified.manifest
        let digest = verified.digest.hex
        let versionKey = Self.versionKey(manifest.version)
        return try await db.write { db in
            if let existing = try await db.row("SELECT * FROM bundles WHERE name = \(manifest.name) AND version_key = \(versionKey)") {
                guard try existing.string("digest") == digest else {
                    throw RegistryError.conflict("\(manifest.name) \(try existing.string("version")) is already published with other content (digest \(try existing.string("digest").prefix(12))); publish a new version")
                }
                return (try await Self.bundle(db, row: existing, withFiles: true), false)
            }
            var missing: [String] = []
            for file in manifest.files {
                if let problem = try await Self.storageProblem(db, file) { missing.append(problem) }
            }
            guard missing.isEmpty else {
                throw RegistryError.invalid("upload the content first; missing: \(missing.prefix(10).joined(separator: ", "))", code: .contentMissing)
            }
            let id = try await db.value(Int64.self, """
                INSERT INTO bundles (name, version, version_key, kind, digest, envelope, compatible, size, signers, created, metadata,
                                     health, published_at, published_by, variants)
                VALUES (\(manifest.name), \(manifest.version), \(versionKey), \(manifest.kind), \(digest), \(Data(envelope)), \(JSONColumn.encode(manifest.compatible)), \(Int64(manifest.totalSize)), \(JSONColumn.encode(verified.signers)), \(manifest.created), \(manifest.metadata.map(JSONColumn.encode)), \(manifest.health.map(JSONColumn.encode)), \(SystemClock().now), \(caller.actor), \(AdminAPI.BundleVariant.of(manifest).map(StoredVariants.encode))) RETURNING id
                """)!
            for file in manifest.files {
                try await db.execute("INSERT INTO bundle_files (bundle_id, path, digest, size) VALUES (\(id), \(file.path.value), \(file.sha256), \(Int64(file.size)))")
                if let chunks = file.chunks { try await Self.recordChunks(db, of: file.sha256, chunks) }
            }
            try await AuditLog.record(db, by: caller, action: .bundlePublish, target: "\(manifest.name) \(manifest.version)", detail: "digest \(digest)")
            let row = try await db.row("SELECT * FROM bundles WHERE id = \(id)")!
            return (try await Self.bundle(db, row: row, withFiles: true), true)
        }
    }

    /// Nil when `file` is stored whole with its size, or as all of its chunks with theirs;
    /// otherwise what is missing. A wrong size is an error (the manifest cannot match).
    private static func storageProblem(_ db: any SQLTransaction, _ file: Manifest.FileEntry) async throws -> String? {
        func storedSize(_ digest: SHA256Digest) async throws -> UInt64? {
            try await db.value(UInt64.self, "SELECT size FROM content WHERE digest = \(digest)")
        }
        if let size = try await storedSize(file.sha256) {
            guard size == file.size else {
                throw RegistryError.invalid("stored content \(file.sha256.short) has \(size) bytes but the manifest says \(file.size) for \(file.path)")
            }
            return nil
        }
        guard let chunks = file.chunks else { return file.path.value }
        var absent = 0
        for chunk in chunks {
            guard let size = try await storedSize(chunk.sha256) else { absent += 1; continue }
            guard size == chunk.length else {
                throw RegistryError.invalid("stored chunk \(chunk.sha256.short) has \(size) bytes but \(file.path) lists it with \(chunk.length)")
            }
        }
        return absent == 0 ? nil : "\(file.path) (\(absent) of \(chunks.count) chunks)"
    }

    /// A file's chunk list, kept once per file digest (identical in every manifest that lists it
    /// with chunks, since the chunker is deterministic; the first one recorded is kept).
    private static func recordChunks(_ db: any SQLTransaction, of file: SHA256Digest, _ chunks: [Chunk]) async throws {
        guard try await db.value(Bool.self, "SELECT 1 FROM file_chunks WHERE file_digest = \(file) LIMIT 1") != true else { return }
        for (position, chunk) in chunks.enumerated() {
            try await db.execute("INSERT INTO file_chunks (file_digest, position, \"offset\", length, chunk_digest) VALUES (\(file), \(position), \(Int64(chunk.offset)), \(Int64(chunk.length)), \(chunk.sha256))")
        }
    }

    /// The chunks a file was published as, in order; nil when it was never published chunked.
    func chunks(of file: SHA256Digest) async throws -> [Chunk]? {
        try await db.read { db in
            let rows = try await db.rows("SELECT \"offset\", length, chunk_digest FROM file_chunks WHERE file_digest = \(file) ORDER BY position")
            guard !rows.isEmpty else { return nil }
            return try rows.map { row in
                Chunk(offset: try row["offset"] as UInt64, length: try row["length"] as UInt64, sha256: try row["chunk_digest"])
            }
        }
    }

    static func versionKey(_ version: SemanticVersion) -> String {
        String(version.description.split(separator: "+", maxSplits: 1)[0])
    }

    func list(name: BundleName?) async throws -> [AdminAPI.Bundle] {
        try await db.read { db in
            let query: SQLQuery = name.map { "SELECT * FROM bundles WHERE name = \($0) ORDER BY id DESC" } ?? "SELECT * FROM bundles ORDER BY name, id DESC"
            var bundles: [AdminAPI.Bundle] = []
            for row in try await db.rows(query) { bundles.append(try await Self.bundle(db, row: row, withFiles: false)) }
            return bundles
        }
    }

    func find(name: BundleName, version: SemanticVersion) async throws -> (id: Int64, bundle: AdminAPI.Bundle)? {
        try await db.read { db in
            guard let row = try await db.row("SELECT * FROM bundles WHERE name = \(name) AND version_key = \(Self.versionKey(version))") else { return nil }
            return (try row.int64("id"), try await Self.bundle(db, row: row, withFiles: true))
        }
    }

    func find(id: Int64) async throws -> (id: Int64, bundle: AdminAPI.Bundle)? {
        try await db.read { db in
            guard let row = try await db.row("SELECT * FROM bundles WHERE id = \(id)") else { return nil }
            return (id, try await Self.bundle(db, row: row, withFiles: true))
        }
    }

    /// The envelope's bytes as published.
    func envelopeBytes(id: Int64) async throws -> [UInt8]? {
        try await db.read { db in try await db.value(Data.self, "SELECT envelope FROM bundles WHERE id = \(id)") }.map { Array($0) }
    }

    /// The signed envelope as published, byte for byte.
    func envelope(id: Int64) async throws -> Envelope? {
        let bytes = try await db.read { db in try await db.value(Data.self, "SELECT envelope FROM bundles WHERE id = \(id)") }
        return try bytes.map { try Envelope.decode(Array($0)) }
    }

    static func bundle(_ db: any SQLTransaction, row: SQLRow, withFiles: Bool) async throws -> AdminAPI.Bundle {
        var files: [AdminAPI.BundleFile]?
        if withFiles {
            files = try await db.rows("SELECT path, digest, size FROM bundle_files WHERE bundle_id = \(row.int64("id")) ORDER BY path").map {
                AdminAPI.BundleFile(path: try $0.string("path"), size: try $0["size"] as UInt64, sha256: try $0["digest"])
            }
        }
        let metadata: String? = try row["metadata"]
        let health: String? = try row["health"]
        let variants: String? = try row["variants"]
        return AdminAPI.Bundle(
            name: try row["name"], version: try row["version"], kind: try row["kind"], digest: try row["digest"],
            compatible: try row.json("compatible", as: [HardwareClass].self), size: try row["size"] as UInt64,
            signers: try row.json("signers", as: [String].self), created: try row["created"], publishedAt: try row["published_at"],
            metadata: try metadata.map { try JSONColumn.decode(JSONValue.self, from: $0) },
            files: files, health: try health.map { try JSONColumn.decode(Manifest.HealthCheck.self, from: $0) },
            variants: try variants.map(StoredVariants.decode))
    }
}
