import GRDB
import Hummingbird
import Logging
import OTACore

/// What the routes work with, built once at start and shared (all members are Sendable).
struct ServerServices: Sendable {
    let configuration: ServerConfiguration
    let trust: TrustRoot
    let tokens: TokenStore
    let devices: DeviceStore
    let bundles: BundleStore
    let deployments: DeploymentStore
    let events: EventStore
    let content: any ContentStore
    let fleet: Fleet
    let metrics: ServerMetrics
    let logger: Logger
    let db: DatabasePool

    /// The admin-API caller, who must hold at least `role`.
    func admin(_ request: Request, _ role: AdminAPI.Role) async throws -> AdminIdentity {
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

    /// The device calling the device API.
    func device(_ request: Request) async throws -> DeviceIdentity {
        guard let secret = Secret.bearer(request.headers[.authorization]) else {
            throw APIError.unauthorized("send the device token as 'Authorization: Bearer <token>'")
        }
        guard let identity = try await fleet.authenticate(secret: secret) else {
            throw APIError.unauthorized("the device token is not valid; the device may have been deleted and must register again")
        }
        return identity
    }
}
