import OTACore

enum MetadataParser {
    /// Turns `key=value` pairs into a JSON object; dotted keys make nested objects.
    static func parse(_ pairs: [String]) throws -> JSONValue? {
        guard !pairs.isEmpty else { return nil }
        var root: [String: JSONValue] = [:]
        for pair in pairs {
            guard let equals = pair.firstIndex(of: "="), equals != pair.startIndex else {
                throw Failure("--metadata '\(pair)' is not KEY=VALUE")
            }
            let path = pair[..<equals].split(separator: ".", omittingEmptySubsequences: false).map(String.init)
            guard !path.contains(where: \.isEmpty) else { throw Failure("--metadata key '\(pair[..<equals])' has an empty part") }
            let text = String(pair[pair.index(after: equals)...])
            let value = (try? StrictJSON.decode(JSONValue.self, from: Array(text.utf8), what: "value")) ?? .string(text)
            try insert(value, at: path[...], into: &root, whole: pair)
        }
        return .object(root)
    }

    private static func insert(_ value: JSONValue, at path: ArraySlice<String>, into object: inout [String: JSONValue], whole: String) throws {
        let key = path.first!
        if path.count == 1 {
            guard object[key] == nil else { throw Failure("--metadata '\(whole)' sets a key twice") }
            object[key] = value
            return
        }
        var child: [String: JSONValue]
        switch object[key] {
        case nil: child = [:]
        case .object(let existing): child = existing
        default: throw Failure("--metadata '\(whole)' nests under a key that already has a value")
        }
        try insert(value, at: path.dropFirst(), into: &child, whole: whole)
        object[key] = .object(child)
    }
}
