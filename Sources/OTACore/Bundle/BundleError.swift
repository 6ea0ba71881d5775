public enum BundleError: Error, CustomStringConvertible, Equatable, Sendable {
    case notABundle(String)
    case tar(TarError)
    case envelope(String)
    case trust(TrustError)
    case missingFile(String)
    case unexpectedFile(String)
    case sizeMismatch(path: String, archive: UInt64, manifest: UInt64)
    case hashMismatch(String)
    case chunkMismatch(path: String, index: Int)
    case notRegularFile(path: String, kind: String)
    case emptySource(String)
    case sourceChanged(String)
    case invalidManifest(String)
    case io(String)

    public var description: String {
        switch self {
        case .notABundle(let reason): return "not a bundle: \(reason)"
        case .tar(let error): return error.description
        case .envelope(let reason): return reason
        case .trust(let error): return error.description
        case .missingFile(let path): return "the manifest lists '\(path)' but the bundle does not contain it"
        case .unexpectedFile(let path): return "the bundle contains '\(path)', which the signed manifest does not list"
        case .sizeMismatch(let path, let archive, let manifest):
            return "'\(path)' is \(archive) bytes in the bundle but \(manifest) bytes in the manifest"
        case .hashMismatch(let path): return "'\(path)' does not match its SHA-256 in the signed manifest (tampered or corrupt)"
        case .chunkMismatch(let path, let index):
            return "chunk \(index) of '\(path)' does not match its SHA-256 in the signed manifest (the chunk list does not describe the file)"
        case .notRegularFile(let path, let kind): return "'\(path)' is a \(kind); bundles carry regular files only"
        case .emptySource(let folder): return "'\(folder)' holds no files"
        case .sourceChanged(let path): return "'\(path)' changed while the bundle was being written; try again"
        case .invalidManifest(let reason): return "invalid manifest: \(reason)"
        case .io(let reason): return reason
        }
    }
}
