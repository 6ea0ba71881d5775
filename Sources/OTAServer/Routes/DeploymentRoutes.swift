import Hummingbird
import OTACore

/// Deployments: create (optionally staged in phases), list, show, and control.
enum DeploymentRoutes {
    struct ControlRequest: Codable {
        var reason: String?
    }

    static func add(to router: Router<BasicRequestContext>, services: ServerServices) {
        let api = router.group("api/v1/deployments")

        api.post { request, _ -> Response in
            let caller = try await services.admin(request, .operator)
            let body = try await request.decodeJSON(AdminAPI.DeploymentCreateRequest.self, what: "deployment")
            guard let (bundleID, bundle) = try await services.bundles.find(name: body.bundleName, version: body.version) else {
                throw APIError.notFound("no bundle \(body.bundleName.prefix(128)) \(body.version.prefix(64)) is published")
            }
            if let problem = services.trust.releaseProblem(bundle) { throw APIError(.conflict, "not_released", problem) }
            let plan = try await services.deployments.create(body, bundleID: bundleID, by: caller)
            try await services.fleet.reload(deploymentID: plan.id)
            services.logger.info("deployment created", metadata: ["deployment": "\(plan.id)", "by": "\(caller.actor)"])
            return try JSONResponse.make(try await services.deployments.status(id: plan.id), status: .created)
        }

        api.get { request, _ -> Response in
            _ = try await services.admin(request, .viewer)
            let limit = try request.queryInt("limit", default: 200, range: 1...1000)
            return try JSONResponse.make(AdminAPI.DeploymentList(deployments: try await services.deployments.list(limit: limit)))
        }

        api.get(":id") { request, context -> Response in
            _ = try await services.admin(request, .viewer)
            let id = try context.parameter("id")
            guard let status = try await services.deployments.status(id: id) else { throw APIError.notFound("no deployment \(id.prefix(64))") }
            return try JSONResponse.make(status)
        }

        for control in [DeploymentStore.Control.advance, .pause, .resume, .cancel] {
            api.post(":id/\(control.rawValue)") { request, context -> Response in
                let caller = try await services.admin(request, .operator)
                let id = try context.parameter("id")
                var reason: String?
                if request.headers[.contentLength].map({ $0 != "0" }) ?? (request.headers[.transferEncoding] != nil) {
                    reason = try await request.decodeJSON(ControlRequest.self, what: "\(control.rawValue) request", limit: 16 * 1024).reason
                }
                if let text = reason, text.utf8.count > 1000 { throw APIError.badRequest("reason is longer than 1000 bytes") }
                _ = try await services.deployments.apply(control, to: id, reason: reason, by: caller)
                try await services.fleet.reload(deploymentID: id)
                services.logger.info("deployment \(control.rawValue)", metadata: ["deployment": "\(id)", "by": "\(caller.actor)"])
                return try JSONResponse.make(try await services.deployments.status(id: id))
            }
        }
    }
}
