import Hummingbird
import OTACore

/// Devices as operators see them: the fleet listing, one device, its tags and group, its
/// standing, its key, deletion and pre-authorisation. A write is applied to this instance's
/// cache through the change feed before the answer (`FleetCoherence.catchUp`), so the
/// operator's next request already sees it.
struct DeviceAdminController: Sendable {
    let devices: DeviceStore
    let writeBehind: CheckinWriteBehind
    let coherence: FleetCoherence
    let clock: any DomainClock

    static let routes: [Route<Self, AdminContext>] = [
        .admin(.viewer, .get, "api/v1/devices", Self.list),
        .admin(.viewer, .get, "api/v1/devices/:id", Self.show),
        .admin(.operator, .patch, "api/v1/devices/:id", Self.update),
        .admin(.operator, .delete, "api/v1/devices/:id", Self.delete),
        // Each route spelled out, so that the route table and openapi.yaml read the same.
        .admin(.operator, .post, "api/v1/devices/:id/accept", Self.accept),
        .admin(.operator, .post, "api/v1/devices/:id/reject", Self.reject),
        .admin(.operator, .put, "api/v1/devices/:id/key", Self.rekey),
        .admin(.operator, .post, "api/v1/devices/import", Self.importDevices),
        .admin(.operator, .post, "api/v1/devices/ddi", Self.addDDI),
        .admin(.operator, .post, "api/v1/devices/:id/ddi-token", Self.rotateDDIToken),
    ]

    func list(_ request: Request, _ context: AdminContext) async throws -> Response {
        try JSONResponse.make(try await devices.list(try Self.filter(from: request)))
    }

    func show(_ request: Request, _ context: AdminContext) async throws -> Response {
        let id = try context.parameter("id", as: DeviceID.self)
        guard let detail = try await devices.detail(id: id) else { throw APIError.notFound("no device \(id)") }
        return try JSONResponse.make(detail)
    }

    func update(_ request: Request, _ context: AdminContext) async throws -> Response {
        let id = try context.parameter("id", as: DeviceID.self)
        let body = try await request.decodeJSON(AdminAPI.DeviceUpdateRequest.self, what: "device update")
        guard try await devices.update(id: id, body, by: context.admin) else { throw APIError.notFound("no device \(id)") }
        return try await changed(id)
    }

    func delete(_ request: Request, _ context: AdminContext) async throws -> Response {
        let id = try context.parameter("id", as: DeviceID.self)
        // What check-ins queued for it is written first, so nothing of it lands after the delete.
        try await writeBehind.flush()
        guard try await devices.delete(id: id, by: context.admin) else { throw APIError.notFound("no device \(id)") }
        try await coherence.catchUp()
        return Response(status: .noContent)
    }

    func accept(_ request: Request, _ context: AdminContext) async throws -> Response { try await setStatus(.accepted, request, context) }
    func reject(_ request: Request, _ context: AdminContext) async throws -> Response { try await setStatus(.rejected, request, context) }

    private func setStatus(_ status: DeviceAPI.DeviceStatus, _ request: Request, _ context: AdminContext) async throws -> Response {
        let id = try context.parameter("id", as: DeviceID.self)
        guard try await devices.setStatus(id: id, status, by: context.admin) else { throw APIError.notFound("no device \(id)") }
        return try await changed(id)
    }

    func rekey(_ request: Request, _ context: AdminContext) async throws -> Response {
        let id = try context.parameter("id", as: DeviceID.self)
        let body = try await request.decodeJSON(AdminAPI.DeviceKeyRequest.self, what: "device key")
        guard try await devices.setKey(id: id, publicKey: try DeviceEnrollmentController.checkedKey(body.publicKey), by: context.admin) else {
            throw APIError.notFound("no device \(id)")
        }
        return try await changed(id)
    }

    func importDevices(_ request: Request, _ context: AdminContext) async throws -> Response {
        let body = try await request.decodeJSON(AdminAPI.DeviceImportRequest.self, what: "device import", limit: 32 << 20)
        let answer = try await devices.preauthorize(body.devices, by: context.admin, now: clock.now)
        guard answer.ddiTokens != nil else { return try JSONResponse.make(answer, status: .created) }
        // DDI devices are registered at once: this instance's cache should know them when we
        // answer. But they are committed, and this answer holds the only copy of their tokens:
        // if the cache cannot catch up now, the change feed brings them a moment later.
        do { try await coherence.catchUp() } catch {
            context.logger.warning("imported DDI devices are committed; this instance's cache will see them through the change feed: \(error)")
        }
        return try JSONResponse.secret(answer, status: .created)
    }

    /// A device on hawkBit's DDI API, with its token (shown this once).
    func addDDI(_ request: Request, _ context: AdminContext) async throws -> Response {
        let body = try await request.decodeJSON(AdminAPI.DDIDeviceRequest.self, what: "DDI device")
        let token = try await devices.addDDI(body, by: context.admin, now: clock.now)
        try await coherence.catchUp()
        return try JSONResponse.secret(AdminAPI.DDIToken(deviceID: body.deviceID, token: token), status: .created)
    }

    /// A new token for a DDI device; the old one stops working at once.
    func rotateDDIToken(_ request: Request, _ context: AdminContext) async throws -> Response {
        let id = try context.parameter("id", as: DeviceID.self)
        guard let token = try await devices.rotateDDIToken(id: id, by: context.admin) else { throw APIError.notFound("no DDI device \(id)") }
        try await coherence.catchUp()
        return try JSONResponse.secret(AdminAPI.DDIToken(deviceID: id, token: token))
    }

    /// The device as it is now, once this instance's cache took the change.
    private func changed(_ id: DeviceID) async throws -> Response {
        try await coherence.catchUp()
        guard let detail = try await devices.detail(id: id, eventLimit: 0) else { throw APIError.notFound("no device \(id)") }
        return try JSONResponse.make(detail.device)
    }

    static func filter(from request: Request) throws -> DeviceStore.Filter {
        var filter = DeviceStore.Filter()
        filter.hardware = try request.query("hardware", as: HardwareClass.self)
        filter.tag = try request.query("tag", as: Tag.self)
        filter.group = try request.query("group", as: GroupName.self)
        filter.bundle = try request.query("bundle", as: BundleName.self)
        filter.version = try request.query("version", as: SemanticVersion.self)
        filter.state = try request.query("state", as: DeviceUpdateState.self)
        filter.status = try request.query("status", as: DeviceAPI.DeviceStatus.self)
        filter.idPrefix = try request.query("q", as: DeviceIDPrefix.self)
        filter.cursor = try request.query("cursor", as: DeviceID.self)?.rawValue
        if let trust = request.query("trust") {
            guard trust == "stale" else { throw APIError.badRequest("trust must be 'stale' (devices whose trust report shows a problem or expired release metadata)") }
            filter.staleTrust = true
        }
        filter.seenBefore = try request.query("seen_before", as: Timestamp.self)
        filter.seenAfter = try request.query("seen_after", as: Timestamp.self)
        filter.limit = try request.queryInt("limit", default: 100, range: 1...1000)
        return filter
    }
}

/// Enrollment tokens, the audit log and the fleet overview.
struct FleetAdminController: Sendable {
    let tokens: TokenStore
    let quality: QualityStore
    let db: any SQLDatabase

    static let routes: [Route<Self, AdminContext>] = [
        .admin(.operator, .post, "api/v1/enrollment-tokens", Self.createToken),
        .admin(.operator, .get, "api/v1/enrollment-tokens", Self.listTokens),
        .admin(.operator, .delete, "api/v1/enrollment-tokens/:id", Self.revokeToken),
        .admin(.admin, .get, "api/v1/audit", Self.audit),
        .admin(.viewer, .get, "api/v1/fleet/summary", Self.summary),
    ]

    func createToken(_ request: Request, _ context: AdminContext) async throws -> Response {
        let body = try await request.decodeJSON(AdminAPI.EnrollmentTokenCreateRequest.self, what: "enrollment token")
        return try JSONResponse.make(try await tokens.createEnrollmentToken(body, by: context.admin), status: .created)
    }

    func listTokens(_ request: Request, _ context: AdminContext) async throws -> Response {
        try JSONResponse.make(AdminAPI.EnrollmentTokenList(tokens: try await tokens.listEnrollmentTokens()))
    }

    func revokeToken(_ request: Request, _ context: AdminContext) async throws -> Response {
        let id = try context.parameter("id", as: TokenID.self)
        guard try await tokens.revokeEnrollmentToken(id: id, by: context.admin) else {
            throw APIError.notFound("no active enrollment token \(id)")
        }
        return Response(status: .noContent)
    }

    func audit(_ request: Request, _ context: AdminContext) async throws -> Response {
        let limit = try request.queryInt("limit", default: 100, range: 1...1000)
        let cursor = try request.query("cursor").map { text -> Int64 in
            guard let value = Int64(text), value > 0 else { throw APIError.badRequest("cursor must be a positive number from next_cursor") }
            return value
        }
        return try JSONResponse.make(try await db.read { db in try await AuditLog.page(db, before: cursor, limit: limit) })
    }

    func summary(_ request: Request, _ context: AdminContext) async throws -> Response {
        let silentAfter = try request.queryInt("silent_after_s", default: 3600, range: 1...(365 * 86_400))
        var summary = try await FleetSummary.load(db, silentAfterSeconds: silentAfter)
        summary.metrics = try await quality.versionMetrics()
        return try JSONResponse.make(summary)
    }
}
