import Hummingbird
import OTACore

/// Devices as operators see them, enrollment tokens, the audit log and the fleet summary.
enum DeviceAdminRoutes {
    static let routes: [APIRoute] = [
        APIRoute(.get, "api/v1/devices", .admin(.viewer)) { request, context in
            return try JSONResponse.make(try await context.devices.list(try filter(from: request)))
        },

        APIRoute(.get, "api/v1/devices/:id", .admin(.viewer)) { request, context in
            let id = try context.parameter("id")
            guard let detail = try await context.devices.detail(id: id) else { throw APIError.notFound("no device \(id.prefix(128))") }
            return try JSONResponse.make(detail)
        },

        APIRoute(.patch, "api/v1/devices/:id", .admin(.operator)) { request, context in
            let caller = context.admin
            let id = try context.parameter("id")
            let body = try await request.decodeJSON(AdminAPI.DeviceUpdateRequest.self, what: "device update")
            guard try await context.devices.update(id: id, body, by: caller) else { throw APIError.notFound("no device \(id.prefix(128))") }
            context.fleet.refreshIdentity(deviceID: id)
            return try JSONResponse.make(try await context.devices.detail(id: id, eventLimit: 0)!.device)
        },

        APIRoute(.delete, "api/v1/devices/:id", .admin(.operator)) { request, context in
            let caller = context.admin
            let id = try context.parameter("id")
            try await context.fleet.flush()
            guard try await context.devices.delete(id: id, by: caller) else { throw APIError.notFound("no device \(id.prefix(128))") }
            context.fleet.forget(deviceID: id)
            return Response(status: .noContent)
        },

        // Each route spelled out, so that the route table and openapi.yaml read the same.
        APIRoute(.post, "api/v1/devices/:id/accept", .admin(.operator)) { request, context in
            let caller = context.admin
            return try await setStatus(.accepted, of: try context.parameter("id"), by: caller, context.services)
        },
        APIRoute(.post, "api/v1/devices/:id/reject", .admin(.operator)) { request, context in
            let caller = context.admin
            return try await setStatus(.rejected, of: try context.parameter("id"), by: caller, context.services)
        },

        APIRoute(.put, "api/v1/devices/:id/key", .admin(.operator)) { request, context in
            let caller = context.admin
            let id = try context.parameter("id")
            let body = try await request.decodeJSON(AdminAPI.DeviceKeyRequest.self, what: "device key")
            guard try await context.devices.setKey(id: id, publicKey: try DeviceRoutes.checkedKey(body.publicKey), by: caller) else {
                throw APIError.notFound("no device \(id.prefix(128))")
            }
            context.fleet.refreshIdentity(deviceID: id)
            return try JSONResponse.make(try await context.devices.detail(id: id, eventLimit: 0)!.device)
        },

        APIRoute(.post, "api/v1/devices/import", .admin(.operator)) { request, context in
            let caller = context.admin
            let body = try await request.decodeJSON(AdminAPI.DeviceImportRequest.self, what: "device import", limit: 32 << 20)
            return try JSONResponse.make(AdminAPI.DeviceImportResponse(imported: try await context.devices.preauthorize(body.devices, by: caller)),
                                         status: .created)
        },

        APIRoute(.post, "api/v1/enrollment-tokens", .admin(.operator)) { request, context in
            let caller = context.admin
            let body = try await request.decodeJSON(AdminAPI.EnrollmentTokenCreateRequest.self, what: "enrollment token")
            if let maxUses = body.maxUses, maxUses < 1 { throw APIError.badRequest("max_uses must be at least 1") }
            if let seconds = body.expiresInSeconds, !(1...(10 * 365 * 86_400)).contains(seconds) {
                throw APIError.badRequest("expires_in_s must be from 1 second to 10 years")
            }
            if let name = body.name, name.isEmpty || name.utf8.count > 128 { throw APIError.badRequest("name must be 1 to 128 bytes") }
            for tag in body.tags ?? [] { if let problem = SafeName.problem(with: tag, what: "tag") { throw APIError.badRequest(problem) } }
            if let group = body.group, let problem = SafeName.problem(with: group, what: "group") { throw APIError.badRequest(problem) }
            if let hardware = body.hardware, let problem = SafeName.problem(with: hardware, what: "hardware") { throw APIError.badRequest(problem) }
            if let prefix = body.idPrefix, let problem = SafeName.problem(with: prefix, what: "id_prefix") { throw APIError.badRequest(problem) }
            return try JSONResponse.make(try await context.tokens.createEnrollmentToken(body, by: caller), status: .created)
        },

        APIRoute(.get, "api/v1/enrollment-tokens", .admin(.operator)) { request, context in
            return try JSONResponse.make(AdminAPI.EnrollmentTokenList(tokens: try await context.tokens.listEnrollmentTokens()))
        },

        APIRoute(.delete, "api/v1/enrollment-tokens/:id", .admin(.operator)) { request, context in
            let caller = context.admin
            let id = try context.parameter("id")
            guard try await context.tokens.revokeEnrollmentToken(id: id, by: caller) else {
                throw APIError.notFound("no active enrollment token \(id.prefix(64))")
            }
            return Response(status: .noContent)
        },

        APIRoute(.get, "api/v1/audit", .admin(.admin)) { request, context in
            let limit = try request.queryInt("limit", default: 100, range: 1...1000)
            let cursor = try request.query("cursor").map { text -> Int64 in
                guard let value = Int64(text), value > 0 else { throw APIError.badRequest("cursor must be a positive number from next_cursor") }
                return value
            }
            let page = try await context.db.read { db in try AuditLog.page(db, before: cursor, limit: limit) }
            return try JSONResponse.make(page)
        },

        APIRoute(.get, "api/v1/fleet/summary", .admin(.viewer)) { request, context in
            let silentAfter = try request.queryInt("silent_after_s", default: 3600, range: 1...(365 * 86_400))
            var summary = try await FleetSummary.load(context.db, silentAfterSeconds: silentAfter)
            summary.metrics = try await context.quality.versionMetrics()
            return try JSONResponse.make(summary)
        },
    ]

    static func setStatus(_ status: DeviceAPI.DeviceStatus, of id: String, by caller: AdminIdentity,
                          _ services: ServerServices) async throws -> Response {
        guard try await services.devices.setStatus(id: id, status, by: caller) else { throw APIError.notFound("no device \(id.prefix(128))") }
        services.fleet.refreshIdentity(deviceID: id)
        return try JSONResponse.make(try await services.devices.detail(id: id, eventLimit: 0)!.device)
    }

    static func filter(from request: Request) throws -> DeviceStore.Filter {
        var filter = DeviceStore.Filter()
        func name(_ key: String) throws -> String? {
            guard let value = request.query(key) else { return nil }
            if let problem = SafeName.problem(with: value, what: key) { throw APIError.badRequest(problem) }
            return value
        }
        func time(_ key: String) throws -> Int64? {
            guard let value = request.query(key) else { return nil }
            guard let epoch = Timestamp.parse(value) else { throw APIError.badRequest("\(key) must be an RFC 3339 time like 2026-11-29T02:00:00Z") }
            return epoch
        }
        filter.hardware = try name("hardware")
        filter.tag = try name("tag")
        filter.group = try name("group")
        filter.bundle = try name("bundle")
        filter.state = try name("state")
        filter.cursor = try name("cursor")
        filter.idPrefix = try name("q")
        if let status = request.query("status") {
            guard let value = DeviceAPI.DeviceStatus(rawValue: status) else { throw APIError.badRequest("status must be pending, accepted or rejected") }
            filter.status = value
        }
        if let version = request.query("version") {
            guard (try? SemanticVersion(version)) != nil else { throw APIError.badRequest("version '\(version.prefix(64))' is not a semantic version") }
            filter.version = version
        }
        if let trust = request.query("trust") {
            guard trust == "stale" else { throw APIError.badRequest("trust must be 'stale' (devices whose trust report shows a problem or expired release metadata)") }
            filter.staleTrust = true
        }
        filter.seenBefore = try time("seen_before")
        filter.seenAfter = try time("seen_after")
        filter.limit = try request.queryInt("limit", default: 100, range: 1...1000)
        return filter
    }
}
