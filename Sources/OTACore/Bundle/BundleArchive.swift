#if canImport(Glibc)
import Glibc
#endif

/// A bundle file (`NAME-VERSION.otab`): a strict tar whose first entry is the DSSE envelope
/// `bundle.dsse.json` and whose other entries are the payload under `files/`.
///
/// `open` reads only headers and the envelope; `verify` checks signatures against a trust
/// root and then every payload byte against the signed manifest, in constant memory.
public struct BundleArchive: Sendable {
    public static let envelopeEntry = "bundle.dsse.json"
    public static let payloadPrefix = "files/"

    /// A payload file's place in the archive.
    public struct Entry: Equatable, Sendable {
        public let path: PayloadPath
        public let size: UInt64
        public let offset: UInt64
    }

    public let path: String
    public let envelope: Envelope
    public let entries: [Entry]

    /// Reads and checks the archive's structure. Nothing is trusted yet.
    public static func open(_ path: String) throws -> BundleArchive {
        let input: FileTarInput
        do { input = try FileTarInput(path: path) } catch { throw BundleError.io(String(describing: error)) }
        var reader = TarReader(input)
        do {
            guard let first = try reader.next() else { throw BundleError.notABundle("the archive is empty") }
            guard first.path == envelopeEntry else {
                throw BundleError.notABundle("the first entry is '\(first.path)', expected '\(envelopeEntry)'")
            }
            guard first.size <= UInt64(Envelope.maximumSize) else {
                throw BundleError.envelope("envelope: larger than \(Envelope.maximumSize) bytes")
            }
            var bytes = [UInt8](repeating: 0, count: Int(first.size))
            var filled = 0
            while filled < bytes.count {
                filled += try bytes.withUnsafeMutableBytes { buffer throws(TarError) in
                    try reader.readData(into: UnsafeMutableRawBufferPointer(rebasing: buffer[filled...]))
                }
            }
            let envelope: Envelope
            do { envelope = try Envelope.decode(bytes) } catch { throw BundleError.envelope(String(describing: error)) }
            var entries: [Entry] = []
            while let entry = try reader.next() {
                guard entry.path.hasPrefix(payloadPrefix) else {
                    throw BundleError.notABundle("entry '\(entry.path)' is outside '\(payloadPrefix)'")
                }
                let relative = String(entry.path.dropFirst(payloadPrefix.count))
                let payloadPath: PayloadPath
                do { payloadPath = try PayloadPath(relative) } catch { throw BundleError.tar(.unsafePath(name: entry.path, reason: error.reason)) }
                entries.append(Entry(path: payloadPath, size: entry.size, offset: entry.dataOffset))
            }
            return BundleArchive(path: path, envelope: envelope, entries: entries)
        } catch let error as TarError {
            throw BundleError.tar(error)
        }
    }

    /// The manifest as the envelope carries it, not yet verified (for `inspect`).
    public func unverifiedManifest() throws -> Manifest {
        guard envelope.payloadType == Envelope.manifestPayloadType else {
            throw BundleError.trust(.wrongPayloadType(envelope.payloadType))
        }
        do { return try Manifest.decode(envelope.payload) } catch { throw BundleError.invalidManifest(String(describing: error)) }
    }

    /// Full verification: trust threshold, then every file's presence, size and SHA-256.
    public func verify(trust: BundleTrust, progress: ((UInt64, UInt64) -> Void)? = nil) throws -> VerifiedManifest {
        let verified: VerifiedManifest
        do { verified = try trust.verify(envelope) } catch { throw BundleError.trust(error) }
        try checkPayload(against: verified.manifest, progress: progress)
        return verified
    }

    public func verify(trust: TrustRoot, progress: ((UInt64, UInt64) -> Void)? = nil) throws -> VerifiedManifest {
        try verify(trust: trust.bundleTrust, progress: progress)
    }

    /// Checks that the archive holds exactly the manifest's files with their sizes and hashes.
    public func checkPayload(against manifest: Manifest, progress: ((UInt64, UInt64) -> Void)? = nil) throws {
        let byPath = Dictionary(uniqueKeysWithValues: entries.map { ($0.path, $0) })
        let listed = Set(manifest.files.map(\.path))
        if let extra = entries.first(where: { !listed.contains($0.path) }) { throw BundleError.unexpectedFile(extra.path.value) }
        for file in manifest.files {
            guard let entry = byPath[file.path] else { throw BundleError.missingFile(file.path.value) }
            guard entry.size == file.size else {
                throw BundleError.sizeMismatch(path: file.path.value, archive: entry.size, manifest: file.size)
            }
        }
        let file: File
        do { file = try File.open(path, .readOnly) } catch { throw BundleError.io(String(describing: error)) }
        let total = manifest.totalSize
        var done: UInt64 = 0
        for expected in manifest.files {
            let entry = byPath[expected.path]!
            // The chunk list is checked on a second core while this one hashes the whole file.
            let chunks = ChunkCheck()
            let checker = expected.chunks.map { list in
                BackgroundThread { [path] in
                    chunks.result = Result {
                        let own = try File.open(path, .readOnly)
                        return try ChunkList.firstMismatch(list, in: own, at: entry.offset)
                    }
                }
            }
            let hasher = SHA256Hasher()
            var readError: (any Error)?
            do {
                try Self.readRange(of: file, offset: entry.offset, length: entry.size) { bytes in
                    hasher.update(bytes)
                    done += UInt64(bytes.count)
                    progress?(done, total)
                }
            } catch { readError = error }
            checker?.join()
            if let readError { throw readError }
            guard hasher.finalize() == expected.sha256 else { throw BundleError.hashMismatch(expected.path.value) }
            let wrong: Int?
            do { wrong = try chunks.result.get() } catch { throw BundleError.io(String(describing: error)) }
            if let wrong { throw BundleError.chunkMismatch(path: expected.path.value, index: wrong) }
        }
    }

    /// What the chunk thread found.
    private final class ChunkCheck: @unchecked Sendable {
        var result: Result<Int?, any Error> = .success(nil)
    }

    /// Streams a payload file's bytes (for uploads and extraction) in chunks.
    public func forEachChunk(of entry: Entry, _ body: (UnsafeRawBufferPointer) throws -> Void) throws {
        let file: File
        do { file = try File.open(path, .readOnly) } catch { throw BundleError.io(String(describing: error)) }
        try Self.readRange(of: file, offset: entry.offset, length: entry.size, body)
    }

    /// The bytes of the payload file at `path` (at most `limit`); nil when the bundle has none.
    public func contents(of path: PayloadPath, limit: Int) throws -> [UInt8]? {
        guard let entry = entries.first(where: { $0.path == path }) else { return nil }
        guard entry.size <= UInt64(limit) else { throw BundleError.io("'\(path)' is larger than \(limit) bytes") }
        let file = try File.open(self.path, .readOnly)
        var bytes: [UInt8] = []
        try Self.readRange(of: file, offset: entry.offset, length: entry.size) { bytes += $0 }
        return bytes
    }

    static func readRange(of file: borrowing File, offset: UInt64, length: UInt64, _ body: (UnsafeRawBufferPointer) throws -> Void) throws {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
        defer { buffer.deallocate() }
        var position = offset
        var left = length
        while left > 0 {
            let wanted = Int(min(UInt64(buffer.count), left))
            let count = pread(file.descriptor, buffer.baseAddress, wanted, off_t(position))
            if count < 0 {
                if errno == EINTR { continue }
                throw BundleError.io(String(describing: FileError("read", file.path)))
            }
            guard count > 0 else { throw BundleError.tar(.truncated("it ends inside a payload file")) }
            try body(UnsafeRawBufferPointer(rebasing: buffer[..<count]))
            position += UInt64(count)
            left -= UInt64(count)
        }
    }
}
