import Hummingbird
import NIOCore
import OTACore

/// A DDI request whose caller is known: the device, the tenant as the client spelled it (its
/// links keep that spelling, as hawkBit's do) and the address the client reached us at.
struct DDICaller: Sendable {
    let identity: DeviceIdentity
    let tenant: String
    /// `scheme://host[:port]`, for the absolute links DDI clients follow as given.
    let origin: String

    /// `…/{tenant}/controller/v1/{controllerId}`: where every link of this device starts.
    var controllerURL: String { "\(origin)/\(tenant)/controller/v1/\(identity.id)" }
}

/// In front of every DDI route: the tenant must be this server's, and
/// `Authorization: TargetToken <token>` must be the token of the DDI device the path names
/// (one device's token never opens another's controller). `GatewayToken` stands for every
/// DDI device, only when the operator enabled one.
struct DDIAuthMiddleware: RouterMiddleware {
    typealias Context = ServerRequestContext
    let directory: DeviceDirectory
    let devices: DeviceStore
    let settings: DDISettings
    let scheme: String
    let connections: ConnectionGate

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let tenant = try context.parameter("tenant")
        guard settings.serves(tenant: tenant) else {
            throw APIError.notFound("no such tenant on this server")
        }
        let controllerID = try context.parameter("controllerId")
        let authorization = request.headers[.authorization]
        let identity: DeviceIdentity
        if let token = Secret.credential(authorization, scheme: "TargetToken") {
            guard let found = try await directory.authenticate(secret: token), found.protocol == .ddi, found.id.rawValue == controllerID else {
                throw APIError.unauthorized("the target token is not valid for controller '\(PayloadPath.printable(String(controllerID.prefix(128))))'")
            }
            identity = found
        } else if let token = Secret.credential(authorization, scheme: "GatewayToken") {
            guard let hash = settings.gatewayTokenHash, Secret.hash(token) == hash else {
                throw APIError.unauthorized("gateway tokens are not accepted here, or this one is wrong")
            }
            guard let id = DeviceID(rawValue: controllerID), let found = try await devices.ddiIdentity(id: id) else {
                throw APIError.unauthorized("no accepted DDI device '\(PayloadPath.printable(String(controllerID.prefix(128))))'")
            }
            identity = found
        } else {
            throw APIError.unauthorized("send 'Authorization: TargetToken <token>' with the token `otactl devices add-ddi` printed")
        }
        let origin: String
        if let publicURL = settings.publicURL {
            origin = publicURL
        } else {
            guard let host = request.head.authority, DDISettings.isValidAuthority(host) else {
                throw APIError.badRequest("the request names no valid host (Host header) to build links with")
            }
            origin = "\(scheme)://\(host)"
        }
        connections.proved(context.channel)
        var context = context
        context.caller = .ddi(DDICaller(identity: identity, tenant: tenant, origin: origin))
        return try await next(request, context)
    }
}

/// The context of a DDI route: a handler cannot be reached without an authenticated device.
struct DDIContext: ChildRequestContext {
    var coreContext: CoreRequestContextStorage
    let channel: any NIOCore.Channel
    let caller: DDICaller

    init(context: ServerRequestContext) throws {
        guard case .ddi(let caller) = context.caller else {
            throw APIError.unauthorized("send 'Authorization: TargetToken <token>' with the token `otactl devices add-ddi` printed")
        }
        coreContext = context.coreContext
        channel = context.channel
        self.caller = caller
    }

    var device: DeviceIdentity { caller.identity }
}
