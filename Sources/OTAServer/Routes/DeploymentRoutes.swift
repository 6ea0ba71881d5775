import Hummingbird
import OTACore

/// Deployments: create (optionally staged in phases), list, show, and control.
enum DeploymentRoutes {
    struct ControlRequest: Codable {
        var reason: String?
    }

    static let routes: [APIRoute] = [
        APIRoute(.post, "api/v1/deployments", .admin(.operator)) { request, context in
            let caller = context.admin
            let body = try await request.decodeJSON(AdminAPI.DeploymentCreateRequest.self, what: "deployment")
            guard let (bundleID, bundle) = try await context.bundles.find(name: body.bundleName, version: body.version) else {
                throw APIError.notFound("no bundle \(body.bundleName.prefix(128)) \(body.version.prefix(64)) is published")
            }
            if let problem = context.trust.releaseProblem(bundle) { throw APIError(.conflict, "not_released", problem) }
            let plan = try await context.deployments.create(body, bundleID: bundleID, by: caller)
            try await context.fleet.reload(deploymentID: plan.id)
            context.logger.info("deployment created", metadata: ["deployment": "\(plan.id)", "by": "\(caller.actor)"])
            return try JSONResponse.make(try await context.deployments.status(id: plan.id), status: .created)
        },

        APIRoute(.get, "api/v1/deployments", .admin(.viewer)) { request, context in
            let limit = try request.queryInt("limit", default: 200, range: 1...1000)
            return try JSONResponse.make(AdminAPI.DeploymentList(deployments: try await context.deployments.list(limit: limit)))
        },

        APIRoute(.get, "api/v1/deployments/:id", .admin(.viewer)) { request, context in
            let id = try context.parameter("id")
            guard let status = try await context.deployments.status(id: id) else { throw APIError.notFound("no deployment \(id.prefix(64))") }
            return try JSONResponse.make(status)
        },
    ] + DeploymentStore.Control.allCases.map { control in
        APIRoute(.post, "api/v1/deployments/:id/\(control.rawValue)", .admin(.operator)) { request, context in
            let caller = context.admin
            let id = try context.parameter("id")
            var reason: String?
            if request.headers[.contentLength].map({ $0 != "0" }) ?? (request.headers[.transferEncoding] != nil) {
                reason = try await request.decodeJSON(ControlRequest.self, what: "\(control.rawValue) request", limit: 16 * 1024).reason
            }
            if let text = reason, text.utf8.count > 1000 { throw APIError.badRequest("reason is longer than 1000 bytes") }
            _ = try await context.deployments.apply(control, to: id, reason: reason, by: caller)
            try await context.fleet.reload(deploymentID: id)
            context.logger.info("deployment \(control.rawValue)", metadata: ["deployment": "\(id)", "by": "\(caller.actor)"])
            return try JSONResponse.make(try await context.deployments.status(id: id))
        }
    }
}
