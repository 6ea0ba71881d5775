#if canImport(Glibc)
import Glibc
#endif

/// RFC 3339 UTC timestamps ("2026-11-29T02:00:00Z"), the only time format in manifests,
/// APIs and journals. Written by hand so that the agent does not need Foundation's formatters.
public enum Timestamp {
    public static func now() -> String { format(secondsSinceEpoch: epochSeconds()) }

    public static func epochSeconds() -> Int64 { Int64(time(nil)) }

    /// Seconds on a clock that never jumps (for rates and timeouts, not for dates).
    public static func monotonicSeconds() -> Double {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
    }

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
        guard b.count >= 20 else { return nil }
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
