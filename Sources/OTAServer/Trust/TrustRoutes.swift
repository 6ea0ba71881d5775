import Hummingbird
import Logging
import OTACore
import ServiceLifecycle

/// The trust metadata over the admin API: operators publish roots (admin) and release
/// metadata (publisher) signed offline; anyone with a viewer token reads them back.
enum TrustRoutes {
    static let routes: [APIRoute] = [
        APIRoute(.get, "api/v1/trust", .admin(.viewer)) { request, context in
            return try JSONResponse.make(try await summary(context.services))
        },

        APIRoute(.get, "api/v1/trust/root/:version", .admin(.viewer)) { request, context in
            guard let version = Int(try context.parameter("version")), let bytes = context.trust.current?.roots[version] else {
                throw APIError.notFound("the server holds no root of that version")
            }
            return envelopeResponse(bytes.bytes)
        },

        APIRoute(.post, "api/v1/trust/root", .admin(.admin)) { request, context in
            let caller = context.admin
            let root = try await mapped { try context.trust.publishRoot(try await envelope(request)) }
            try await context.db.write { db in try AuditLog.record(db, by: caller, action: "trust.root.publish", target: "root", detail: "version \(root.version)") }
            context.logger.info("root published", metadata: ["version": "\(root.version)", "by": "\(caller.actor)"])
            return try JSONResponse.make(AdminAPI.TrustPublishResponse(role: "root", version: root.version, warning: context.trust.releaseWarning()),
                                         status: .created)
        },

        APIRoute(.get, "api/v1/trust/targets", .admin(.viewer)) { request, context in
            guard let targets = context.trust.current?.targets else { throw APIError.notFound("no release metadata was published yet") }
            return envelopeResponse(targets.bytes)
        },

        APIRoute(.post, "api/v1/trust/targets", .admin(.publisher)) { request, context in
            let caller = context.admin
            let reason = request.query("reason")
            if let reason, reason.isEmpty || reason.utf8.count > 2000 { throw APIError.badRequest("reason must be 1 to 2000 bytes") }
            let targets = try await mapped { try context.trust.publishTargets(try await envelope(request)) }
            try await context.db.write { db in
                try AuditLog.record(db, by: caller, action: "trust.release.publish", target: "targets",
                                    detail: "version \(targets.version), \(targets.targets.count) releases" + (reason.map { "; \($0)" } ?? ""))
            }
            return try JSONResponse.make(AdminAPI.TrustPublishResponse(role: "targets", version: targets.version), status: .created)
        },
    ]

    static func summary(_ services: ServerServices) async throws -> AdminAPI.TrustSummary {
        let stale = try await services.devices.staleTrustCount(now: Timestamp.epochSeconds())
        guard let state = services.trust.current else {
            return AdminAPI.TrustSummary(rootVersion: 0, rootExpires: nil, roots: [], targetsVersion: nil, targetsExpires: nil,
                                         snapshotVersion: nil, timestampVersion: nil, timestampExpires: nil, releases: [], staleDevices: stale)
        }
        return AdminAPI.TrustSummary(
            rootVersion: state.root.version, rootExpires: state.root.expires, roots: state.roots.keys.sorted(),
            targetsVersion: state.targets?.signed.version, targetsExpires: state.targets?.signed.expires,
            snapshotVersion: state.snapshot?.signed.version, timestampVersion: state.timestamp?.signed.version,
            timestampExpires: state.timestamp?.signed.expires,
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
            case .legacy: throw APIError(.conflict, "legacy_trust_root", error.description)
            case .refused: throw APIError(.badRequest, "untrusted", error.description)
            }
        }
    }
}

/// Renews snapshot and timestamp before they expire, so devices keep a fresh view.
struct TrustRenewalService: Service {
    let trust: TrustRepository
    /// Only the leading instance renews; the others take its metadata from the change feed.
    let db: any SQLDatabase
    let logger: Logger

    func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do { if await db.holdsLeadership() { try trust.renew(force: false) } } catch { logger.error("cannot renew the timestamp (devices will see stale trust): \(error)") }
            // Short steps, so that a graceful shutdown is not held up.
            for _ in 0..<30 where !Task.isShuttingDownGracefully { try? await Task.sleep(for: .seconds(1)) }
        }
    }
}
