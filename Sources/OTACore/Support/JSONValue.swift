/// Any JSON value: the free-form `metadata` of a manifest and device attributes.
public enum JSONValue: Codable, Equatable, Hashable, Sendable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() { self = .null }
        else if let value = try? container.decode(Bool.self) { self = .bool(value) }
        else if let value = try? container.decode(Double.self) { self = .number(value) }
        else if let value = try? container.decode(String.self) { self = .string(value) }
        else if let value = try? container.decode([JSONValue].self) { self = .array(value) }
        else { self = .object(try container.decode([String: JSONValue].self)) }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let value): try container.encode(value)
        case .number(let value):
            if value.rounded() == value, abs(value) < 1e15 { try container.encode(Int64(value)) } else { try container.encode(value) }
        case .string(let value): try container.encode(value)
        case .array(let value): try container.encode(value)
        case .object(let value): try container.encode(value)
        }
    }

    /// Plain text for tables: strings unquoted, everything else as compact JSON.
    public var displayText: String {
        switch self {
        case .null: return "null"
        case .bool(let value): return String(value)
        case .number(let value):
            return value.rounded() == value && abs(value) < 1e15 ? String(Int64(value)) : String(value)
        case .string(let value): return value
        case .array, .object:
            return (try? StrictJSON.encode(self)).flatMap { String(data: $0, encoding: .utf8) } ?? ""
        }
    }

    /// Flattens nested objects into dotted keys (`metrics.top1`) for display.
    public func flattened(prefix: String = "") -> [(key: String, value: JSONValue)] {
        guard case .object(let members) = self else { return [(prefix, self)] }
        return members.keys.sorted().flatMap { key in
            members[key]!.flattened(prefix: prefix.isEmpty ? key : prefix + "." + key)
        }
    }
}
