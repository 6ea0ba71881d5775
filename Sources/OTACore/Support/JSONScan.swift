/// Finds where the values of a JSON document are, without building them: a large document
/// (a check-in answer carrying megabytes of metadata) is then read piece by piece from its own
/// bytes instead of being copied into strings and arrays first. Strict like `JSONShape`: a
/// malformed document, a key named twice or nesting deeper than `maximumDepth` is an error.
public enum JSONScan {
    public struct Malformed: Error, CustomStringConvertible, Sendable {
        public let description: String
        init(_ description: String) { self.description = description }
    }

    public static let maximumDepth = 64

    /// The members of the object spanning `range` (which may have white space around it):
    /// each key with the range of its value.
    public static func members(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) throws(Malformed) -> [(key: String, value: Range<Int>)] {
        var scanner = Scanner(bytes: bytes, index: range.lowerBound, end: range.upperBound)
        scanner.skipSpace()
        guard scanner.peek == UInt8(ascii: "{") else { throw Malformed("expected an object") }
        scanner.index += 1
        var result: [(key: String, value: Range<Int>)] = []
        var seen = Set<String>()
        scanner.skipSpace()
        if scanner.peek == UInt8(ascii: "}") {
            scanner.index += 1
        } else {
            while true {
                scanner.skipSpace()
                let key = try scanner.key()
                guard seen.insert(key).inserted else { throw Malformed("the key '\(key.prefix(40))' is named twice") }
                scanner.skipSpace()
                guard scanner.peek == UInt8(ascii: ":") else { throw Malformed("expected ':'") }
                scanner.index += 1
                scanner.skipSpace()
                let start = scanner.index
                try scanner.skipValue(depth: 1)
                result.append((key, start..<scanner.index))
                scanner.skipSpace()
                if scanner.peek == UInt8(ascii: ",") { scanner.index += 1; continue }
                guard scanner.peek == UInt8(ascii: "}") else { throw Malformed("expected ',' or '}'") }
                scanner.index += 1
                break
            }
        }
        scanner.skipSpace()
        guard scanner.index == range.upperBound else { throw Malformed("unexpected bytes after the object") }
        return result
    }

    /// The elements of the array spanning `range`.
    public static func elements(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) throws(Malformed) -> [Range<Int>] {
        var scanner = Scanner(bytes: bytes, index: range.lowerBound, end: range.upperBound)
        scanner.skipSpace()
        guard scanner.peek == UInt8(ascii: "[") else { throw Malformed("expected an array") }
        scanner.index += 1
        var result: [Range<Int>] = []
        scanner.skipSpace()
        if scanner.peek == UInt8(ascii: "]") {
            scanner.index += 1
        } else {
            while true {
                scanner.skipSpace()
                let start = scanner.index
                try scanner.skipValue(depth: 1)
                result.append(start..<scanner.index)
                scanner.skipSpace()
                if scanner.peek == UInt8(ascii: ",") { scanner.index += 1; continue }
                guard scanner.peek == UInt8(ascii: "]") else { throw Malformed("expected ',' or ']'") }
                scanner.index += 1
                break
            }
        }
        scanner.skipSpace()
        guard scanner.index == range.upperBound else { throw Malformed("unexpected bytes after the array") }
        return result
    }

    /// The contents of the string spanning `range`, between its quotes, when it has no escape
    /// (base64 and hex never need one); nil for a string with escapes.
    public static func plainString(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) throws(Malformed) -> Range<Int>? {
        guard range.count >= 2, bytes[range.lowerBound] == UInt8(ascii: "\""), bytes[range.upperBound - 1] == UInt8(ascii: "\"") else {
            throw Malformed("expected a string")
        }
        let inner = (range.lowerBound + 1)..<(range.upperBound - 1)
        for index in inner where bytes[index] == UInt8(ascii: "\\") { return nil }
        return inner
    }

    /// Checks that `range` holds exactly one JSON value (an object names no key twice), without
    /// building anything.
    public static func validate(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) throws(Malformed) {
        var scanner = Scanner(bytes: bytes, index: range.lowerBound, end: range.upperBound)
        try scanner.skipValue(depth: 1)
        scanner.skipSpace()
        guard scanner.index == range.upperBound else { throw Malformed("unexpected bytes after the value") }
    }

    /// Whether the value spanning `range` is `null`.
    public static func isNull(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) -> Bool {
        range.count == 4 && bytes[range.lowerBound] == UInt8(ascii: "n")
    }

    private struct Scanner {
        let bytes: UnsafeRawBufferPointer
        var index: Int
        let end: Int

        var peek: UInt8? { index < end ? bytes[index] : nil }

        mutating func skipSpace() {
            while index < end, bytes[index] == 0x20 || bytes[index] == 0x0a || bytes[index] == 0x0d || bytes[index] == 0x09 { index += 1 }
        }

        mutating func key() throws(Malformed) -> String {
            let start = index
            try skipString()
            // Keys are short and plain in every document read this way; an escaped one is
            // decoded by the standard decoder.
            let raw = UnsafeRawBufferPointer(rebasing: bytes[(start + 1)..<(index - 1)])
            // Long enough for any key these documents have (a release path is at most ~450 bytes).
            guard raw.count <= 4096 else { throw Malformed("a key is longer than 4096 bytes") }
            if !raw.contains(UInt8(ascii: "\\")) { return String(decoding: raw, as: UTF8.self) }
            guard let decoded = try? JSONDecoder().decode(String.self, from: Data(UnsafeRawBufferPointer(rebasing: bytes[start..<index]))) else {
                throw Malformed("a key is not a valid string")
            }
            return decoded
        }

        mutating func skipString() throws(Malformed) {
            guard peek == UInt8(ascii: "\"") else { throw Malformed("expected a string") }
            index += 1
            while index < end {
                let byte = bytes[index]
                if byte == UInt8(ascii: "\"") { index += 1; return }
                if byte == UInt8(ascii: "\\") {
                    guard index + 1 < end else { break }
                    let escaped = bytes[index + 1]
                    switch escaped {
                    case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"),
                         UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                        index += 2
                    case UInt8(ascii: "u"):
                        guard index + 6 <= end else { throw Malformed("a \\u escape is cut off") }
                        for offset in 2..<6 {
                            let digit = bytes[index + offset]
                            guard (0x30...0x39).contains(digit) || (0x41...0x46).contains(digit) || (0x61...0x66).contains(digit) else {
                                throw Malformed("a \\u escape is not hexadecimal")
                            }
                        }
                        index += 6
                    default:
                        throw Malformed("an unknown escape in a string")
                    }
                    continue
                }
                guard byte >= 0x20 else { throw Malformed("a control character in a string") }
                index += 1
            }
            throw Malformed("a string is not closed")
        }

        mutating func skipValue(depth: Int) throws(Malformed) {
            guard depth <= JSONScan.maximumDepth else { throw Malformed("nested deeper than \(JSONScan.maximumDepth)") }
            skipSpace()
            guard let byte = peek else { throw Malformed("a value is missing") }
            switch byte {
            case UInt8(ascii: "{"):
                index += 1
                skipSpace()
                if peek == UInt8(ascii: "}") { index += 1; return }
                var seen = Set<String>()
                while true {
                    skipSpace()
                    guard seen.insert(try key()).inserted else { throw Malformed("a key is named twice") }
                    skipSpace()
                    guard peek == UInt8(ascii: ":") else { throw Malformed("expected ':'") }
                    index += 1
                    try skipValue(depth: depth + 1)
                    skipSpace()
                    if peek == UInt8(ascii: ",") { index += 1; continue }
                    guard peek == UInt8(ascii: "}") else { throw Malformed("expected ',' or '}'") }
                    index += 1
                    return
                }
            case UInt8(ascii: "["):
                index += 1
                skipSpace()
                if peek == UInt8(ascii: "]") { index += 1; return }
                while true {
                    try skipValue(depth: depth + 1)
                    skipSpace()
                    if peek == UInt8(ascii: ",") { index += 1; continue }
                    guard peek == UInt8(ascii: "]") else { throw Malformed("expected ',' or ']'") }
                    index += 1
                    return
                }
            case UInt8(ascii: "\""):
                try skipString()
            case UInt8(ascii: "t"): try literal("true")
            case UInt8(ascii: "f"): try literal("false")
            case UInt8(ascii: "n"): try literal("null")
            default:
                let start = index
                while index < end, let byte = peek,
                      (byte >= 0x30 && byte <= 0x39) || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "+") || byte == UInt8(ascii: ".")
                        || byte == UInt8(ascii: "e") || byte == UInt8(ascii: "E") {
                    index += 1
                }
                guard index > start else { throw Malformed("unexpected character") }
            }
        }

        mutating func literal(_ word: StaticString) throws(Malformed) {
            let count = word.utf8CodeUnitCount
            guard index + count <= end else { throw Malformed("a literal is cut off") }
            for offset in 0..<count where bytes[index + offset] != word.utf8Start[offset] { throw Malformed("unexpected literal") }
            index += count
        }
    }
}
