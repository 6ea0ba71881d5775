/// The closed sets of the registry, one spelling each, shared by server, agent and otactl.

/// What an operator does to a deployment.
public enum DeploymentControl: String, Codable, CaseIterable, Sendable {
    case advance, pause, resume, cancel
}

/// The state a device last reported, across its updates.
public enum DeviceUpdateState: String, Codable, CaseIterable, Sendable {
    /// No update reported yet.
    case idle
    case downloading, downloaded, shadow, installing
    case healthCheck = "health-check"
    case succeeded, failed
    case rolledBack = "rolled-back"
    case abandoned

    public init(_ step: DeviceAPI.UpdateState) { self = DeviceUpdateState(rawValue: step.rawValue)! }
}

/// How a device talks to the server: `ota-agent` on the device API, or a device's own update
/// client (SWUpdate, RAUC) on hawkBit's DDI API.
public enum DeviceProtocol: String, Codable, CaseIterable, Sendable {
    case agent, ddi
}

/// Who did something the audit log records: an admin-API role, or the server itself.
public enum AuditRole: String, Codable, CaseIterable, Sendable {
    case viewer, publisher, `operator`, admin
    /// The server, on its own (a device registering, a rollout policy deciding).
    case system

    public init(_ role: AdminAPI.Role) { self = AuditRole(rawValue: role.rawValue)! }
}

/// What the audit log records.
public enum AuditAction: String, Codable, CaseIterable, Sendable {
    case tokenCreate = "token.create", tokenRevoke = "token.revoke"
    case contentUpload = "content.upload", bundlePublish = "bundle.publish"
    case deploymentCreate = "deployment.create", deploymentAdvance = "deployment.advance", deploymentPause = "deployment.pause"
    case deploymentResume = "deployment.resume", deploymentCancel = "deployment.cancel"
    case deviceRegister = "device.register", deviceAccept = "device.accept", deviceReject = "device.reject"
    case deviceUpdate = "device.update", deviceDelete = "device.delete", deviceImport = "device.import"
    case deviceRekey = "device.rekey", deviceBindKey = "device.bind_key"
    case deviceAddDDI = "device.add_ddi", deviceRotateToken = "device.rotate_token"
    case enrollmentTokenCreate = "enrollment_token.create", enrollmentTokenRevoke = "enrollment_token.revoke"
    case trustRootPublish = "trust.root.publish", trustReleasePublish = "trust.release.publish"

    public init(_ control: DeploymentControl) {
        switch control {
        case .advance: self = .deploymentAdvance
        case .pause: self = .deploymentPause
        case .resume: self = .deploymentResume
        case .cancel: self = .deploymentCancel
        }
    }
}

/// The stable, machine-readable code of every error answer (`{"error": {"code": …}}`).
/// Clients branch on it, never on the message.
public enum APIErrorCode: String, Codable, CaseIterable, Sendable {
    case badRequest = "bad_request", invalidJSON = "invalid_json", unsupportedMediaType = "unsupported_media_type"
    case unauthorized, forbidden, notFound = "not_found", methodNotAllowed = "method_not_allowed", conflict
    case tooLarge = "too_large", rangeNotSatisfiable = "range_not_satisfiable", rateLimited = "rate_limited"
    case sessionExpired = "session_expired", devicePending = "device_pending", deviceRejected = "device_rejected"
    case notReleased = "not_released", legacyTrustRoot = "legacy_trust_root", untrusted
    case invalidEnvelope = "invalid_envelope", digestMismatch = "digest_mismatch", chunksMismatch = "chunks_mismatch"
    case contentMissing = "content_missing", gone
    case databaseUnavailable = "database_unavailable", storageUnavailable = "storage_unavailable", storage
    case clientError = "client_error", `internal`
    /// A code this build does not know (a newer server): handled like its status.
    case unknown

    public init(from decoder: any Decoder) throws {
        self = APIErrorCode(rawValue: try decoder.singleValueContainer().decode(String.self)) ?? .unknown
    }
}
