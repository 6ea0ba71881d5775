import Foundation
import Testing

/// Keeps `Sources/OTAServer/Resources/openapi.yaml` true to the routes the server registers.
///
/// The routes are read from the Swift sources under `Sources/OTAServer`: every
/// `router.METHOD("path")` and `GROUP.METHOD("path")` call, where GROUP was bound with
/// `let GROUP = router.group("prefix")` (or a group of a group) in the same file. A path
/// interpolating `\(NAME.rawValue)` is expanded over `for NAME in [...]` in that file. What the
/// scanner cannot read makes the test fail with a message, so a new route style is noticed
/// rather than skipped.
@Suite("The OpenAPI document describes the routes the server registers")
struct OpenAPIDocumentTests {
    struct Operation: Hashable, Comparable, CustomStringConvertible {
        let method: String
        let path: String
        var description: String { "\(method) \(path)" }
        static func < (lhs: Operation, rhs: Operation) -> Bool { (lhs.path, lhs.method) < (rhs.path, rhs.method) }
    }

    /// A route as found in the sources, with the admin role its handler asks for.
    struct Route {
        let operation: Operation
        let role: String?
        let location: String
    }

    static let repositoryRoot: URL = {
        var url = URL(fileURLWithPath: #filePath)
        while url.path != "/" {
            url.deleteLastPathComponent()
            if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) { return url }
        }
        return URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }()

    static let documentPath = "Sources/OTAServer/Resources/openapi.yaml"
    static let httpMethods = ["get", "put", "post", "delete", "options", "head", "patch", "trace"]

    /// One spelling for a path template on both sides: `/api/v1/devices/{}`.
    static func normalized(_ path: String) -> String {
        let segments = path.split(separator: "/", omittingEmptySubsequences: true).map { segment -> String in
            if segment.hasPrefix(":") || segment == "*" || segment == "**" || (segment.hasPrefix("{") && segment.hasSuffix("}")) {
                return "{}"
            }
            return String(segment)
        }
        return "/" + segments.joined(separator: "/")
    }

    // MARK: The document

    struct DocumentOperation {
        let operation: Operation
        var role: String?
        var security: [String] = []
    }

    /// The operations under `paths:`, read by indentation (the document is plain block YAML),
    /// with each operation's `x-required-role` and the scheme names in its `security`.
    static func documentOperations() throws -> [DocumentOperation] {
        let text = try String(contentsOf: repositoryRoot.appendingPathComponent(documentPath), encoding: .utf8)
        var operations: [DocumentOperation] = []
        var inPaths = false
        var pathIndent: Int?
        var methodIndent: Int?
        var currentPath: String?
        var inSecurity = false
        for rawLine in text.split(separator: "\n", omittingEmptySubsequences: false) {
            let line = String(rawLine)
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
            let indent = line.prefix { $0 == " " }.count
            if indent == 0 {
                inPaths = trimmed == "paths:"
                currentPath = nil
                continue
            }
            guard inPaths, let colon = trimmed.firstIndex(of: ":") else { continue }
            var key = String(trimmed[..<colon]).trimmingCharacters(in: .whitespaces)
            if key.count >= 2, let first = key.first, first == "\"" || first == "'", key.last == first { key = String(key.dropFirst().dropLast()) }
            let value = trimmed[trimmed.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            if pathIndent == nil { pathIndent = indent }
            if indent == pathIndent {
                currentPath = key
                methodIndent = nil
                inSecurity = false
                continue
            }
            guard let path = currentPath else { continue }
            if methodIndent == nil { methodIndent = indent }
            if indent == methodIndent {
                inSecurity = false
                if httpMethods.contains(key) { operations.append(DocumentOperation(operation: Operation(method: key.uppercased(), path: path))) }
                continue
            }
            guard indent > methodIndent!, let last = operations.indices.last, operations[last].operation.path == path else { continue }
            if indent == methodIndent! + 2 {
                inSecurity = key == "security"
                if key == "x-required-role" { operations[last].role = value }
                if inSecurity, value.hasPrefix("[") { inSecurity = false }
            } else if inSecurity, trimmed.hasPrefix("- ") {
                let scheme = trimmed.dropFirst(2).split(separator: ":").first.map { $0.trimmingCharacters(in: .whitespaces) }
                if let scheme, !scheme.isEmpty { operations[last].security.append(scheme) }
            }
        }
        return operations
    }

    // MARK: The sources

    struct Unreadable: Error, CustomStringConvertible {
        let description: String
    }

    static func swiftFiles(under folder: String) -> [URL] {
        let root = repositoryRoot.appendingPathComponent(folder)
        guard let walker = FileManager.default.enumerator(at: root, includingPropertiesForKeys: nil) else { return [] }
        return walker.compactMap { $0 as? URL }.filter { $0.pathExtension == "swift" }.sorted { $0.path < $1.path }
    }

    static func matches(_ pattern: String, in text: String) throws -> [[String?]] {
        let expression = try NSRegularExpression(pattern: pattern)
        let ns = text as NSString
        return expression.matches(in: text, range: NSRange(location: 0, length: ns.length)).map { match in
            (0..<match.numberOfRanges).map { index in
                let range = match.range(at: index)
                return range.location == NSNotFound ? nil : ns.substring(with: range)
            }
        }
    }

    static func lineNumber(of offset: Int, in text: String) -> Int {
        (text as NSString).substring(to: offset).filter { $0 == "\n" }.count + 1
    }

    /// Every route registered in `Sources/OTAServer`, with the role its handler asks for.
    static func sourceRoutes() throws -> [Route] {
        var routes: [Route] = []
        for file in swiftFiles(under: "Sources/OTAServer") {
            let text = try String(contentsOf: file, encoding: .utf8)
            let name = file.lastPathComponent
            // Groups: let NAME = RECEIVER.group("prefix"), where RECEIVER is router or a group.
            var groups: [String: String] = ["router": ""]
            for match in try matches(#"let\s+(\w+)\s*=\s*(\w+)\.group\(\s*"([^"\\]*)"\s*\)"#, in: text) {
                guard let receiver = match[2], let base = groups[receiver] else {
                    throw Unreadable(description: "\(name): group '\(match[1] ?? "?")' of an unknown receiver '\(match[2] ?? "?")'")
                }
                groups[match[1]!] = base + "/" + match[3]!
            }
            // Loops whose variable a path interpolates: for NAME in [A.b, .c, ...]
            var loops: [String: [String]] = [:]
            for match in try matches(#"for\s+(\w+)\s+in\s+\[([^\]]*)\]"#, in: text) {
                loops[match[1]!] = match[2]!.split(separator: ",").compactMap { element in
                    element.split(separator: ".").last.map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
                }
            }
            if !(try matches(#"\.on\(\s*""#, in: text)).isEmpty {
                throw Unreadable(description: "\(name) registers a route with .on(...); teach OpenAPIDocumentTests to read it")
            }
            // Route calls: RECEIVER.METHOD("path") or RECEIVER.METHOD { ... }, RECEIVER a group.
            let expression = try NSRegularExpression(pattern: #"\b(\w+)\.(get|put|post|patch|delete|head)\s*(?:\(\s*(?:"((?:[^"\\]|\\\([^)]*\))*)")?|\{)"#)
            let ns = text as NSString
            let found = expression.matches(in: text, range: NSRange(location: 0, length: ns.length)).filter {
                groups[ns.substring(with: $0.range(at: 1))] != nil
            }
            for (index, match) in found.enumerated() {
                let receiver = ns.substring(with: match.range(at: 1))
                let method = ns.substring(with: match.range(at: 2)).uppercased()
                let literal = match.range(at: 3).location == NSNotFound ? "" : ns.substring(with: match.range(at: 3))
                let location = "\(name):\(lineNumber(of: match.range.location, in: text))"
                // The handler runs to the next route call; the role it asks for is in there.
                let end = index + 1 < found.count ? found[index + 1].range.location : ns.length
                let handler = ns.substring(with: NSRange(location: match.range.location, length: end - match.range.location))
                let role = try matches(#"\.admin\(\s*request\s*,\s*\.(\w+)\s*\)"#, in: handler).first?[1]
                for path in try expand(literal, loops: loops, location: location) {
                    let full = normalized(groups[receiver]! + "/" + path)
                    routes.append(Route(operation: Operation(method: method, path: full), role: role, location: location))
                }
            }
        }
        return routes
    }

    /// The paths a route literal stands for: `:id/\(control.rawValue)` over the loop's cases.
    static func expand(_ literal: String, loops: [String: [String]], location: String) throws -> [String] {
        guard let interpolation = try matches(#"\\\(\s*(\w+)\.rawValue\s*\)"#, in: literal).first else {
            if literal.contains("\\(") { throw Unreadable(description: "\(location): cannot expand the route path \"\(literal)\"") }
            return [literal]
        }
        let variable = interpolation[1]!
        guard let cases = loops[variable], !cases.isEmpty else {
            throw Unreadable(description: "\(location): \"\(literal)\" interpolates \(variable), which is not a `for \(variable) in [...]` loop")
        }
        return try cases.flatMap { value in
            try expand(literal.replacingOccurrences(of: interpolation[0]!, with: value), loops: loops, location: location)
        }
    }

    // MARK: Tests

    @Test("Every registered route is documented and every documented operation is registered")
    func documentMatchesRoutes() throws {
        let routes = try Self.sourceRoutes()
        let documented = try Self.documentOperations()
        #expect(routes.count >= 20, "the scanner found only \(routes.count) routes in Sources/OTAServer")
        #expect(documented.count >= 20, "the parser found only \(documented.count) operations in \(Self.documentPath)")

        let registered = Set(routes.map(\.operation))
        let described = Set(documented.map { Operation(method: $0.operation.method, path: Self.normalized($0.operation.path)) })
        let undocumented = registered.subtracting(described).sorted().map { operation in
            "\(operation) (\(routes.first { $0.operation == operation }!.location))"
        }
        let unimplemented = described.subtracting(registered).sorted().map(\.description)
        #expect(undocumented.isEmpty, "routes missing from \(Self.documentPath): \(undocumented.joined(separator: ", "))")
        #expect(unimplemented.isEmpty, "documented operations no route serves: \(unimplemented.joined(separator: ", "))")

        var seen = Set<Operation>()
        let duplicates = documented.map { Operation(method: $0.operation.method, path: Self.normalized($0.operation.path)) }
            .filter { !seen.insert($0).inserted }
        #expect(duplicates.isEmpty, "documented twice: \(duplicates)")
    }

    @Test("Each admin operation names the role its handler requires and uses the admin token")
    func rolesMatchHandlers() throws {
        let documented = try Self.documentOperations()
        var byOperation: [Operation: DocumentOperation] = [:]
        for entry in documented {
            byOperation[Operation(method: entry.operation.method, path: Self.normalized(entry.operation.path))] = entry
        }
        for route in try Self.sourceRoutes() {
            guard let entry = byOperation[route.operation] else { continue }  // reported by documentMatchesRoutes
            #expect(entry.role == route.role,
                    "\(route.operation) (\(route.location)) needs role \(route.role ?? "none"); the document says \(entry.role ?? "none")")
            if route.role != nil {
                #expect(entry.security == ["adminToken"], "\(route.operation) must declare security adminToken, not \(entry.security)")
            } else {
                #expect(!entry.security.contains("adminToken"), "\(route.operation) does not check an admin token but declares one")
            }
        }
    }

    @Test("Device API operations other than register and session declare the session signature (or a legacy device token)")
    func deviceOperationsUseDeviceToken() throws {
        let device = try Self.documentOperations().filter { $0.operation.path.hasPrefix("/api/v1/device/") }
        #expect(!device.isEmpty)
        for entry in device {
            let unsigned = entry.operation.path.hasSuffix("/register") || entry.operation.path.hasSuffix("/session")
            let expected = unsigned ? [] : ["deviceSignature", "deviceToken"]
            #expect(entry.security == expected, "\(entry.operation) declares \(entry.security)")
        }
    }
}
