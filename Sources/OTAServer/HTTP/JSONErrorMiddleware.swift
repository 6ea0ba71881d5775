import Hummingbird
import Logging

/// Makes every failure a JSON error body: Hummingbird's own errors (unknown route) and
/// anything unexpected, which is logged and answered with a 500 that reveals
/// nothing internal.
struct JSONErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    let logger: Logger

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as APIError {
            throw error
        } catch let error as HTTPError {
            let message = error.body ?? Self.defaultMessage(error.status, request: request)
            throw APIError(error.status, Self.code(error.status), message)
        } catch {
            logger.error("request failed", metadata: ["method": "\(request.method)", "path": "\(request.uri.path)", "error": "\(error)"])
            throw APIError(.internalServerError, "internal", "the server failed to handle the request; see its log")
        }
    }

    static func code(_ status: HTTPResponse.Status) -> String {
        switch status.code {
        case 400: return "bad_request"
        case 401: return "unauthorized"
        case 403: return "forbidden"
        case 404: return "not_found"
        case 405: return "method_not_allowed"
        case 413: return "too_large"
        case 400..<500: return "client_error"
        default: return "internal"
        }
    }

    static func defaultMessage(_ status: HTTPResponse.Status, request: Request) -> String {
        switch status.code {
        case 404: return "no such endpoint: \(request.method) \(request.uri.path.prefix(200)) (see /openapi.yaml)"
        default: return status.reasonPhrase
        }
    }
}
