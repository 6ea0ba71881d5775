/// Why an archive was refused. Bundles use one strict tar form (see `TarFormat`); anything
/// else is an error, never a guess.
public enum TarError: Error, CustomStringConvertible, Equatable, Sendable {
    case truncated(String)
    case badChecksum(offset: UInt64)
    case notUstar(offset: UInt64)
    case unsupportedEntryType(name: String, type: String)
    case unsafePath(name: String, reason: String)
    case duplicateEntry(String)
    case badHeaderField(field: String, offset: UInt64)
    case badPaxRecord(String)
    case dataAfterEnd
    case io(String)

    public var description: String {
        switch self {
        case .truncated(let what): return "archive is truncated: \(what)"
        case .badChecksum(let offset): return "tar header at byte \(offset) has a wrong checksum (corrupt archive)"
        case .notUstar(let offset): return "entry at byte \(offset) is not a ustar header (only POSIX ustar/pax archives written by otactl are read)"
        case .unsupportedEntryType(let name, let type): return "entry '\(name)' is a \(type); bundles hold regular files only"
        case .unsafePath(let name, let reason): return "entry '\(name)' has an unsafe path: \(reason)"
        case .duplicateEntry(let name): return "entry '\(name)' appears twice in the archive"
        case .badHeaderField(let field, let offset): return "tar header at byte \(offset) has an invalid \(field) field"
        case .badPaxRecord(let reason): return "invalid pax extended header: \(reason)"
        case .dataAfterEnd: return "archive has data after its end-of-archive marker"
        case .io(let detail): return detail
        }
    }
}
