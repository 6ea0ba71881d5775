import Foundation

/// Decoding of untrusted JSON with errors a person can act on.
///
/// `JSONDecoder` ignores unknown keys and reports problems as coding paths; inputs from the
/// network, a bundle or a file get one clear sentence naming the field instead.
public struct JSONInputError: Error, CustomStringConvertible, Equatable, Sendable {
    public let description: String
    /// The JSON was well formed and of the right shape, but a value broke a rule of its type
    /// (a name with a slash, a number out of range): the request, not its JSON, is wrong.
    public let isValueProblem: Bool
    public init(_ description: String, isValueProblem: Bool = false) {
        self.description = description
        self.isValueProblem = isValueProblem
    }
}

public enum StrictJSON {
    /// One decoder for everything: its options never change, so sharing it is safe and saves
    /// making one per request.
    private static let decoder = JSONDecoder()

    /// Decodes `type` from `bytes`, describing it as `what` ("manifest", "trust root", ...).
    public static func decode<T: Decodable>(_ type: T.Type, from bytes: some Collection<UInt8>, what: String) throws -> T {
        do {
            // Bytes already in memory are read where they are: a device decoding megabytes of
            // metadata must not hold a second copy of them.
            if let data = bytes as? Data { return try decoder.decode(T.self, from: data) }
            if let decoded = try bytes.withContiguousStorageIfAvailable({ buffer -> T in
                guard let base = buffer.baseAddress, buffer.count > 0 else { return try decoder.decode(T.self, from: Data()) }
                let view = Data(bytesNoCopy: UnsafeMutableRawPointer(mutating: base), count: buffer.count, deallocator: .none)
                return try decoder.decode(T.self, from: view)
            }) {
                return decoded
            }
            return try decoder.decode(T.self, from: Data(bytes))
        } catch let error as DecodingError {
            throw JSONInputError("\(what): \(describe(error))", isValueProblem: isValueProblem(error))
        } catch let error as JSONInputError {
            throw JSONInputError("\(what): \(error.description)", isValueProblem: error.isValueProblem)
        }
    }

    /// Decodes like `decode`, and also refuses any object key that `T` does not read. It
    /// compares the input with `T` encoded again, so every Codable type gets the check
    /// without code of its own (free-form values such as attributes round-trip whole).
    public static func decodeRejectingUnknownFields<T: Codable>(_ type: T.Type, from bytes: some Collection<UInt8>, what: String) throws -> T {
        let value = try decode(T.self, from: bytes, what: what)
        guard let input = try? JSONShape.parse(bytes), let echoed = try? JSONShape.parse(encode(value)) else {
            throw JSONInputError("\(what): malformed JSON")
        }
        // One probe per field, not per null: every item of an array asks the same question,
        // and a probe re-reads the whole body (a megabyte of null fields would otherwise cost
        // one full parse each).
        var answers: [String: Bool] = [:]
        let isRead = { (path: [JSONPathStep]) -> Bool in
            let field = path.map { step -> String in if case .key(let key) = step { return "." + key } else { return "[]" } }.joined()
            if let known = answers[field] { return known }
            let answer = reads(T.self, nullAt: path, in: bytes)
            answers[field] = answer
            return answer
        }
        if let path = firstUnknownKey(in: input, comparedWith: echoed, path: [], isRead: isRead) {
            let name = path.map(\.description).joined()
            throw JSONInputError("\(what): unknown field '\(name.hasPrefix(".") ? String(name.dropFirst()) : name)'")
        }
        return value
    }

    /// A value that broke its type's rule, in JSON that was otherwise fine.
    private static func isValueProblem(_ error: DecodingError) -> Bool {
        guard case .dataCorrupted(let context) = error else { return false }
        return !context.codingPath.isEmpty && context.debugDescription != unknownField
            && !context.debugDescription.hasPrefix("The given data was not valid JSON")
    }

    private static func firstUnknownKey(in input: JSONShape, comparedWith known: JSONShape, path: [JSONPathStep],
                                        isRead: ([JSONPathStep]) -> Bool) -> [JSONPathStep]? {
        switch (input, known) {
        case (.object(let given), .object(let read)):
            for key in given.keys.sorted() {
                let child = path + [.key(key)]
                guard let readValue = read[key] else {
                    // An optional field given as null is left out of the echo, as an unknown
                    // key is: only a key the type reads may be null.
                    if given[key] == .null, isRead(child) { continue }
                    return child
                }
                if let found = firstUnknownKey(in: given[key]!, comparedWith: readValue, path: child, isRead: isRead) { return found }
            }
            return nil
        case (.array(let given), .array(let read)) where given.count == read.count:
            for (index, pair) in zip(given, read).enumerated() {
                if let found = firstUnknownKey(in: pair.0, comparedWith: pair.1, path: path + [.index(index)], isRead: isRead) { return found }
            }
            return nil
        default:
            return nil
        }
    }

    /// Whether `T` reads the key whose value is the null at `path`: with `true` in its place,
    /// a field of `T` either refuses it (a field of another type) or keeps it in the echo; an
    /// unknown key is ignored and left out. When the probe cannot be made, the key counts as read.
    private static func reads<T: Codable>(_ type: T.Type, nullAt path: [JSONPathStep], in bytes: some Collection<UInt8>) -> Bool {
        guard let root = try? JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed]),
              let probed = JSONPathStep.replacing(in: root, at: path[...], with: true),
              let data = try? JSONSerialization.data(withJSONObject: probed, options: [.fragmentsAllowed]) else { return true }
        guard let value = try? decoder.decode(T.self, from: data) else { return true }
        guard let echoed = try? JSONShape.parse(encode(value)) else { return true }
        return JSONPathStep.value(in: echoed, at: path[...]) != nil
    }

    /// Encodes with sorted keys, so the same value always gives the same bytes.
    public static func encode<T: Encodable>(_ value: T, pretty: Bool = false) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = pretty ? [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes] : [.sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(value)
    }

    static let unknownField = "unknown field"

    static func describe(_ error: DecodingError) -> String {
        func path(_ keys: [any CodingKey]) -> String {
            var text = ""
            for key in keys {
                if let index = key.intValue { text += "[\(index)]" } else { text += text.isEmpty ? key.stringValue : ".\(key.stringValue)" }
            }
            return text
        }
        switch error {
        case .keyNotFound(let key, let context):
            let parent = path(context.codingPath)
            return "missing field '\(parent.isEmpty ? key.stringValue : parent + "." + key.stringValue)'"
        case .typeMismatch(_, let context), .valueNotFound(_, let context):
            let field = path(context.codingPath)
            return field.isEmpty ? "not a JSON object of the expected shape" : "field '\(field)' has the wrong type"
        case .dataCorrupted(let context):
            let field = path(context.codingPath)
            if context.debugDescription == unknownField { return "unknown field '\(field)'" }
            if context.debugDescription.hasPrefix("The given data was not valid JSON") { return "malformed JSON" }
            if field.isEmpty { return context.debugDescription }
            return "field '\(field)': \(context.debugDescription)"
        @unknown default:
            return "malformed JSON"
        }
    }
}

/// A coding key for any string, used to list the keys an object really has.
public struct AnyCodingKey: CodingKey, Hashable, Sendable {
    public let stringValue: String
    public let intValue: Int?
    public init(_ string: String) { stringValue = string; intValue = nil }
    public init?(stringValue: String) { self.init(stringValue) }
    public init?(intValue: Int) { stringValue = String(intValue); self.intValue = intValue }
}

extension Decoder {
    /// Throws when the JSON object holds a key outside `allowed`: a signed document with
    /// fields the verifier does not understand must not be accepted silently.
    public func rejectUnknownKeys(allowed: Set<String>) throws {
        let container = try self.container(keyedBy: AnyCodingKey.self)
        for key in container.allKeys where !allowed.contains(key.stringValue) {
            throw DecodingError.dataCorrupted(.init(codingPath: codingPath + [key], debugDescription: StrictJSON.unknownField))
        }
    }
}
