import HTTPTypes
import Hummingbird
import Logging
import OTACore

/// What the routes work with, built once at start and shared (all members are Sendable).
struct ServerServices: Sendable {
    let configuration: ServerConfiguration
    let trust: TrustRepository
    let tokens: TokenStore
    let devices: DeviceStore
    let bundles: BundleStore
    let deployments: DeploymentStore
    let events: EventStore
    let quality: QualityStore
    let content: any ContentStore
    let storedFiles: StoredFiles
    let fleet: Fleet
    let metrics: ServerMetrics
    let logger: Logger
    let db: any SQLDatabase
    let sessions: DeviceSessions
    let registrations: RegistrationLimiter
    let connections: ConnectionGate
    /// Per-device quotas; nil when the operator turned them off.
    let quotas: DeviceQuotas?
    let failures: FailureLimiter

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

    /// An authenticated device request whose body is still to be read: the body's digest is
    /// checked against the signed `Content-Digest` once it is in (nothing is buffered or
    /// hashed for a request that is not authentic).
    struct DeviceCaller: Sendable {
        let identity: DeviceIdentity
        /// The signed Content-Digest; nil for a legacy bearer request.
        let contentDigest: String?

        func check(_ body: ByteBuffer) throws {
            guard let contentDigest else { return }
            guard contentDigest == RequestSignature.contentDigest(body.readableBytesView) else {
                throw APIError.unauthorized("Content-Digest does not match the body")
            }
        }
    }

    /// The device calling the device API, from the request's signature (RFC 9421, under a
    /// session key) over its method, path and Content-Digest; or, while the operator allows
    /// it, from the bearer token of a device registered before device keys.
    func deviceCaller(_ request: Request) async throws -> DeviceCaller {
        if let signature = RequestSignature.Received(signatureInput: request.headers[.signatureInput], signature: request.headers[.signature]) {
            return DeviceCaller(identity: try await device(request, signature: signature), contentDigest: request.headers[.contentDigest])
        }
        if request.headers[.signatureInput] != nil || request.headers[.signature] != nil {
            throw APIError.unauthorized("the request's Signature-Input or Signature header is malformed")
        }
        guard let secret = Secret.bearer(request.headers[.authorization]) else {
            throw APIError.unauthorized("sign the request with the device's session (Signature-Input, Signature, Content-Digest)")
        }
        guard configuration.legacyDeviceTokens else {
            throw APIError.unauthorized("device bearer tokens are no longer accepted; the device must use its key (upgrade ota-agent)")
        }
        guard let identity = try await fleet.authenticate(secret: secret) else {
            throw APIError.unauthorized("the device token is not valid; the device may have been deleted, or it now uses its key")
        }
        return DeviceCaller(identity: identity, contentDigest: nil)
    }

    private func device(_ request: Request, signature: RequestSignature.Received) async throws -> DeviceIdentity {
        let now = Timestamp.epochSeconds()
        guard DeviceProof.isWithinWindow(signature.created, of: now, window: RequestSignature.window) else {
            throw APIError.unauthorized("the request was signed \(signature.created.subtractingReportingOverflow(now).partialValue) s away from the server's time: check the device's clock")
        }
        guard let claim = sessions.claim(signature.keyID, now: now) else {
            throw APIError(.unauthorized, "session_expired", "the session is unknown or expired: open a new one")
        }
        guard let digest = request.headers[.contentDigest], digest.utf8.count < 128 else {
            throw APIError.unauthorized("Content-Digest is missing")
        }
        guard signature.verifies(method: request.method.rawValue, path: request.uri.path, contentDigest: digest,
                                 key: sessions.key(for: signature.keyID)) else {
            throw APIError.unauthorized("the request's signature does not verify")
        }
        guard let identity = try await fleet.authenticate(session: claim) else {
            throw APIError(.unauthorized, "session_expired", "the session's device is no longer accepted with this key")
        }
        return identity
    }
}

extension HTTPField.Name {
    static let signature = Self("Signature")!
    static let signatureInput = Self("Signature-Input")!
    static let contentDigest = Self("Content-Digest")!
}
