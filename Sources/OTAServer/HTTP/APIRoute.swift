import Hummingbird
import OTACore

/// Who may call a route. The auth step in front of every handler checks it, so a handler
/// starts with its caller known.
enum Access: Sendable, Equatable {
    /// Anyone: liveness, the API document, the dashboard's files, and the two device calls
    /// that prove a key in their own body (register, session).
    case anyone
    /// Anyone, or with `--metrics-need-token` a viewer.
    case metrics
    /// A device's signed request (or a legacy device token). The signature covers the body's
    /// digest, which the handler checks once it has read the body (`RouteContext.device`).
    case device
    /// An admin-API token with at least this role.
    case admin(AdminAPI.Role)
}

/// Who called, as the auth step found.
enum Caller: Sendable {
    case anonymous
    case device(ServerServices.DeviceCaller)
    case admin(AdminIdentity)
}

/// One operation of the API: its method and path, who may call it, and what answers. Every
/// route is in `APIRoute.all`, which the server registers and the OpenAPI test reads.
struct APIRoute: Sendable {
    let method: HTTPRequest.Method
    /// Hummingbird's syntax, from the root: "api/v1/devices/:id".
    let path: String
    let access: Access
    let handler: @Sendable (Request, RouteContext) async throws -> Response

    init(_ method: HTTPRequest.Method, _ path: String, _ access: Access,
         _ handler: @escaping @Sendable (Request, RouteContext) async throws -> Response) {
        self.method = method
        self.path = path
        self.access = access
        self.handler = handler
    }

    static let all: [APIRoute] = SystemRoutes.routes + DeviceRoutes.routes + PublishingRoutes.routes + DeploymentRoutes.routes
        + DeviceAdminRoutes.routes + TrustRoutes.routes + DashboardRoutes.routes

    /// Registers `routes` on `router`, each behind the auth step its access asks for.
    static func register(_ routes: [APIRoute], on router: Router<ServerRequestContext>, services: ServerServices) {
        for route in routes {
            router.on(RouterPath(route.path), method: route.method) { request, http in
                let caller = try await services.authenticate(request, for: route.access)
                // A device or an operator proved who it is: its connection is no stranger's.
                if case .anonymous = caller {} else { services.connections.proved(http.channel) }
                return try await route.handler(request, RouteContext(services: services, http: http, caller: caller))
            }
        }
    }
}

/// What a handler has beside the request: the server's services (`context.fleet`, …), the
/// path's parameters and the caller.
@dynamicMemberLookup
struct RouteContext {
    let services: ServerServices
    let http: ServerRequestContext
    let caller: Caller

    subscript<Value>(dynamicMember keyPath: KeyPath<ServerServices, Value>) -> Value { services[keyPath: keyPath] }

    /// A path parameter the route's path names.
    func parameter(_ name: String) throws -> String { try http.parameter(name) }

    /// The admin behind an `.admin` route.
    var admin: AdminIdentity {
        guard case .admin(let identity) = caller else { preconditionFailure("only .admin routes have an admin caller") }
        return identity
    }

    /// The device behind a `.device` route; its body is still to be checked against the
    /// signed digest (`signedBody`).
    var device: ServerServices.DeviceCaller {
        guard case .device(let device) = caller else { preconditionFailure("only .device routes have a device caller") }
        return device
    }
}

extension ServerServices {
    /// The auth step: who is calling, as `access` asks (401 or 403 otherwise).
    func authenticate(_ request: Request, for access: Access) async throws -> Caller {
        switch access {
        case .anyone:
            return .anonymous
        case .metrics:
            return configuration.metricsNeedToken ? .admin(try await admin(request, .viewer)) : .anonymous
        case .device:
            let caller = try await deviceCaller(request)
            // A request without a body has nothing left to check later.
            if request.method == .get || request.method == .head { try caller.check(ByteBuffer()) }
            return .device(caller)
        case .admin(let role):
            return .admin(try await admin(request, role))
        }
    }
}
