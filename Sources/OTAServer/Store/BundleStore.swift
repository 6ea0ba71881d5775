import OTACore

/// Published bundles and the content they reference.
struct BundleStore: Sendable {
    let db: any SQLDatabase

    func missing(_ digests: [SHA256Digest]) async throws -> [SHA256Digest] {
        try await db.read { db in
            try digests.filter { digest in
                try db.value(Bool.self, "SELECT 1 FROM content WHERE digest = ?", [digest.hex]) != true
            }
        }
    }

    func contentSize(_ digest: SHA256Digest) async throws -> UInt64? {
        try await db.read { db in
            try db.value(Int64.self, "SELECT size FROM content WHERE digest = ?", [digest.hex]).map(UInt64.init)
        }
    }

    /// Records content that is complete on disk. Idempotent.
    func recordContent(_ digest: SHA256Digest, size: UInt64, by caller: AdminIdentity) async throws -> Bool {
        try await db.write { db in
            let created = try db.execute("INSERT INTO content (digest, size, created_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                                         [digest.hex, Int64(size), Timestamp.now()]) > 0
            if created { try AuditLog.record(db, by: caller, action: "content.upload", target: digest.hex, detail: "\(size) bytes") }
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
            if let existing = try db.row("SELECT * FROM bundles WHERE name = ? AND version_key = ?",
                                               [manifest.name, versionKey]) {
                guard existing.string("digest") == digest else {
                    throw RegistryError.conflict("\(manifest.name) \(existing.string("version")) is already published with other content (digest \(existing.string("digest").prefix(12))); publish a new version")
                }
                return (try Self.bundle(db, row: existing, withFiles: true), false)
            }
            var missing: [String] = []
            for file in manifest.files {
                if let problem = try Self.storageProblem(db, file) { missing.append(problem) }
            }
            guard missing.isEmpty else {
                throw RegistryError.invalid("upload the content first; missing: \(missing.prefix(10).joined(separator: ", "))", code: "content_missing")
            }
            let id = try db.value(Int64.self, """
                INSERT INTO bundles (name, version, version_key, kind, digest, envelope, compatible, size, signers, created, metadata,
                                     health, published_at, published_by)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id
                """, [manifest.name, manifest.version.description, versionKey, manifest.kind, digest, Data(envelope),
                                 JSONColumn.encode(manifest.compatible), Int64(manifest.totalSize), JSONColumn.encode(verified.signers),
                                 manifest.created, manifest.metadata.map(JSONColumn.encode), manifest.health.map(JSONColumn.encode),
                                 Timestamp.now(), caller.actor])!
            for file in manifest.files {
                try db.execute("INSERT INTO bundle_files (bundle_id, path, digest, size) VALUES (?, ?, ?, ?)",
                               [id, file.path.value, file.sha256.hex, Int64(file.size)])
                if let chunks = file.chunks { try Self.recordChunks(db, of: file.sha256, chunks) }
            }
            try AuditLog.record(db, by: caller, action: "bundle.publish", target: "\(manifest.name) \(manifest.version)", detail: "digest \(digest)")
            let row = try db.row("SELECT * FROM bundles WHERE id = ?", [id])!
            return (try Self.bundle(db, row: row, withFiles: true), true)
        }
    }

    /// Nil when `file` is stored whole with its size, or as all of its chunks with theirs;
    /// otherwise what is missing. A wrong size is an error (the manifest cannot match).
    private static func storageProblem(_ db: any SQLTransaction, _ file: Manifest.FileEntry) throws -> String? {
        func storedSize(_ digest: SHA256Digest) throws -> UInt64? {
            try db.value(Int64.self, "SELECT size FROM content WHERE digest = ?", [digest.hex]).map(UInt64.init)
        }
        if let size = try storedSize(file.sha256) {
            guard size == file.size else {
                throw RegistryError.invalid("stored content \(file.sha256.short) has \(size) bytes but the manifest says \(file.size) for \(file.path)")
            }
            return nil
        }
        guard let chunks = file.chunks else { return file.path.value }
        var absent = 0
        for chunk in chunks {
            guard let size = try storedSize(chunk.sha256) else { absent += 1; continue }
            guard size == chunk.length else {
                throw RegistryError.invalid("stored chunk \(chunk.sha256.short) has \(size) bytes but \(file.path) lists it with \(chunk.length)")
            }
        }
        return absent == 0 ? nil : "\(file.path) (\(absent) of \(chunks.count) chunks)"
    }

    /// A file's chunk list, kept once per file digest (identical in every manifest that lists it
    /// with chunks, since the chunker is deterministic; the first one recorded is kept).
    private static func recordChunks(_ db: any SQLTransaction, of file: SHA256Digest, _ chunks: [Chunk]) throws {
        guard try db.value(Bool.self, "SELECT 1 FROM file_chunks WHERE file_digest = ? LIMIT 1", [file.hex]) != true else { return }
        for (position, chunk) in chunks.enumerated() {
            try db.execute("INSERT INTO file_chunks (file_digest, position, \"offset\", length, chunk_digest) VALUES (?, ?, ?, ?, ?)",
                           [file.hex, position, Int64(chunk.offset), Int64(chunk.length), chunk.sha256.hex])
        }
    }

    /// The chunks a file was published as, in order; nil when it was never published chunked.
    func chunks(of file: SHA256Digest) async throws -> [Chunk]? {
        try await db.read { db in
            let rows = try db.rows("SELECT \"offset\", length, chunk_digest FROM file_chunks WHERE file_digest = ? ORDER BY position",
                                        [file.hex])
            guard !rows.isEmpty else { return nil }
            return try rows.map { row in
                guard let digest = SHA256Digest(hex: row["chunk_digest"]) else { throw RegistryError.corrupt("a stored chunk digest is malformed") }
                return Chunk(offset: UInt64(row["offset"] as Int64), length: UInt64(row["length"] as Int64), sha256: digest)
            }
        }
    }

    static func versionKey(_ version: SemanticVersion) -> String {
        String(version.description.split(separator: "+", maxSplits: 1)[0])
    }

    func list(name: String?) async throws -> [AdminAPI.Bundle] {
        try await db.read { db in
            let rows = try db.rows(name == nil ? "SELECT * FROM bundles ORDER BY name, id DESC"
                                                             : "SELECT * FROM bundles WHERE name = ? ORDER BY id DESC",
                                        name.map { [$0] } ?? [])
            return try rows.map { try Self.bundle(db, row: $0, withFiles: false) }
        }
    }

    func find(name: String, version: String) async throws -> (id: Int64, bundle: AdminAPI.Bundle)? {
        guard let semver = try? SemanticVersion(version) else { return nil }
        return try await db.read { db in
            guard let row = try db.row("SELECT * FROM bundles WHERE name = ? AND version_key = ?",
                                             [name, Self.versionKey(semver)]) else { return nil }
            return (row.int64("id"), try Self.bundle(db, row: row, withFiles: true))
        }
    }

    func find(id: Int64) async throws -> (id: Int64, bundle: AdminAPI.Bundle)? {
        try await db.read { db in
            guard let row = try db.row("SELECT * FROM bundles WHERE id = ?", [id]) else { return nil }
            return (id, try Self.bundle(db, row: row, withFiles: true))
        }
    }

    /// The envelope's bytes as published.
    func envelopeBytes(id: Int64) async throws -> [UInt8]? {
        try await db.read { db in try db.value(Data.self, "SELECT envelope FROM bundles WHERE id = ?", [id]) }.map { Array($0) }
    }

    /// The signed envelope as published, byte for byte.
    func envelope(id: Int64) async throws -> Envelope? {
        let bytes = try await db.read { db in try db.value(Data.self, "SELECT envelope FROM bundles WHERE id = ?", [id]) }
        return try bytes.map { try Envelope.decode(Array($0)) }
    }

    static func bundle(_ db: any SQLTransaction, row: SQLRow, withFiles: Bool) throws -> AdminAPI.Bundle {
        var files: [AdminAPI.BundleFile]?
        if withFiles {
            files = try db.rows("SELECT path, digest, size FROM bundle_files WHERE bundle_id = ? ORDER BY path",
                                     [row.int64("id")]).map {
                AdminAPI.BundleFile(path: $0.string("path"), size: UInt64($0.int64("size")), sha256: $0.string("digest"))
            }
        }
        let metadata: String? = row["metadata"]
        let health: String? = row["health"]
        return AdminAPI.Bundle(
            name: row.string("name"), version: row.string("version"), kind: row.string("kind"), digest: row.string("digest"),
            compatible: row.json("compatible", as: [String].self), size: UInt64(row.int64("size")),
            signers: row.json("signers", as: [String].self), created: row.string("created"), publishedAt: row.string("published_at"),
            metadata: metadata.flatMap { try? JSONDecoder().decode(JSONValue.self, from: Data($0.utf8)) },
            files: files, health: health.flatMap { try? JSONDecoder().decode(Manifest.HealthCheck.self, from: Data($0.utf8)) })
    }
}
