extension StringProtocol {
    /// The text without leading and trailing ASCII whitespace (CR and LF included; note that
    /// "\r\n" is one `Character`, so this works on UTF-8 bytes). FoundationEssentials, which
    /// the agent is limited to, has no `trimmingCharacters`.
    public var trimmed: String {
        let bytes = Array(utf8)
        let isSpace: (UInt8) -> Bool = { $0 == 0x20 || $0 == 0x09 || $0 == 0x0a || $0 == 0x0d }
        guard let first = bytes.firstIndex(where: { !isSpace($0) }), let last = bytes.lastIndex(where: { !isSpace($0) }) else { return "" }
        return String(decoding: bytes[first...last], as: UTF8.self)
    }
}

extension String {
    /// At most `limit` bytes of UTF-8, cut at a character boundary.
    public func truncatedUTF8(to limit: Int) -> String {
        guard utf8.count > limit else { return self }
        var result = ""
        var bytes = 0
        for character in self {
            let size = character.utf8.count
            guard bytes + size <= limit else { break }
            result.append(character)
            bytes += size
        }
        return result
    }
}
