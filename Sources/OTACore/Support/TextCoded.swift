/// A value that is one string on the wire (a version, a bundle kind, a condition): decoded by
/// its own parser, so a bad one fails decoding with the parser's reason at the field's path,
/// and encoded as its `description`, which the parser reads back.
public protocol TextCoded: Codable, CustomStringConvertible {
    associatedtype ParseFailure: Error, CustomStringConvertible
    init(_ text: String) throws(ParseFailure)
}

extension TextCoded {
    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        do { try self.init(text) } catch {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: error.description))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}
