import Hummingbird
import Logging
import OTACore

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
        } catch let error as RegistryError {
            throw Self.apiError(error, logger: logger)
        } catch let error as ContentError {
            throw Self.apiError(error, logger: logger)
        } catch let error as HTTPError {
            let message = error.body ?? Self.defaultMessage(error.status, request: request)
            throw APIError(error.status, Self.code(error.status), message)
        } catch let error where RegistryDatabase.unavailability(error) != nil {
            let reason = RegistryDatabase.unavailability(error)!
            logger.warning("database unavailable", metadata: ["path": "\(request.uri.path)", "error": "\(error)"])
            // The reason names the database's address and its own words: for the log only.
            logger.debug("database unavailability", metadata: ["reason": "\(reason)"])
            var answer = APIError(.serviceUnavailable, .databaseUnavailable, "the registry database is unavailable just now; nothing was changed, try again shortly")
            answer.headers = [.retryAfter: "5"]
            throw answer
        } catch {
            logger.error("request failed", metadata: ["method": "\(request.method)", "path": "\(request.uri.path)", "error": "\(error)"])
            throw APIError(.internalServerError, .`internal`, "the server failed to handle the request; see its log")
        }
    }

    /// The one place the registry's refusals become HTTP.
    static func apiError(_ error: RegistryError, logger: Logger) -> APIError {
        switch error {
        case .invalid(let message, let code): return APIError(.badRequest, code, message)
        case .conflict(let message, let code): return APIError(.conflict, code, message)
        case .notFound(let message): return APIError.notFound(message)
        case .notAuthenticated(let message): return APIError.unauthorized(message)
        case .notAllowed(let message): return APIError.forbidden(message)
        case .corrupt(let message):
            logger.error("the registry contradicts itself", metadata: ["error": "\(message)"])
            return APIError(.internalServerError, .`internal`, "the server failed to handle the request; see its log")
        }
    }

    /// The one place content errors become HTTP: a store that cannot be reached is a 503 that
    /// devices and otactl retry after a while; a store that fails otherwise is the operator's
    /// to fix, so the details go to the log.
    static func apiError(_ error: ContentError, logger: Logger) -> APIError {
        switch error {
        case .digestMismatch: return APIError(.badRequest, .digestMismatch, error.description)
        case .tooLarge: return APIError.tooLarge(error.description)
        case .storage:
            logger.error("content store failed", metadata: ["error": "\(error)"])
            return APIError(.internalServerError, .storage, "the server could not store or read content; see its log")
        case .unavailable:
            logger.warning("content store unavailable", metadata: ["error": "\(error)"])
            var answer = APIError(.serviceUnavailable, .storageUnavailable, "the content store is unavailable just now; try again shortly")
            answer.headers = [.retryAfter: "10"]
            return answer
        }
    }

    static func code(_ status: HTTPResponse.Status) -> APIErrorCode {
        switch status.code {
        case 400: return .badRequest
        case 401: return .unauthorized
        case 403: return .forbidden
        case 404: return .notFound
        case 405: return .methodNotAllowed
        case 413: return .tooLarge
        case 400..<500: return .clientError
        default: return .internal
        }
    }

    static func defaultMessage(_ status: HTTPResponse.Status, request: Request) -> String {
        switch status.code {
        case 404: return "no such endpoint: \(request.method) \(request.uri.path.prefix(200)) (see /openapi.yaml)"
        default: return status.reasonPhrase
        }
    }
}
