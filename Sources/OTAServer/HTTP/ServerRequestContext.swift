import Hummingbird
import NIOCore

/// What every request carries besides itself: the connection it came on (for the address it
/// came from, and for `ConnectionGate`), and who the auth middleware found calling.
struct ServerRequestContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    let channel: any Channel
    /// Set by `DeviceAuthMiddleware` or `AdminAuthMiddleware` in front of their routes.
    var caller: Caller = .anonymous

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }

    /// The peer's address as the socket sees it (a load balancer's, behind one).
    var peerAddress: SocketAddress? { channel.remoteAddress }
}

/// Who called, as the auth middleware found.
enum Caller: Sendable {
    case anonymous
    case device(DeviceCaller)
    case admin(AdminIdentity)
    case ddi(DDICaller)
}

/// The context of a device-API route: the device is known (its request signature checked),
/// so a handler cannot be reached without one.
struct DeviceContext: ChildRequestContext {
    var coreContext: CoreRequestContextStorage
    let channel: any Channel
    let device: DeviceCaller

    init(context: ServerRequestContext) throws {
        guard case .device(let device) = context.caller else {
            throw APIError.unauthorized("sign the request with the device's session (Signature-Input, Signature, Content-Digest)")
        }
        coreContext = context.coreContext
        channel = context.channel
        self.device = device
    }
}

/// The context of an admin-API route: the operator's token is known, with a role at least
/// the route's.
struct AdminContext: ChildRequestContext {
    var coreContext: CoreRequestContextStorage
    let channel: any Channel
    let admin: AdminIdentity

    init(context: ServerRequestContext) throws {
        guard case .admin(let admin) = context.caller else {
            throw APIError.unauthorized("send an admin-API token as 'Authorization: Bearer <token>' (create one with `ota-server token create`)")
        }
        coreContext = context.coreContext
        channel = context.channel
        self.admin = admin
    }
}
