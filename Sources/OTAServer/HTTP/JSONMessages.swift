import Hummingbird
import OTACore

enum JSONResponse {
    static func make<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok) throws -> Response {
        let body = try StrictJSON.encode(value)
        return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: body)))
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
            throw APIError(.unsupportedMediaType, "unsupported_media_type", "send the \(what) as application/json, not \(contentType)")
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
        } catch {
            throw APIError.badRequest(String(describing: error), code: "invalid_json")
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
    /// A path parameter that the route guarantees.
    func parameter(_ name: String) throws -> String {
        guard let value = parameters.get(name) else { throw APIError.badRequest("missing path parameter \(name)") }
        return value
    }
}
