import OTACore

/// What the registry refuses, in its own words. The stores know nothing of HTTP: the status
/// for each case is chosen once, in `JSONErrorMiddleware`.
enum RegistryError: Error, CustomStringConvertible, Equatable {
    /// The request breaks a rule (400); `code` is the stable error code clients see.
    case invalid(String, code: APIErrorCode = .badRequest)
    /// The registry's state does not allow it now (409).
    case conflict(String, code: APIErrorCode = .conflict)
    case notFound(String)
    /// Credentials are missing, unknown, revoked or used up (401).
    case notAuthenticated(String)
    /// The caller is known but may not do this (403).
    case notAllowed(String)
    /// The stored data contradicts itself (500; the message goes to the log only).
    case corrupt(String)

    var description: String {
        switch self {
        case .invalid(let message, _), .conflict(let message, _), .notFound(let message), .notAuthenticated(let message),
             .notAllowed(let message), .corrupt(let message):
            return message
        }
    }
}
