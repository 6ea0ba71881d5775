/// The one `Range: bytes=…` form a resumable download needs, parsed per RFC 9110 §14.
/// Multi-range requests and syntax errors are ignored (the whole content is sent), which
/// the RFC allows; a well-formed range outside the content is unsatisfiable (416).
enum ByteRange: Equatable {
    case whole
    case partial(ClosedRange<UInt64>)
    case unsatisfiable

    static func parse(_ header: String?, size: UInt64) -> ByteRange {
        guard let header else { return .whole }
        let trimmed = header.trimmingCharacters(in: .whitespaces)
        guard trimmed.lowercased().hasPrefix("bytes=") else { return .whole }
        let spec = trimmed.dropFirst("bytes=".count).trimmingCharacters(in: .whitespaces)
        guard !spec.contains(","), let dash = spec.firstIndex(of: "-") else { return .whole }
        let first = spec[..<dash].trimmingCharacters(in: .whitespaces)
        let last = spec[spec.index(after: dash)...].trimmingCharacters(in: .whitespaces)
        func number(_ text: String) -> UInt64? {
            guard !text.isEmpty, text.count <= 19, text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
            return UInt64(text)
        }
        if first.isEmpty {
            // Suffix: the last N bytes.
            guard let length = number(last) else { return .whole }
            guard length > 0, size > 0 else { return .unsatisfiable }
            return .partial((size - min(length, size))...(size - 1))
        }
        guard let start = number(first) else { return .whole }
        if last.isEmpty {
            guard start < size else { return .unsatisfiable }
            return .partial(start...(size - 1))
        }
        guard let end = number(last), end >= start else { return .whole }
        guard start < size else { return .unsatisfiable }
        return .partial(start...min(end, size - 1))
    }
}
