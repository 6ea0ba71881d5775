#if canImport(Glibc)
import Glibc
#endif

/// A point in time, to the second, from 1970 to the end of year 9999: what every expiry,
/// soak time, session and retention compares. RFC 3339 (`2026-11-29T02:00:00Z`) is only its
/// spelling on the wire and in the database; in between it is a number that cannot be out
/// of range, so no arithmetic on it traps.
public struct Timestamp: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let secondsSinceEpoch: Int64

    public static let earliest = Timestamp(unchecked: WireRange.epochSeconds.lowerBound)
    public static let latest = Timestamp(unchecked: WireRange.epochSeconds.upperBound)

    private init(unchecked seconds: Int64) { secondsSinceEpoch = seconds }

    /// Nil outside 1970 to 9999.
    public init?(secondsSinceEpoch seconds: Int64) {
        guard WireRange.epochSeconds.contains(seconds) else { return nil }
        secondsSinceEpoch = seconds
    }

    /// The nearest time in range.
    public init(clamping seconds: Int64) {
        secondsSinceEpoch = min(max(seconds, WireRange.epochSeconds.lowerBound), WireRange.epochSeconds.upperBound)
    }

    /// Nil unless `text` is RFC 3339 (`YYYY-MM-DDTHH:MM:SS[.fff](Z|±HH:MM)`) from 1970 to 9999.
    public init?(rfc3339 text: some StringProtocol) {
        guard text.utf8.count <= 64, let seconds = Self.parse(String(text)), let time = Timestamp(secondsSinceEpoch: seconds) else { return nil }
        self = time
    }

    /// `YYYY-MM-DDTHH:MM:SSZ`.
    public var rfc3339: String { Self.format(secondsSinceEpoch: secondsSinceEpoch) }
    public var description: String { rfc3339 }

    /// `seconds` later (earlier when negative), held in range.
    public func adding(seconds: Int64) -> Timestamp {
        let (sum, overflow) = secondsSinceEpoch.addingReportingOverflow(seconds)
        return Timestamp(clamping: overflow ? (seconds > 0 ? Int64.max : Int64.min) : sum)
    }

    /// The seconds from `earlier` to this time (negative when it is later): never overflows.
    public func seconds(since earlier: Timestamp) -> Int64 { secondsSinceEpoch - earlier.secondsSinceEpoch }

    public static func < (a: Timestamp, b: Timestamp) -> Bool { a.secondsSinceEpoch < b.secondsSinceEpoch }

    // MARK: Text

    /// RFC 3339 UTC, written by hand so that the agent does not need Foundation's formatters.
    public static func format(secondsSinceEpoch seconds: Int64) -> String {
        var value = time_t(seconds)
        var parts = tm()
        gmtime_r(&value, &parts)
        func two(_ n: Int32) -> String { n < 10 ? "0\(n)" : "\(n)" }
        return "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday))T\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec))Z"
    }

    /// Seconds since the epoch, or nil when `text` is not `YYYY-MM-DDTHH:MM:SS[.fff]Z` or
    /// with a numeric offset.
    public static func parse(_ text: String) -> Int64? {
        let b = Array(text.utf8)
        guard b.count >= 20, b.count <= 64 else { return nil }
        func number(_ range: Range<Int>) -> Int? {
            guard b[range].allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
            return Int(String(decoding: b[range], as: UTF8.self))
        }
        guard let year = number(0..<4), b[4] == 0x2d, let month = number(5..<7), b[7] == 0x2d, let day = number(8..<10),
              b[10] == 0x54 || b[10] == 0x74, let hour = number(11..<13), b[13] == 0x3a, let minute = number(14..<16),
              b[16] == 0x3a, let second = number(17..<19) else { return nil }
        guard (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 61 else { return nil }
        var index = 19
        if b[index] == 0x2e {
            index += 1
            let start = index
            while index < b.count, b[index] >= 0x30, b[index] <= 0x39 { index += 1 }
            guard index > start else { return nil }
        }
        var offset = 0
        guard index < b.count else { return nil }
        if b[index] == 0x5a || b[index] == 0x7a {
            index += 1
        } else if b[index] == 0x2b || b[index] == 0x2d, index + 6 == b.count, b[index + 3] == 0x3a,
                  let h = number((index + 1)..<(index + 3)), let m = number((index + 4)..<(index + 6)) {
            offset = (h * 60 + m) * 60 * (b[index] == 0x2b ? 1 : -1)
            index += 6
        } else { return nil }
        guard index == b.count else { return nil }
        var parts = tm()
        parts.tm_year = Int32(year - 1900)
        parts.tm_mon = Int32(month - 1)
        parts.tm_mday = Int32(day)
        parts.tm_hour = Int32(hour)
        parts.tm_min = Int32(minute)
        parts.tm_sec = Int32(second)
        return Int64(timegm(&parts)) - Int64(offset)
    }
}

extension Timestamp: Codable {
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        guard let time = Timestamp(rfc3339: text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "'\(text.prefix(64))' is not an RFC 3339 UTC time like 2026-11-29T02:00:00Z (from 1970 to 9999)"))
        }
        self = time
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rfc3339)
    }
}

extension Timestamp: ExpressibleByStringLiteral {
    /// A time written in the program itself (a test, a fixture): it must be RFC 3339.
    public init(stringLiteral text: String) {
        guard let time = Timestamp(rfc3339: text) else { preconditionFailure("invalid time literal '\(text)'") }
        self = time
    }
}
