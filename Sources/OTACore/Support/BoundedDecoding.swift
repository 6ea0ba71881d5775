/// Whole numbers from outside (the network, a bundle, a file) are range-checked where they
/// are decoded, so that no later arithmetic on them can trap and no value a peer makes up
/// reaches a timer, an allocation or a file offset. A number out of range is a decoding
/// error naming the field and the range, like any other malformed input.
extension KeyedDecodingContainer {
    public func decode<T: FixedWidthInteger & Decodable>(_ type: T.Type, forKey key: Key, in range: ClosedRange<T>) throws -> T {
        let value = try decode(T.self, forKey: key)
        guard range.contains(value) else { throw Self.outOfRange(key, range, codingPath: codingPath) }
        return value
    }

    public func decodeIfPresent<T: FixedWidthInteger & Decodable>(_ type: T.Type, forKey key: Key, in range: ClosedRange<T>) throws -> T? {
        guard let value = try decodeIfPresent(T.self, forKey: key) else { return nil }
        guard range.contains(value) else { throw Self.outOfRange(key, range, codingPath: codingPath) }
        return value
    }

    private static func outOfRange<T>(_ key: Key, _ range: ClosedRange<T>, codingPath: [any CodingKey]) -> DecodingError {
        DecodingError.dataCorrupted(.init(codingPath: codingPath + [key], debugDescription: "must be from \(range.lowerBound) to \(range.upperBound)"))
    }
}

/// The ranges the wire formats allow.
public enum WireRange {
    /// Seconds since 1970 for a time from 1970 to the end of year 9999 (what RFC 3339 spells).
    public static let epochSeconds: ClosedRange<Int64> = 0...253_402_300_799
    /// A metadata, bundle or root version: far beyond any real count, far below any overflow.
    public static let version: ClosedRange<Int> = 0...(1 << 40)
    /// A byte count or offset in a file or a transfer (1 PiB).
    public static let bytes: ClosedRange<UInt64> = 0...(1 << 50)
}
