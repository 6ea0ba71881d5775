import HTTPTypes
import Hummingbird
import OTACore

/// An authenticated device request whose body is still to be read: the body's digest is
/// checked against the signed `Content-Digest` once it is in (nothing is buffered or hashed
/// for a request that is not authentic).
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
/// session key) over its method, path and Content-Digest; or, while the operator allows it,
/// from the bearer token of a device registered before device keys.
struct DeviceAuthentication: Sendable {
    let directory: DeviceDirectory
    let sessions: DeviceSessions
    let legacyDeviceTokens: Bool
    let clock: any DomainClock

    func caller(_ request: Request) async throws -> DeviceCaller {
        if let signature = RequestSignature.Received(signatureInput: request.headers[.signatureInput], signature: request.headers[.signature]) {
            return DeviceCaller(identity: try await device(request, signature: signature), contentDigest: request.headers[.contentDigest])
        }
        if request.headers[.signatureInput] != nil || request.headers[.signature] != nil {
            throw APIError.unauthorized("the request's Signature-Input or Signature header is malformed")
        }
        guard let secret = Secret.bearer(request.headers[.authorization]) else {
            throw APIError.unauthorized("sign the request with the device's session (Signature-Input, Signature, Content-Digest)")
        }
        guard legacyDeviceTokens else {
            throw APIError.unauthorized("device bearer tokens are no longer accepted; the device must use its key (upgrade ota-agent)")
        }
        // A DDI device's token opens the DDI API only.
        guard let identity = try await directory.authenticate(secret: secret), identity.protocol == .agent else {
            throw APIError.unauthorized("the device token is not valid; the device may have been deleted, or it now uses its key")
        }
        return DeviceCaller(identity: identity, contentDigest: nil)
    }

    private func device(_ request: Request, signature: RequestSignature.Received) async throws -> DeviceIdentity {
        let now = clock.now
        guard DeviceProof.isWithinWindow(signature.created, of: now.secondsSinceEpoch, window: RequestSignature.window) else {
            throw APIError.unauthorized("the request was signed \(signature.created.subtractingReportingOverflow(now.secondsSinceEpoch).partialValue) s away from the server's time: check the device's clock")
        }
        guard let claim = sessions.claim(signature.keyID, now: now) else {
            throw APIError(.unauthorized, .sessionExpired, "the session is unknown or expired: open a new one")
        }
        guard let digest = request.headers[.contentDigest], digest.utf8.count < 128 else {
            throw APIError.unauthorized("Content-Digest is missing")
        }
        guard signature.verifies(method: request.method.rawValue, path: request.uri.path, contentDigest: digest,
                                 key: sessions.key(for: signature.keyID)) else {
            throw APIError.unauthorized("the request's signature does not verify")
        }
        guard let identity = try await directory.authenticate(session: claim) else {
            throw APIError(.unauthorized, .sessionExpired, "the session's device is no longer accepted with this key")
        }
        return identity
    }
}

extension HTTPField.Name {
    static let signature = Self("Signature")!
    static let signatureInput = Self("Signature-Input")!
    static let contentDigest = Self("Content-Digest")!
}
