import Foundation

/// One step of a path into a JSON document: an object's key or an array's index. Used by
/// `StrictJSON` to name an unknown field and to try a value in its place.
enum JSONPathStep: CustomStringConvertible, Equatable {
    case key(String)
    case index(Int)

    /// `.key` or `[3]`: a path's steps joined read as `devices[3].tags`.
    var description: String {
        switch self {
        case .key(let key): return "." + key
        case .index(let index): return "[\(index)]"
        }
    }

    /// The shape at `path`, or nil where the document has none.
    static func value(in shape: JSONShape, at path: ArraySlice<JSONPathStep>) -> JSONShape? {
        guard let step = path.first else { return shape }
        switch (step, shape) {
        case (.key(let key), .object(let fields)):
            return fields[key].flatMap { value(in: $0, at: path.dropFirst()) }
        case (.index(let index), .array(let items)) where items.indices.contains(index):
            return value(in: items[index], at: path.dropFirst())
        default:
            return nil
        }
    }

    /// `root` (as `JSONSerialization` reads it) with the value at `path` replaced by
    /// `replacement`, or nil when the path does not lead anywhere.
    static func replacing(in root: Any, at path: ArraySlice<JSONPathStep>, with replacement: Any) -> Any? {
        guard let step = path.first else { return replacement }
        switch step {
        case .key(let key):
            guard var object = root as? [String: Any], let child = object[key],
                  let changed = replacing(in: child, at: path.dropFirst(), with: replacement) else { return nil }
            object[key] = changed
            return object
        case .index(let index):
            guard var array = root as? [Any], array.indices.contains(index),
                  let changed = replacing(in: array[index], at: path.dropFirst(), with: replacement) else { return nil }
            array[index] = changed
            return array
        }
    }
}
