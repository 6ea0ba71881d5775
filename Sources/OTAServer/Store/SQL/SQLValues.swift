import Foundation
import OTACore

// MARK: Conversions

extension String: SQLBindable, SQLColumn {
    var sqlValue: SQLValue { .text(self) }
    static func decode(_ value: SQLValue, column: String) throws -> String {
        guard case .text(let text) = value else { throw SQLDecodingError(description: "column \(column) is \(value), not text") }
        return text
    }
}

extension Int64: SQLBindable, SQLColumn {
    var sqlValue: SQLValue { .integer(self) }
    static func decode(_ value: SQLValue, column: String) throws -> Int64 {
        switch value {
        case .integer(let number): return number
        // PostgreSQL's numeric results (sums) arrive as text.
        case .text(let text): if let number = Int64(text) { return number }
        case .real(let number): if number == number.rounded(), let exact = Int64(exactly: number) { return exact }
        default: break
        }
        throw SQLDecodingError(description: "column \(column) is \(value), not an integer")
    }
}

/// A size or offset: a negative one in a row is a decoding error, never a trap.
extension UInt64: SQLColumn {
    static func decode(_ value: SQLValue, column: String) throws -> UInt64 {
        guard let size = UInt64(exactly: try Int64.decode(value, column: column)) else {
            throw SQLDecodingError(description: "column \(column) is \(value), not a size")
        }
        return size
    }
}

extension Int: SQLBindable, SQLColumn {
    var sqlValue: SQLValue { .integer(Int64(self)) }
    static func decode(_ value: SQLValue, column: String) throws -> Int { Int(try Int64.decode(value, column: column)) }
}

extension Double: SQLBindable, SQLColumn {
    var sqlValue: SQLValue { .real(self) }
    static func decode(_ value: SQLValue, column: String) throws -> Double {
        switch value {
        case .real(let number): return number
        case .integer(let number): return Double(number)
        case .text(let text): if let number = Double(text) { return number }
        default: break
        }
        throw SQLDecodingError(description: "column \(column) is \(value), not a number")
    }
}

/// Stored as 0 or 1 (both backends' columns are integers).
extension Bool: SQLBindable, SQLColumn {
    var sqlValue: SQLValue { .integer(self ? 1 : 0) }
    static func decode(_ value: SQLValue, column: String) throws -> Bool {
        if case .integer(let number) = value { return number != 0 }
        if case .text(let text) = value, let number = Int64(text) { return number != 0 }
        throw SQLDecodingError(description: "column \(column) is \(value), not a boolean")
    }
}

extension Array: SQLBindable where Element == UInt8 {
    var sqlValue: SQLValue { .blob(self) }
}

extension Array: SQLColumn where Element == UInt8 {
    static func decode(_ value: SQLValue, column: String) throws -> [UInt8] {
        guard case .blob(let bytes) = value else { throw SQLDecodingError(description: "column \(column) is \(value), not bytes") }
        return bytes
    }
}

extension Data: SQLBindable, SQLColumn {
    var sqlValue: SQLValue { .blob(Array(self)) }
    static func decode(_ value: SQLValue, column: String) throws -> Data { Data(try [UInt8].decode(value, column: column)) }
}

extension Optional: SQLBindable where Wrapped: SQLBindable {
    var sqlValue: SQLValue { self?.sqlValue ?? .null }
}

extension Optional: SQLColumn where Wrapped: SQLColumn {
    static func decode(_ value: SQLValue, column: String) throws -> Wrapped? {
        value == .null ? nil : try Wrapped.decode(value, column: column)
    }
}

/// States stored by their raw values.
extension SQLBindable where Self: RawRepresentable, RawValue == String {
    var sqlValue: SQLValue { .text(rawValue) }
}

extension SQLColumn where Self: RawRepresentable, RawValue == String {
    static func decode(_ value: SQLValue, column: String) throws -> Self {
        guard let parsed = Self(rawValue: try String.decode(value, column: column)) else {
            throw SQLDecodingError(description: "column \(column) holds \(value), which is not a \(Self.self)")
        }
        return parsed
    }
}

extension SQLValue: SQLBindable {
    var sqlValue: SQLValue { self }
}

/// The domain's names are stored as their text, and checked again when read.
extension DeviceID: SQLBindable, SQLColumn {}
extension BundleName: SQLBindable, SQLColumn {}
extension HardwareClass: SQLBindable, SQLColumn {}
extension Tag: SQLBindable, SQLColumn {}
extension GroupName: SQLBindable, SQLColumn {}
extension DeploymentID: SQLBindable, SQLColumn {}
extension TokenID: SQLBindable, SQLColumn {}
extension Channel: SQLBindable, SQLColumn {}
extension DeviceIDPrefix: SQLBindable, SQLColumn {}
extension VariantName: SQLBindable, SQLColumn {}

extension SemanticVersion: SQLBindable, SQLColumn {
    var sqlValue: SQLValue { .text(description) }
    static func decode(_ value: SQLValue, column: String) throws -> SemanticVersion {
        do { return try SemanticVersion(try String.decode(value, column: column)) } catch {
            throw SQLDecodingError(description: "column \(column): \(error)")
        }
    }
}

extension SHA256Digest: SQLBindable, SQLColumn {
    var sqlValue: SQLValue { .text(hex) }
    static func decode(_ value: SQLValue, column: String) throws -> SHA256Digest {
        guard let digest = SHA256Digest(hex: try String.decode(value, column: column)) else {
            throw SQLDecodingError(description: "column \(column) holds \(value), which is not a SHA-256")
        }
        return digest
    }
}

extension BundleKind: SQLBindable, SQLColumn {
    var sqlValue: SQLValue { .text(name) }
    static func decode(_ value: SQLValue, column: String) throws -> BundleKind {
        do { return try BundleKind(try String.decode(value, column: column)) } catch {
            throw SQLDecodingError(description: "column \(column): \(error)")
        }
    }
}

/// A time is written as RFC 3339 text (the `*_at` columns); it reads from text, or from the
/// Unix seconds of the `*_epoch`, `last_seen` and `expires_at` columns.
extension Timestamp: SQLBindable, SQLColumn {
    var sqlValue: SQLValue { .text(rfc3339) }
    static func decode(_ value: SQLValue, column: String) throws -> Timestamp {
        switch value {
        case .text(let text): if let time = Timestamp(rfc3339: text) { return time }
        case .integer(let seconds): return Timestamp(clamping: seconds)
        default: break
        }
        throw SQLDecodingError(description: "column \(column) holds \(value), which is not a time")
    }
}
