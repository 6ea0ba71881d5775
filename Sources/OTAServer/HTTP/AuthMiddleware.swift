import Hummingbird
import OTACore

/// In front of every device route: finds the device from the request's signature (or a
/// legacy bearer token) before the handler runs. Its body is checked against the signed
/// digest once read (`DeviceCaller.check`); a GET has none, so it is checked here.
struct DeviceAuthMiddleware: RouterMiddleware {
    typealias Context = ServerRequestContext
    let authentication: DeviceAuthentication
    let connections: ConnectionGate

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let caller = try await authentication.caller(request)
        if request.method == .get || request.method == .head { try caller.check(ByteBuffer()) }
        // A device proved who it is: its connection is no stranger's.
        connections.proved(context.channel)
        var context = context
        context.caller = .device(caller)
        return try await next(request, context)
    }
}

/// In front of every admin route: the bearer token must hold at least `role`.
struct AdminAuthMiddleware: RouterMiddleware {
    typealias Context = ServerRequestContext
    let role: AdminAPI.Role
    let tokens: TokenStore
    let connections: ConnectionGate

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let admin = try await Self.admin(request, role, tokens: tokens)
        connections.proved(context.channel)
        var context = context
        context.caller = .admin(admin)
        return try await next(request, context)
    }

    /// The admin-API caller, who must hold at least `role`.
    static func admin(_ request: Request, _ role: AdminAPI.Role, tokens: TokenStore) async throws -> AdminIdentity {
        guard let secret = Secret.bearer(request.headers[.authorization]) else {
            throw APIError.unauthorized("send an admin-API token as 'Authorization: Bearer <token>' (create one with `ota-server token create`)")
        }
        guard let identity = try await tokens.adminIdentity(secretHash: Secret.hash(secret)) else {
            throw APIError.unauthorized("the token is not a valid admin-API token (unknown or revoked)")
        }
        guard identity.role.allows(role) else {
            throw APIError.forbidden("this needs the \(role.rawValue) role; the token '\(identity.name)' has the \(identity.role.rawValue) role")
        }
        return identity
    }
}

/// `GET /metrics` is open unless the operator asked for a viewer token.
struct MetricsAuthMiddleware: RouterMiddleware {
    typealias Context = ServerRequestContext
    let needsToken: Bool
    let tokens: TokenStore

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if needsToken { _ = try await AdminAuthMiddleware.admin(request, .viewer, tokens: tokens) }
        return try await next(request, context)
    }
}
