import Hummingbird
import OTACore

enum JSONResponse {
    static func make<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok) throws -> Response {
        let body = try StrictJSON.encode(value)
        return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }

    /// An answer that carries a secret shown once: no cache along the way may keep it.
    static func secret<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok) throws -> Response {
        var response = try make(value, status: status)
        response.headers[.cacheControl] = "no-store"
        return response
    }
}

extension Request {
    /// The body as `T`, strictly: at most `limit` bytes of JSON, no unknown fields (unless
    /// `allowUnknownFields`).
    func decodeJSON<T: Codable>(_ type: T.Type, what: String = "request body", limit: Int = 1 << 20,
                                allowUnknownFields: Bool = false) async throws -> T {
        try Self.decodeJSON(T.self, from: try await collectJSON(what: what, limit: limit), what: what, allowUnknownFields: allowUnknownFields)
    }

    /// The raw body of a JSON request, at most `limit` bytes (device requests are signed
    /// over these very bytes).
    func collectJSON(what: String, limit: Int) async throws -> ByteBuffer {
        if let contentType = headers[.contentType], !contentType.lowercased().hasPrefix("application/json") {
            throw APIError(.unsupportedMediaType, .unsupportedMediaType, "send the \(what) as application/json, not \(contentType)")
        }
        // A body declared larger than the limit is refused before a byte of it is read, so
        // that it cannot hold the connection while it trickles in.
        if let declared = headers[.contentLength].flatMap({ Int($0) }), declared > limit {
            throw APIError.tooLarge("the \(what) is larger than \(limit) bytes")
        }
        do { return try await body.collect(upTo: limit) } catch {
            throw APIError.tooLarge("the \(what) is larger than \(limit) bytes")
        }
    }

    static func decodeJSON<T: Codable>(_ type: T.Type, from buffer: ByteBuffer, what: String, allowUnknownFields: Bool = false) throws -> T {
        do {
            if allowUnknownFields { return try StrictJSON.decode(T.self, from: buffer.readableBytesView, what: what) }
            return try StrictJSON.decodeRejectingUnknownFields(T.self, from: buffer.readableBytesView, what: what)
        } catch let error as JSONInputError {
            throw APIError.badRequest(error.description, code: error.isValueProblem ? .badRequest : .invalidJSON)
        } catch {
            throw APIError.badRequest(String(describing: error), code: .invalidJSON)
        }
    }

    /// A query parameter, or nil when absent.
    func query(_ name: String) -> String? { uri.queryParameters.get(name) }

    func queryInt(_ name: String, default value: Int, range: ClosedRange<Int>) throws -> Int {
        guard let text = query(name) else { return value }
        guard let number = Int(text), range.contains(number) else {
            throw APIError.badRequest("query parameter \(name) must be a whole number from \(range.lowerBound) to \(range.upperBound)")
        }
        return number
    }
}

extension RequestContext {
    /// A path parameter that the route guarantees, percent-decoded (a version's build
    /// metadata comes as `1.0.0%2Bbuild`, as clients escape `+`).
    func parameter(_ name: String) throws -> String {
        guard let raw = parameters.get(name) else { throw APIError.badRequest("missing path parameter \(name)") }
        guard let value = raw.removingPercentEncoding else {
            throw APIError.badRequest("path parameter \(name) is not valid percent-encoding")
        }
        return value
    }

    /// A path parameter as the domain type it names: a bad one is a 400 before the handler
    /// reads it.
    func parameter<T: PathParameter>(_ name: String, as type: T.Type) throws -> T {
        let text = try parameter(name)
        guard let value = T(pathText: text) else {
            throw APIError.badRequest("'\(PayloadPath.printable(String(text.prefix(128))))' is not a valid \(T.pathWhat)")
        }
        return value
    }
}

extension Request {
    /// A query parameter as the domain type it names, or nil when absent (400 when malformed).
    func query<T: PathParameter>(_ name: String, as type: T.Type) throws -> T? {
        guard let text = query(name) else { return nil }
        guard let value = T(pathText: text) else {
            throw APIError.badRequest("query parameter \(name): '\(PayloadPath.printable(String(text.prefix(128))))' is not a valid \(T.pathWhat)")
        }
        return value
    }
}

/// A value a path or query parameter can name.
protocol PathParameter {
    init?(pathText: String)
    static var pathWhat: String { get }
}

extension PathParameter where Self: ValidatedName {
    init?(pathText: String) { self.init(rawValue: pathText) }
    static var pathWhat: String { what }
}

extension DeviceID: PathParameter {}
extension BundleName: PathParameter {}
extension HardwareClass: PathParameter {}
extension Tag: PathParameter {}
extension GroupName: PathParameter {}
extension DeploymentID: PathParameter {}
extension TokenID: PathParameter {}
extension Channel: PathParameter {}
extension DeviceIDPrefix: PathParameter {}

extension SHA256Digest: PathParameter {
    init?(pathText: String) { self.init(hex: pathText) }
    static var pathWhat: String { "SHA-256 digest" }
}

extension SemanticVersion: PathParameter {
    init?(pathText: String) { try? self.init(pathText) }
    static var pathWhat: String { "semantic version" }
}

extension Timestamp: PathParameter {
    /// Any RFC 3339 time, held within 1970 to 9999: a filter before year 1 selects what one
    /// before 1970 does.
    init?(pathText: String) {
        guard pathText.utf8.count <= 64, let seconds = Timestamp.parse(pathText) else { return nil }
        self.init(clamping: seconds)
    }
    static var pathWhat: String { "RFC 3339 time like 2026-11-29T02:00:00Z" }
}

extension DeviceUpdateState: PathParameter {
    init?(pathText: String) { self.init(rawValue: pathText) }
    static var pathWhat: String { "update state (\(allCases.map(\.rawValue).joined(separator: ", ")))" }
}

extension DeviceAPI.DeviceStatus: PathParameter {
    init?(pathText: String) { self.init(rawValue: pathText) }
    static var pathWhat: String { "status (pending, accepted or rejected)" }
}
