import Hummingbird
import OTACore

/// Every error answer: a status, a stable machine-readable code and one sentence for people,
/// as `{"error": {"code": …, "message": …}}`.
public struct APIError: HTTPResponseError, CustomStringConvertible {
    public let status: HTTPResponse.Status
    public let code: APIErrorCode
    public let message: String
    public var headers: HTTPFields = [:]

    public init(_ status: HTTPResponse.Status, _ code: APIErrorCode, _ message: String) {
        self.status = status
        self.code = code
        self.message = message
    }

    public var description: String { "\(status.code) \(code.rawValue): \(message)" }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var fields = headers
        fields[.contentType] = "application/json"
        let body = (try? StrictJSON.encode(APIErrorBody(code: code, message: message))) ?? Data()
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }

    static func badRequest(_ message: String, code: APIErrorCode = .badRequest) -> APIError { .init(.badRequest, code, message) }
    static func unauthorized(_ message: String) -> APIError { .init(.unauthorized, .unauthorized, message) }
    static func forbidden(_ message: String) -> APIError { .init(.forbidden, .forbidden, message) }
    static func notFound(_ message: String) -> APIError { .init(.notFound, .notFound, message) }
    static func conflict(_ message: String) -> APIError { .init(.conflict, .conflict, message) }
    static func tooLarge(_ message: String) -> APIError { .init(.contentTooLarge, .tooLarge, message) }
}
