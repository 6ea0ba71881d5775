import Hummingbird
import OTACore

/// Who may call a route.
enum Access: Sendable, Equatable {
    /// Anyone: liveness, the API document, the dashboard's files, and the two device calls
    /// that prove a key in their own body (register, session).
    case anyone
    /// Anyone, or with `--metrics-need-token` a viewer.
    case metrics
    /// A device's signed request (or a legacy device token).
    case device
    /// An admin-API token with at least this role.
    case admin(AdminAPI.Role)
    /// A DDI client's `TargetToken` (or the gateway's token) for the controller in the path.
    case ddi
}

/// One operation of the API: its method, path and access, and the controller method that
/// answers it, with the context its access gives (`DeviceContext` for `.device`,
/// `AdminContext` for `.admin`). Controllers list their routes statically, so the route
/// table (`ServerRoutes.table`, which the OpenAPI test reads) needs no running server.
struct Route<Controller: Sendable, Context: RequestContext>: Sendable {
    let method: HTTPRequest.Method
    /// Hummingbird's syntax, from the root: "api/v1/devices/:id".
    let path: String
    let access: Access
    let handler: @Sendable (Controller) -> @Sendable (Request, Context) async throws -> Response

    var info: RouteInfo { RouteInfo(method: method, path: path, access: access) }
}

/// A route as the table lists it.
struct RouteInfo: Sendable, Equatable {
    let method: HTTPRequest.Method
    let path: String
    let access: Access
}

extension Route where Context == ServerRequestContext {
    static func anyone(_ method: HTTPRequest.Method, _ path: String,
                       _ handler: @escaping @Sendable (Controller) -> @Sendable (Request, Context) async throws -> Response) -> Self {
        Self(method: method, path: path, access: .anyone, handler: handler)
    }

    static func metrics(_ method: HTTPRequest.Method, _ path: String,
                        _ handler: @escaping @Sendable (Controller) -> @Sendable (Request, Context) async throws -> Response) -> Self {
        Self(method: method, path: path, access: .metrics, handler: handler)
    }
}

extension Route where Context == DeviceContext {
    static func device(_ method: HTTPRequest.Method, _ path: String,
                       _ handler: @escaping @Sendable (Controller) -> @Sendable (Request, Context) async throws -> Response) -> Self {
        Self(method: method, path: path, access: .device, handler: handler)
    }
}

extension Route where Context == DDIContext {
    static func ddi(_ method: HTTPRequest.Method, _ path: String,
                    _ handler: @escaping @Sendable (Controller) -> @Sendable (Request, Context) async throws -> Response) -> Self {
        Self(method: method, path: path, access: .ddi, handler: handler)
    }
}

extension Route where Context == AdminContext {
    static func admin(_ role: AdminAPI.Role, _ method: HTTPRequest.Method, _ path: String,
                      _ handler: @escaping @Sendable (Controller) -> @Sendable (Request, Context) async throws -> Response) -> Self {
        Self(method: method, path: path, access: .admin(role), handler: handler)
    }

    var role: AdminAPI.Role {
        if case .admin(let role) = access { return role }
        return .admin
    }
}
