import Hummingbird
import Logging
import OTACore

/// How a device joins and proves itself: registration (with an enrollment token or as a
/// pre-authorised device), opening a session with its key, and binding a key to a device
/// registered before device keys. Strangers pay for their failures (`FailureLimiter`): an
/// address that failed too often this minute is refused before anything is verified.
struct DeviceEnrollmentController: Sendable {
    let devices: DeviceStore
    let sessions: DeviceSessions
    let registrations: RegistrationLimiter
    let failures: FailureLimiter
    let connections: ConnectionGate
    let coherence: FleetCoherence
    let trustedProxies: [IPNetwork]
    let db: any SQLDatabase
    let metrics: ServerMetrics
    let logger: Logger
    let clock: any DomainClock

    static let anonymousRoutes: [Route<Self, ServerRequestContext>] = [
        .anyone(.post, "api/v1/device/register", Self.register),
        .anyone(.post, "api/v1/device/session", Self.openSession),
    ]
    static let deviceRoutes: [Route<Self, DeviceContext>] = [
        .device(.post, "api/v1/device/key", Self.bindKey),
    ]

    func register(_ request: Request, _ context: ServerRequestContext) async throws -> Response {
        let source = clientAddress(request, context)
        let now = clock.now
        try checkFailures(from: source, now: now)
        do {
            let body = try await request.decodeJSON(DeviceAPI.RegisterRequest.self, what: "registration", limit: 64 * 1024)
            let key = try Self.checkedKey(body.publicKey)
            try await checkProof(body.proof, .register, deviceID: body.deviceID, key: key, now: now)
            // The device itself again (it proved it holds this key; an answer it lost): nothing
            // changes and no token is used, so it takes nothing from the fleet's registrations.
            // It still counts against its address, so a replayed registration cannot be free.
            if let (identity, status) = try await devices.registeredStanding(id: body.deviceID, publicKey: key) {
                failures.failed(source, now: now.secondsSinceEpoch)
                return try JSONResponse.make(DeviceAPI.RegisterResponse(deviceID: identity.id, status: status), status: .ok)
            }
            guard registrations.reserve(now: now.secondsSinceEpoch) else {
                var error = APIError(.tooManyRequests, .rateLimited, "too many registrations this minute; try again later")
                error.headers = [.retryAfter: "60"]
                throw error
            }
            let registered: (DeviceIdentity, DeviceAPI.DeviceStatus)
            do { registered = try await devices.register(body, publicKey: key) } catch {
                registrations.giveBack(now: now.secondsSinceEpoch)
                throw error
            }
            let (identity, status) = registered
            metrics.registrations.increment()
            logger.info("device registered", metadata: ["device": "\(identity.id)", "status": "\(status.rawValue)"])
            return try JSONResponse.make(DeviceAPI.RegisterResponse(deviceID: identity.id, status: status), status: .created)
        } catch let error where Self.isCallerFailure(error) {
            failures.failed(source, now: now.secondsSinceEpoch)
            throw error
        }
    }

    func openSession(_ request: Request, _ context: ServerRequestContext) async throws -> Response {
        let source = clientAddress(request, context)
        let now = clock.now
        try checkFailures(from: source, now: now)
        let body: DeviceAPI.SessionRequest
        do { body = try await request.decodeJSON(DeviceAPI.SessionRequest.self, what: "session request", limit: 16 * 1024) } catch {
            failures.failed(source, now: now.secondsSinceEpoch)
            throw error
        }
        // An unknown device and a proof that does not verify get the same answer after the
        // same work (one indexed read, one Ed25519 verification): nobody learns which ids exist.
        let device = try await devices.sessionKey(id: body.deviceID)
        let key = device?.publicKey ?? sessions.decoyKey
        let verified: Bool
        do {
            try DeviceProof.check(body.proof, .session, deviceID: body.deviceID, publicKey: key, now: now.secondsSinceEpoch)
            verified = true
        } catch { verified = false }
        guard let device, verified else {
            failures.failed(source, now: now.secondsSinceEpoch)
            throw APIError(.unauthorized, .unauthorized,
                           "no device \(body.deviceID) with a key whose signature this proof carries (unknown device, wrong key, or a proof that is malformed or more than \(DeviceProof.window) s from the server's time)")
        }
        guard try await DeviceSessions.firstUse(of: body.proof, deviceID: body.deviceID, db: db, now: now) else {
            throw APIError.unauthorized("this proof was used before; sign a new one")
        }
        switch device.status {
        case .accepted: break
        case .pending: throw APIError(.forbidden, .devicePending, "device \(body.deviceID) waits for an operator to accept it (otactl devices accept \(body.deviceID))")
        case .rejected: throw APIError(.forbidden, .deviceRejected, "device \(body.deviceID) was rejected by an operator")
        }
        // The device proved its key: its connection is no stranger's.
        connections.proved(context.channel)
        return try JSONResponse.make(sessions.open(deviceID: body.deviceID, epoch: device.sessionEpoch, now: now), status: .created)
    }

    func bindKey(_ request: Request, _ context: DeviceContext) async throws -> Response {
        let (body, _) = try await context.signedBody(request, DeviceAPI.BindKeyRequest.self, what: "key", limit: 16 * 1024)
        let key = try Self.checkedKey(body.publicKey)
        let device = context.device.identity
        try await checkProof(body.proof, .bindKey, deviceID: device.id, key: key, now: clock.now)
        try await devices.bindKey(deviceID: device.id, publicKey: key)
        try await coherence.catchUp()
        return Response(status: .noContent)
    }

    static func checkedKey(_ text: String) throws -> Ed25519PublicKey {
        guard let raw = Base64.decode(text, limit: 32), let key = try? Ed25519PublicKey(raw: raw) else {
            throw APIError.badRequest("public_key must be the base64 of a raw 32-byte Ed25519 public key")
        }
        return key
    }

    /// A proof must verify, be fresh and be new: a captured one is worth nothing.
    private func checkProof(_ proof: DeviceAPI.Proof, _ purpose: DeviceProof.Purpose, deviceID: DeviceID, key: Ed25519PublicKey,
                            now: Timestamp) async throws {
        do { try DeviceProof.check(proof, purpose, deviceID: deviceID, publicKey: key, now: now.secondsSinceEpoch) } catch {
            throw APIError.unauthorized(error.description)
        }
        guard try await DeviceSessions.firstUse(of: proof, deviceID: deviceID, db: db, now: now) else {
            throw APIError.unauthorized("this proof was used before; sign a new one")
        }
    }

    /// Where this request comes from, as per-source limits count it.
    private func clientAddress(_ request: Request, _ context: ServerRequestContext) -> ClientAddress? {
        ClientAddress.of(peer: context.peerAddress, forwardedFor: request.headers[.xForwardedFor], trustedProxies: trustedProxies)
    }

    /// Refuses a client address that failed too often this minute (`FailureLimiter`).
    private func checkFailures(from source: ClientAddress?, now: Timestamp) throws {
        guard failures.allows(source, now: now.secondsSinceEpoch) else {
            metrics.rateLimited.increment()
            var error = APIError(.tooManyRequests, .rateLimited, "too many failed attempts from this address; try again in a minute")
            error.headers = [.retryAfter: "60"]
            throw error
        }
    }

    /// Failures that are the caller's doing (a bad proof, token or body), which count
    /// against its address; not the server's own (a database away).
    static func isCallerFailure(_ error: any Error) -> Bool {
        if let error = error as? APIError { return (400..<500).contains(error.status.code) && error.status != .tooManyRequests }
        if let error = error as? RegistryError, case .corrupt = error { return false }
        return error is RegistryError
    }
}
