#if canImport(Glibc)
import Glibc
#endif

/// Builds bundle files: `create` from a folder, `cosign` to add a signature. Both write a
/// temporary file beside the output, fsync it and rename it into place, so the output path
/// holds either nothing new or a complete bundle.
public enum BundleWriter {
    public struct Options: Sendable {
        public var name: BundleName
        public var version: SemanticVersion
        public var kind: BundleKind
        public var compatible: [HardwareClass]
        public var metadata: JSONValue?
        public var healthCommand: String?
        public var healthTimeoutSeconds: Int
        public var created: Timestamp
        /// Lists the content-defined chunks of files above `ChunkingParameters.chunkedFileThreshold`,
        /// so that devices fetch only the chunks they do not hold.
        public var chunked: Bool
        /// Builds of the payload, best first: each in the payload's folder of its name.
        public var variants: [Manifest.Variant]?

        public init(name: BundleName, version: SemanticVersion, kind: BundleKind, compatible: [HardwareClass], metadata: JSONValue? = nil,
                    healthCommand: String? = nil, healthTimeoutSeconds: Int = 60, created: Timestamp = SystemClock().now, chunked: Bool = true,
                    variants: [Manifest.Variant]? = nil) {
            self.name = name
            self.version = version
            self.kind = kind
            self.compatible = compatible
            self.metadata = metadata
            self.healthCommand = healthCommand
            self.healthTimeoutSeconds = healthTimeoutSeconds
            self.created = created
            self.chunked = chunked
            self.variants = variants
        }
    }

    /// Hashes every regular file under `folder`, signs a manifest listing them, and writes
    /// the bundle to `output`.
    @discardableResult
    public static func create(from folder: String, options: Options, key: Ed25519PrivateKey, output: String,
                              progress: ((UInt64, UInt64) -> Void)? = nil) throws -> (envelope: Envelope, manifest: Manifest) {
        let paths = try payloadFiles(in: folder)
        guard !paths.isEmpty else { throw BundleError.emptySource(folder) }
        var files: [Manifest.FileEntry] = []
        for path in paths {
            let source = folder + "/" + path.value
            let size = FileSystem.fileSize(source) ?? 0
            // Chunks are cut on a second core while this one hashes the whole file.
            let chunking = ChunkingResult()
            let chunker = options.chunked && size > ChunkingParameters.chunkedFileThreshold
                ? BackgroundThread { chunking.chunks = Result { try ContentDefinedChunker().chunks(ofFile: source) } } : nil
            let digest = Result { try SHA256Digest.ofFile(at: source) }
            chunker?.join()
            do {
                files.append(.init(path: path, size: size, sha256: try digest.get(), chunks: chunker == nil ? nil : try chunking.chunks.get()))
            } catch { throw BundleError.io(String(describing: error)) }
        }
        var health: Manifest.HealthCheck?
        if let command = options.healthCommand {
            let path: PayloadPath
            do { path = try PayloadPath(command) } catch { throw BundleError.invalidManifest("health command: \(error)") }
            health = .init(command: path, timeoutSeconds: options.healthTimeoutSeconds)
        }
        var manifest = Manifest(name: options.name, kind: options.kind, version: options.version, compatible: options.compatible,
                                created: options.created, files: files, health: health, metadata: options.metadata,
                                variants: options.variants)
        let tooManyChunks = try manifest.files.contains { $0.chunks != nil }
            && (manifest.validationProblem() != nil || Envelope.signing(manifest, with: key).encoded().count > Envelope.maximumSize)
        if tooManyChunks {
            // Too many chunks for one envelope (a model of more than about 1.5 GB): the files
            // are listed whole, as before chunking; the caller sees the chunks are gone.
            manifest.files = manifest.files.map { .init(path: $0.path, size: $0.size, sha256: $0.sha256) }
        }
        if let problem = manifest.validationProblem() { throw BundleError.invalidManifest(problem) }
        let envelope = try Envelope.signing(manifest, with: key)
        guard try envelope.encoded().count <= Envelope.maximumSize else {
            throw BundleError.invalidManifest("the signed envelope would be larger than \(Envelope.maximumSize) bytes (too many files or too much metadata)")
        }
        let sources = files.map { (entry: $0, source: PayloadSource.file(folder + "/" + $0.path.value)) }
        try write(envelope: envelope, manifest: manifest, payload: sources, to: output, progress: progress)
        return (envelope, manifest)
    }

    /// Adds `key`'s signature to the bundle at `path` (replacing an older one by the same
    /// key). The manifest and payload stay byte-for-byte the same; the payload is checked
    /// against the manifest first, so nobody co-signs a corrupted bundle.
    @discardableResult
    public static func cosign(_ path: String, key: Ed25519PrivateKey) throws -> Envelope {
        let archive = try BundleArchive.open(path)
        let manifest = try archive.unverifiedManifest()
        try archive.checkPayload(against: manifest)
        var envelope = archive.envelope
        try envelope.sign(with: key)
        let byPath = Dictionary(uniqueKeysWithValues: archive.entries.map { ($0.path, $0) })
        let sources = manifest.files.map { (entry: $0, source: PayloadSource.archive(path, offset: byPath[$0.path]!.offset)) }
        try write(envelope: envelope, manifest: manifest, payload: sources, to: path, progress: nil)
        return envelope
    }

    private final class ChunkingResult: @unchecked Sendable {
        var chunks: Result<[Chunk], any Error> = .success([])
    }

    enum PayloadSource {
        case file(String)
        case archive(String, offset: UInt64)
    }

    static func write(envelope: Envelope, manifest: Manifest, payload: [(entry: Manifest.FileEntry, source: PayloadSource)],
                      to output: String, progress: ((UInt64, UInt64) -> Void)?) throws {
        let temporary = FileSystem.temporaryPath(beside: output)
        let mtime = UInt64(max(0, manifest.created.secondsSinceEpoch))
        do {
            let out = try File.open(temporary, .createNew(permissions: 0o644))
            let envelopeBytes = try envelope.encoded()
            try out.write(TarFormat.headerBlocks(path: BundleArchive.envelopeEntry, size: UInt64(envelopeBytes.count), modificationTime: mtime))
            try out.write(envelopeBytes)
            try out.write([UInt8](repeating: 0, count: TarFormat.padding(after: UInt64(envelopeBytes.count))))
            let total = manifest.totalSize
            var done: UInt64 = 0
            for (entry, source) in payload {
                let executable = manifest.isHealthCommand(entry.path)
                try out.write(TarFormat.headerBlocks(path: BundleArchive.payloadPrefix + entry.path.value, size: entry.size,
                                                     mode: executable ? 0o755 : 0o644, modificationTime: mtime))
                let input: File
                let offset: UInt64
                switch source {
                case .file(let path): input = try File.open(path, .readOnly); offset = 0
                case .archive(let path, let start): input = try File.open(path, .readOnly); offset = start
                }
                let hasher = SHA256Hasher()
                var copied: UInt64 = 0
                try BundleArchive.readRange(of: input, offset: offset, length: entry.size) { chunk in
                    hasher.update(chunk)
                    try out.write(chunk)
                    copied += UInt64(chunk.count)
                    done += UInt64(chunk.count)
                    progress?(done, total)
                }
                // A source that grew, shrank or changed since it was hashed must not be shipped.
                var sizeChanged = false
                if case .file = source { sizeChanged = try input.size() != entry.size }
                guard hasher.finalize() == entry.sha256, copied == entry.size, !sizeChanged else {
                    throw BundleError.sourceChanged(entry.path.value)
                }
                try out.write([UInt8](repeating: 0, count: TarFormat.padding(after: entry.size)))
            }
            try out.write(TarFormat.endOfArchive)
            try out.sync()
            out.close()
            try FileSystem.rename(temporary, to: output)
            try FileSystem.syncDirectory(containing: output)
        } catch {
            _ = unlink(temporary)
            if let error = error as? BundleError { throw error }
            if let error = error as? TarError { throw BundleError.tar(error) }
            throw BundleError.io(String(describing: error))
        }
    }

    /// Every regular file under `folder`, as payload paths, sorted. Links, devices and other
    /// special files are refused: a bundle must carry exactly what the manifest says.
    public static func payloadFiles(in folder: String) throws -> [PayloadPath] {
        guard FileSystem.kind(of: folder) == .directory else { throw BundleError.io("'\(folder)' is not a folder") }
        var found: [PayloadPath] = []
        func walk(_ relative: String) throws {
            let absolute = relative.isEmpty ? folder : folder + "/" + relative
            let names: [String]
            do { names = try FileSystem.list(absolute) } catch { throw BundleError.io(String(describing: error)) }
            for name in names {
                let child = relative.isEmpty ? name : relative + "/" + name
                switch FileSystem.kind(of: folder + "/" + child) {
                case .directory: try walk(child)
                case .regular:
                    do { found.append(try PayloadPath(child)) } catch { throw BundleError.invalidManifest(error.description) }
                case .symlink: throw BundleError.notRegularFile(path: child, kind: "symbolic link")
                case .other: throw BundleError.notRegularFile(path: child, kind: "special file (device, FIFO or socket)")
                case .missing: throw BundleError.sourceChanged(child)
                }
            }
        }
        try walk("")
        return found.sorted()
    }
}
