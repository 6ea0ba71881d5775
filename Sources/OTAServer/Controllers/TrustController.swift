import Hummingbird
import Logging
import OTACore

/// The trust metadata over the admin API: operators publish roots (admin) and release
/// metadata (publisher) signed offline; anyone with a viewer token reads them back.
struct TrustController: Sendable {
    let trust: TrustRepository
    let devices: DeviceStore
    let coherence: FleetCoherence
    let db: any SQLDatabase
    let logger: Logger
    let clock: any DomainClock

    static let routes: [Route<Self, AdminContext>] = [
        .admin(.viewer, .get, "api/v1/trust", Self.show),
        .admin(.viewer, .get, "api/v1/trust/root/:version", Self.root),
        .admin(.admin, .post, "api/v1/trust/root", Self.publishRoot),
        .admin(.viewer, .get, "api/v1/trust/targets", Self.targets),
        .admin(.publisher, .post, "api/v1/trust/targets", Self.publishTargets),
    ]

    func show(_ request: Request, _ context: AdminContext) async throws -> Response {
        try JSONResponse.make(try await summary())
    }

    func root(_ request: Request, _ context: AdminContext) async throws -> Response {
        guard let version = Int(try context.parameter("version")), let bytes = trust.current?.roots[version] else {
            throw APIError.notFound("the server holds no root of that version")
        }
        return Self.envelopeResponse(bytes.bytes)
    }

    func publishRoot(_ request: Request, _ context: AdminContext) async throws -> Response {
        let caller = context.admin
        let root = try await Self.mapped { try await trust.publishRoot(try await Self.envelope(request)) }
        try await db.write { db in try await AuditLog.record(db, by: caller, action: .trustRootPublish, target: "root", detail: "version \(root.version)") }
        try await coherence.catchUp()
        logger.info("root published", metadata: ["version": "\(root.version)", "by": "\(caller.actor)"])
        return try JSONResponse.make(AdminAPI.TrustPublishResponse(role: .root, version: root.version, warning: trust.releaseWarning()),
                                     status: .created)
    }

    func targets(_ request: Request, _ context: AdminContext) async throws -> Response {
        guard let targets = trust.current?.targets else { throw APIError.notFound("no release metadata was published yet") }
        return Self.envelopeResponse(targets.bytes)
    }

    func publishTargets(_ request: Request, _ context: AdminContext) async throws -> Response {
        let caller = context.admin
        let reason = request.query("reason")
        if let reason, reason.isEmpty || reason.utf8.count > 2000 { throw APIError.badRequest("reason must be 1 to 2000 bytes") }
        let targets = try await Self.mapped { try await trust.publishTargets(try await Self.envelope(request)) }
        try await db.write { db in
            try await AuditLog.record(db, by: caller, action: .trustReleasePublish, target: "targets",
                                detail: "version \(targets.version), \(targets.targets.count) releases" + (reason.map { "; \($0)" } ?? ""))
        }
        try await coherence.catchUp()
        return try JSONResponse.make(AdminAPI.TrustPublishResponse(role: .targets, version: targets.version), status: .created)
    }

    func summary() async throws -> AdminAPI.TrustSummary {
        let stale = try await devices.staleTrustCount(now: clock.now)
        guard let state = trust.current else {
            return AdminAPI.TrustSummary(rootVersion: 0, rootExpires: nil, roots: [], targetsVersion: nil, targetsExpires: nil,
                                         snapshotVersion: nil, timestampVersion: nil, timestampExpires: nil, releases: [], staleDevices: stale)
        }
        return AdminAPI.TrustSummary(
            rootVersion: state.root.version, rootExpires: Timestamp(rfc3339: state.root.expires), roots: state.roots.keys.sorted(),
            targetsVersion: state.targets?.signed.version, targetsExpires: state.targets.flatMap { Timestamp(rfc3339: $0.signed.expires) },
            snapshotVersion: state.snapshot?.signed.version, timestampVersion: state.timestamp?.signed.version,
            timestampExpires: state.timestamp.flatMap { Timestamp(rfc3339: $0.signed.expires) },
            releases: state.targets.map { AdminAPI.ReleasedBundle.list($0.signed) } ?? [], staleDevices: stale)
    }

    private static func envelope(_ request: Request) async throws -> [UInt8] {
        do { return Array(try await request.body.collect(upTo: MetadataEnvelope.maximumSize).readableBytesView) } catch {
            throw APIError.tooLarge("metadata is at most \(MetadataEnvelope.maximumSize) bytes")
        }
    }

    private static func envelopeResponse(_ bytes: [UInt8]) -> Response {
        Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    /// Trust errors become HTTP answers here, once.
    private static func mapped<T>(_ body: () async throws -> T) async throws -> T {
        do { return try await body() } catch let error as TrustPublishError {
            switch error {
            case .legacy: throw APIError(.conflict, .legacyTrustRoot, error.description)
            case .refused: throw APIError(.badRequest, .untrusted, error.description)
            }
        }
    }
}
