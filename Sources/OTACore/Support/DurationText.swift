/// Durations as people type them: 30s, 10m, 2h, 1d (a plain number is seconds).
public enum DurationText {
    public static func seconds(_ text: String) -> Int? {
        let units: [Character: Int] = ["s": 1, "m": 60, "h": 3600, "d": 86_400]
        var number = text
        var factor = 1
        if let last = text.last, let unit = units[last] {
            number = String(text.dropLast())
            factor = unit
        }
        guard let value = Int(number), value >= 0, value <= Int.max / factor else { return nil }
        return value * factor
    }
}

extension DurationText {
    /// 45s, 10m, 1h30m: the short form people type.
    public static func describe(seconds: Int) -> String {
        if seconds < 60 || seconds % 60 != 0 && seconds < 600 { return "\(seconds)s" }
        let minutes = seconds / 60
        if minutes < 60 { return "\(minutes)m" }
        return minutes % 60 == 0 ? "\(minutes / 60)h" : "\(minutes / 60)h\(minutes % 60)m"
    }
}
