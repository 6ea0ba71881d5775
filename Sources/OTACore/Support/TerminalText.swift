/// Text from a device or a server, made safe to print on an operator's terminal: every
/// control character (escape sequences that move the cursor, rewrite earlier lines, set the
/// window title or write the clipboard; line breaks that would fake a line of their own),
/// and every character that reorders text (bidirectional overrides), is shown as an escape
/// instead: ESC as `\x1b`, a line feed as `\n`. Everything a program prints for people goes
/// through it one line at a time, so no value inside a line can break out of it.
public enum TerminalText {
    public static func escape(_ line: some StringProtocol) -> String {
        // Most lines need nothing: one pass over the scalars decides.
        guard line.unicodeScalars.contains(where: needsEscape) else { return String(line) }
        var out = String.UnicodeScalarView()
        for scalar in line.unicodeScalars {
            guard needsEscape(scalar) else { out.append(scalar); continue }
            let text: String
            switch scalar.value {
            case 0x0a: text = "\\n"
            case 0x0d: text = "\\r"
            case 0x09: text = "\\t"
            case 0x00..<0x80: text = "\\x" + hex(scalar.value, digits: 2)
            default: text = "\\u{" + hex(scalar.value, digits: 4) + "}"
            }
            out.append(contentsOf: text.unicodeScalars)
        }
        return String(out)
    }

    /// JSON for a terminal: the same characters, spelled as JSON escapes (`\u009b`), so the
    /// document still parses to the same values.
    public static func escapeJSON(_ json: String) -> String {
        guard json.unicodeScalars.contains(where: { $0.value >= 0x7f && needsEscape($0) }) else { return json }
        var out = String.UnicodeScalarView()
        for scalar in json.unicodeScalars {
            if scalar.value >= 0x7f, needsEscape(scalar) {
                out.append(contentsOf: ("\\u" + hex(scalar.value, digits: 4)).unicodeScalars)
            } else {
                out.append(scalar)
            }
        }
        return String(out)
    }

    static func needsEscape(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x00...0x1f, 0x7f...0x9f: return true                  // C0, DEL, C1 (CSI, OSC, ...)
        case 0x061c, 0x200e, 0x200f, 0x202a...0x202e, 0x2066...0x2069: return true  // direction marks and overrides
        case 0x2028, 0x2029: return true                            // line and paragraph separators
        default: return false
        }
    }

    private static func hex(_ value: UInt32, digits: Int) -> String {
        let text = String(value, radix: 16)
        return String(repeating: "0", count: max(0, digits - text.count)) + text
    }
}
