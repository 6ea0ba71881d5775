/// The structure of a JSON document: object keys and nesting, without the values. Parsed by
/// hand in one pass (no allocation per scalar), it lets `StrictJSON` find unknown fields
/// cheaply on the server's hottest path.
indirect enum JSONShape: Equatable {
    case object([String: JSONShape])
    case array([JSONShape])
    case null
    case scalar

    struct Malformed: Error {}

    static let maximumDepth = 64

    /// `rejectingDuplicateKeys`: an object naming a key twice is malformed. Parsers disagree
    /// on which value wins, so signed metadata must not leave it to them.
    static func parse(_ bytes: some Collection<UInt8>, rejectingDuplicateKeys: Bool = false) throws -> JSONShape {
        try Array(bytes).withUnsafeBufferPointer { buffer in
            var parser = Parser(bytes: buffer, rejectDuplicates: rejectingDuplicateKeys)
            let shape = try parser.value(depth: 0)
            parser.skipSpace()
            guard parser.index == buffer.count else { throw Malformed() }
            return shape
        }
    }

    private struct Parser {
        let bytes: UnsafeBufferPointer<UInt8>
        let rejectDuplicates: Bool
        var index = 0

        mutating func skipSpace() {
            while index < bytes.count, bytes[index] == 0x20 || bytes[index] == 0x0a || bytes[index] == 0x0d || bytes[index] == 0x09 {
                index += 1
            }
        }

        mutating func value(depth: Int) throws -> JSONShape {
            guard depth < JSONShape.maximumDepth else { throw Malformed() }
            skipSpace()
            guard index < bytes.count else { throw Malformed() }
            switch bytes[index] {
            case UInt8(ascii: "{"):
                index += 1
                var members: [String: JSONShape] = [:]
                skipSpace()
                if index < bytes.count, bytes[index] == UInt8(ascii: "}") { index += 1; return .object(members) }
                while true {
                    skipSpace()
                    let key = try string(keep: true)
                    skipSpace()
                    guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { throw Malformed() }
                    index += 1
                    let member = try value(depth: depth + 1)
                    guard members.updateValue(member, forKey: key) == nil || !rejectDuplicates else { throw Malformed() }
                    skipSpace()
                    guard index < bytes.count else { throw Malformed() }
                    if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
                    guard bytes[index] == UInt8(ascii: "}") else { throw Malformed() }
                    index += 1
                    return .object(members)
                }
            case UInt8(ascii: "["):
                index += 1
                var elements: [JSONShape] = []
                skipSpace()
                if index < bytes.count, bytes[index] == UInt8(ascii: "]") { index += 1; return .array(elements) }
                while true {
                    elements.append(try value(depth: depth + 1))
                    skipSpace()
                    guard index < bytes.count else { throw Malformed() }
                    if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
                    guard bytes[index] == UInt8(ascii: "]") else { throw Malformed() }
                    index += 1
                    return .array(elements)
                }
            case UInt8(ascii: "\""):
                _ = try string(keep: false)
                return .scalar
            case UInt8(ascii: "n"):
                try literal("null")
                return .null
            case UInt8(ascii: "t"):
                try literal("true")
                return .scalar
            case UInt8(ascii: "f"):
                try literal("false")
                return .scalar
            default:
                // A number: the decoder that reads the values checks its form.
                let start = index
                while index < bytes.count, let byte = Optional(bytes[index]),
                      (byte >= 0x30 && byte <= 0x39) || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "+") || byte == UInt8(ascii: ".")
                        || byte == UInt8(ascii: "e") || byte == UInt8(ascii: "E") {
                    index += 1
                }
                guard index > start else { throw Malformed() }
                return .scalar
            }
        }

        mutating func literal(_ word: StaticString) throws {
            let count = word.utf8CodeUnitCount
            guard index + count <= bytes.count else { throw Malformed() }
            for offset in 0..<count where bytes[index + offset] != word.utf8Start[offset] { throw Malformed() }
            index += count
        }

        /// A string; decoded (escapes resolved) only when `keep` is set, as for keys.
        mutating func string(keep: Bool) throws -> String {
            guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { throw Malformed() }
            index += 1
            let start = index
            var escaped = false
            while index < bytes.count {
                let byte = bytes[index]
                if byte == UInt8(ascii: "\"") {
                    let raw = UnsafeBufferPointer(rebasing: bytes[start..<index])
                    index += 1
                    guard keep else { return "" }
                    return escaped ? try Self.unescape(raw) : String(decoding: raw, as: UTF8.self)
                }
                if byte == UInt8(ascii: "\\") {
                    escaped = true
                    index += 2
                    continue
                }
                guard byte >= 0x20 else { throw Malformed() }
                index += 1
            }
            throw Malformed()
        }

        static func unescape(_ raw: UnsafeBufferPointer<UInt8>) throws -> String {
            var scalars = String.UnicodeScalarView()
            var utf8: [UInt8] = []
            var i = 0
            func flush() {
                if !utf8.isEmpty { scalars.append(contentsOf: String(decoding: utf8, as: UTF8.self).unicodeScalars); utf8.removeAll() }
            }
            func hex4(_ at: Int) throws -> UInt32 {
                guard at + 4 <= raw.count, let value = UInt32(String(decoding: raw[at..<at + 4], as: UTF8.self), radix: 16) else { throw Malformed() }
                return value
            }
            while i < raw.count {
                guard raw[i] == UInt8(ascii: "\\") else { utf8.append(raw[i]); i += 1; continue }
                guard i + 1 < raw.count else { throw Malformed() }
                let kind = raw[i + 1]
                i += 2
                switch kind {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): utf8.append(kind)
                case UInt8(ascii: "b"): utf8.append(0x08)
                case UInt8(ascii: "f"): utf8.append(0x0c)
                case UInt8(ascii: "n"): utf8.append(0x0a)
                case UInt8(ascii: "r"): utf8.append(0x0d)
                case UInt8(ascii: "t"): utf8.append(0x09)
                case UInt8(ascii: "u"):
                    var value = try hex4(i)
                    i += 4
                    if (0xD800..<0xDC00).contains(value), i + 6 <= raw.count, raw[i] == UInt8(ascii: "\\"), raw[i + 1] == UInt8(ascii: "u") {
                        let low = try hex4(i + 2)
                        if (0xDC00..<0xE000).contains(low) {
                            value = 0x10000 + ((value - 0xD800) << 10) + (low - 0xDC00)
                            i += 6
                        }
                    }
                    flush()
                    scalars.append(Unicode.Scalar(value) ?? "\u{FFFD}")
                default: throw Malformed()
                }
            }
            flush()
            return String(scalars)
        }
    }
}
