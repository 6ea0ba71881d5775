/// Base64 (RFC 4648), as DSSE, RFC 9421, RFC 9530 and the check-in answer's metadata spell
/// bytes. Decoding is strict (padded, no white space) and bounded: every caller says how many
/// bytes it can take, so that a size meant for a signature never limits a metadata file and a
/// hostile megabyte never reaches a field meant for 32 bytes. It reads the text's UTF-8 bytes
/// in place: no copy of a large field is made before it is known to fit.
public enum Base64 {
    public enum Alphabet: Sendable {
        /// `+` and `/` (RFC 4648 §4).
        case standard
        /// Either the standard or the URL-safe alphabet (`-` and `_`), as DSSE allows.
        case standardOrURLSafe
    }

    private static let symbols = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    /// 0...63 for a symbol, 64 for `=`, 255 for anything else; URL-safe symbols are 128 + value.
    private static let table: [UInt8] = {
        var table = [UInt8](repeating: 255, count: 256)
        for (value, symbol) in symbols.enumerated() { table[Int(symbol)] = UInt8(value) }
        table[Int(UInt8(ascii: "-"))] = 128 + 62
        table[Int(UInt8(ascii: "_"))] = 128 + 63
        table[Int(UInt8(ascii: "="))] = 64
        return table
    }()

    public static func encode(_ bytes: some Collection<UInt8>) -> String {
        var out = [UInt8]()
        out.reserveCapacity((bytes.count + 2) / 3 * 4)
        var iterator = bytes.makeIterator()
        while let a = iterator.next() {
            let b = iterator.next()
            let c = iterator.next()
            out.append(symbols[Int(a >> 2)])
            out.append(symbols[Int((a & 0x03) << 4 | (b ?? 0) >> 4)])
            out.append(b.map { symbols[Int(($0 & 0x0f) << 2 | (c ?? 0) >> 6)] } ?? UInt8(ascii: "="))
            out.append(c.map { symbols[Int($0 & 0x3f)] } ?? UInt8(ascii: "="))
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// How many bytes padded base64 of `length` characters decodes to, at most.
    public static func decodedLength(ofEncoded length: Int) -> Int { length / 4 * 3 }

    /// The bytes, or nil when `text` is not padded base64 of the alphabet, or decodes to more
    /// than `limit` bytes (checked before anything is decoded).
    public static func decode(_ text: some StringProtocol, limit: Int, alphabet: Alphabet = .standard) -> [UInt8]? {
        var utf8 = text.utf8
        if let result = utf8.withContiguousStorageIfAvailable({ decode(bytes: $0, limit: limit, alphabet: alphabet) }) { return result }
        return Array(utf8).withUnsafeBufferPointer { decode(bytes: $0, limit: limit, alphabet: alphabet) }
    }

    /// The same for base64 held as bytes (a slice of a larger document).
    public static func decode(bytes text: UnsafeBufferPointer<UInt8>, limit: Int, alphabet: Alphabet = .standard) -> [UInt8]? {
        let count = text.count
        guard count % 4 == 0, decodedLength(ofEncoded: count) <= limit + 2 else { return nil }
        if count == 0 { return [] }
        var padding = 0
        if text[count - 1] == UInt8(ascii: "=") { padding += 1 }
        if text[count - 2] == UInt8(ascii: "=") { padding += 1 }
        let length = count / 4 * 3 - padding
        guard length <= limit else { return nil }
        var out = [UInt8](repeating: 0, count: length)
        var alphabetSeen: UInt8 = 0 // 1: standard-only symbols seen, 2: URL-safe ones
        let ok = out.withUnsafeMutableBufferPointer { out -> Bool in
            var written = 0
            var index = 0
            while index < count {
                var quad: UInt32 = 0
                var symbolsInQuad = 4
                for offset in 0..<4 {
                    let raw = table[Int(text[index + offset])]
                    var value: UInt8
                    if raw == 64 {
                        // '=' only at the end, and only in the last two places.
                        guard index + 4 == count, offset >= 2, offset >= 4 - padding else { return false }
                        symbolsInQuad = min(symbolsInQuad, offset)
                        value = 0
                    } else if raw == 255 {
                        return false
                    } else if raw >= 128 {
                        guard alphabet == .standardOrURLSafe else { return false }
                        alphabetSeen |= 2
                        value = raw - 128
                    } else {
                        if raw >= 62 { alphabetSeen |= 1 }
                        value = raw
                    }
                    guard symbolsInQuad == 4 || raw == 64 else { return false }
                    quad = quad << 6 | UInt32(value)
                }
                let take = symbolsInQuad == 4 ? 3 : symbolsInQuad - 1
                // Bits beyond the last byte must be zero: one text for one set of bytes.
                if take == 1 && quad & 0xffff != 0 || take == 2 && quad & 0xff != 0 { return false }
                guard written + take <= out.count else { return false }
                out[written] = UInt8(truncatingIfNeeded: quad >> 16)
                if take > 1 { out[written + 1] = UInt8(truncatingIfNeeded: quad >> 8) }
                if take > 2 { out[written + 2] = UInt8(truncatingIfNeeded: quad) }
                written += take
                index += 4
            }
            return written == length
        }
        // One text uses one alphabet.
        guard ok, alphabetSeen != 3 else { return nil }
        return out
    }
}
