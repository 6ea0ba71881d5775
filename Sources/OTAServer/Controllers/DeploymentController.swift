import Hummingbird
import Logging
import OTACore

/// Deployments: create (optionally staged in phases), list, show, and control. A write is
/// applied to this instance's cache through the change feed before the answer.
struct DeploymentController: Sendable {
    let deployments: DeploymentStore
    let bundles: BundleStore
    let trust: TrustRepository
    let coherence: FleetCoherence
    let logger: Logger

    static let routes: [Route<Self, AdminContext>] = [
        .admin(.operator, .post, "api/v1/deployments", Self.create),
        .admin(.viewer, .get, "api/v1/deployments", Self.list),
        .admin(.viewer, .get, "api/v1/deployments/:id", Self.show),
    ] + DeploymentControl.allCases.map { control in
        .admin(.operator, .post, "api/v1/deployments/:id/\(control.rawValue)") { controller in
            { request, context in try await controller.apply(control, request, context) }
        }
    }

    func create(_ request: Request, _ context: AdminContext) async throws -> Response {
        let body = try await request.decodeJSON(AdminAPI.DeploymentCreateRequest.self, what: "deployment")
        guard let (bundleID, bundle) = try await bundles.find(name: body.bundleName, version: body.version) else {
            throw APIError.notFound("no bundle \(body.bundleName) \(body.version) is published")
        }
        if let problem = trust.releaseProblem(bundle) { throw APIError(.conflict, .notReleased, problem) }
        let plan = try await deployments.create(body, bundleID: bundleID, by: context.admin)
        try await coherence.catchUp()
        logger.info("deployment created", metadata: ["deployment": "\(plan.id)", "by": "\(context.admin.actor)"])
        return try JSONResponse.make(try await deployments.status(id: plan.id), status: .created)
    }

    func list(_ request: Request, _ context: AdminContext) async throws -> Response {
        let limit = try request.queryInt("limit", default: 200, range: 1...1000)
        return try JSONResponse.make(AdminAPI.DeploymentList(deployments: try await deployments.list(limit: limit)))
    }

    func show(_ request: Request, _ context: AdminContext) async throws -> Response {
        let id = try context.parameter("id", as: DeploymentID.self)
        guard let status = try await deployments.status(id: id) else { throw APIError.notFound("no deployment \(id)") }
        return try JSONResponse.make(status)
    }

    func apply(_ control: DeploymentControl, _ request: Request, _ context: AdminContext) async throws -> Response {
        let id = try context.parameter("id", as: DeploymentID.self)
        var reason: String?
        if request.headers[.contentLength].map({ $0 != "0" }) ?? (request.headers[.transferEncoding] != nil) {
            reason = try await request.decodeJSON(AdminAPI.ControlRequest.self, what: "\(control.rawValue) request", limit: 16 * 1024).reason
        }
        _ = try await deployments.apply(control, to: id, reason: reason, by: context.admin)
        try await coherence.catchUp()
        logger.info("deployment \(control.rawValue)", metadata: ["deployment": "\(id)", "by": "\(context.admin.actor)"])
        return try JSONResponse.make(try await deployments.status(id: id))
    }
}
