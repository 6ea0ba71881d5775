/// The hashes TUF metadata lists for a file, by algorithm (`{"sha256": "…"}`). Kept compact:
/// release metadata of a long-lived fleet lists tens of thousands of files, nearly all with
/// one SHA-256 each, and a device decodes it on every check-in, so the common case holds no
/// dictionary of its own. Reads like the dictionary it is on the wire.
public struct TUFHashes: Codable, Equatable, Hashable, Sendable, Sequence, ExpressibleByDictionaryLiteral {
    private var sha256: String?
    /// Any other algorithm, in the order read (rare; `problem(with:)` fails those it cannot check).
    private var others: [Entry] = []

    public struct Entry: Equatable, Hashable, Sendable {
        public let key: String
        public let value: String
    }

    public init(dictionaryLiteral elements: (String, String)...) {
        for (key, value) in elements { self[key] = value }
    }

    public init(_ dictionary: [String: String]) {
        for (key, value) in dictionary.sorted(by: { $0.key < $1.key }) { self[key] = value }
    }

    public subscript(algorithm: String) -> String? {
        get { algorithm == "sha256" ? sha256 : others.first { $0.key == algorithm }?.value }
        set {
            if algorithm == "sha256" { sha256 = newValue; return }
            others.removeAll { $0.key == algorithm }
            if let newValue { others.append(Entry(key: algorithm, value: newValue)) }
        }
    }

    public var isEmpty: Bool { sha256 == nil && others.isEmpty }
    public var count: Int { (sha256 == nil ? 0 : 1) + others.count }

    /// Every (algorithm, value), SHA-256 first.
    public func makeIterator() -> IndexingIterator<[(key: String, value: String)]> {
        ((sha256.map { [("sha256", $0)] } ?? []) + others.map { ($0.key, $0.value) }).map { (key: $0.0, value: $0.1) }.makeIterator()
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: AnyCodingKey.self)
        for key in container.allKeys { self[key.stringValue] = try container.decode(String.self, forKey: key) }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: AnyCodingKey.self)
        for (key, value) in self { try container.encode(value, forKey: AnyCodingKey(key)) }
    }
}
