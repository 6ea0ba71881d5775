import Foundation
@testable import OTAServer
import Testing

/// Keeps `Sources/OTAServer/Resources/openapi.yaml` true to the routes the server registers:
/// both read `ServerRoutes.table`, the one table of method, path and access.
@Suite("The OpenAPI document describes the routes the server registers")
struct OpenAPIDocumentTests {
    struct Operation: Hashable, Comparable, CustomStringConvertible {
        let method: String
        let path: String
        var description: String { "\(method) \(path)" }
        static func < (lhs: Operation, rhs: Operation) -> Bool { (lhs.path, lhs.method) < (rhs.path, rhs.method) }
    }

    /// A route as the table declares it, with the admin role it needs.
    struct Route {
        let operation: Operation
        let access: Access
        let role: String?
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

    // MARK: The routes

    /// Every route the server registers, from its one table, with who may call it.
    static func tableRoutes() -> [Route] {
        ServerRoutes.table.map { route in
            let role: String?
            if case .admin(let needed) = route.access { role = needed.rawValue } else { role = nil }
            return Route(operation: Operation(method: route.method.rawValue, path: normalized(route.path)), access: route.access, role: role)
        }
    }

    // MARK: Tests

    @Test("Every registered route is documented and every documented operation is registered")
    func documentMatchesRoutes() throws {
        let routes = Self.tableRoutes()
        let documented = try Self.documentOperations()
        #expect(routes.count >= 20, "the route table holds only \(routes.count) routes")
        #expect(documented.count >= 20, "the parser found only \(documented.count) operations in \(Self.documentPath)")

        let registered = Set(routes.map(\.operation))
        let described = Set(documented.map { Operation(method: $0.operation.method, path: Self.normalized($0.operation.path)) })
        let undocumented = registered.subtracting(described).sorted().map(\.description)
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
        for route in Self.tableRoutes() {
            guard let entry = byOperation[route.operation] else { continue }  // reported by documentMatchesRoutes
            #expect(entry.role == route.role,
                    "\(route.operation) needs role \(route.role ?? "none"); the document says \(entry.role ?? "none")")
            if route.role != nil {
                #expect(entry.security == ["adminToken"], "\(route.operation) must declare security adminToken, not \(entry.security)")
            } else {
                #expect(!entry.security.contains("adminToken"), "\(route.operation) does not check an admin token but declares one")
            }
        }
    }

    @Test("Device routes declare the session signature (or a legacy device token), DDI routes the target token (or the gateway's); open routes declare no security")
    func deviceOperationsUseDeviceToken() throws {
        var byOperation: [Operation: DocumentOperation] = [:]
        for entry in try Self.documentOperations() {
            byOperation[Operation(method: entry.operation.method, path: Self.normalized(entry.operation.path))] = entry
        }
        let routes = Self.tableRoutes()
        #expect(routes.contains { $0.access == .device } && routes.contains { $0.access == .anyone })
        for route in routes {
            guard let entry = byOperation[route.operation] else { continue }
            switch route.access {
            case .device: #expect(entry.security == ["deviceSignature", "deviceToken"], "\(route.operation) declares \(entry.security)")
            case .anyone: #expect(entry.security.isEmpty, "\(route.operation) is open to anyone but declares \(entry.security)")
            case .ddi: #expect(entry.security == ["ddiTargetToken", "ddiGatewayToken"], "\(route.operation) declares \(entry.security)")
            case .metrics, .admin: break
            }
        }
    }
}
