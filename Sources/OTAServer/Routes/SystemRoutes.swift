import GRDB
import Hummingbird
import OTACore

/// Liveness, metrics and the API description.
enum SystemRoutes {
    static func add(to router: Router<BasicRequestContext>, services: ServerServices) {
        router.get("healthz") { _, _ -> Response in
            _ = try await services.db.read { db in try Int.fetchOne(db, sql: "SELECT 1") }
            return try JSONResponse.make(["status": "ok"])
        }

        router.get("metrics") { request, _ -> Response in
            try await services.checkMetricsAccess(request)
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                     body: .init(byteBuffer: ByteBuffer(bytes: services.metrics.text())))
        }

        router.get("openapi.yaml") { _, _ -> Response in
            let text = EmbeddedResources.files["openapi.yaml"] ?? ""
            return Response(status: .ok, headers: [.contentType: "application/yaml; charset=utf-8"],
                            body: .init(byteBuffer: ByteBuffer(string: text)))
        }
    }
}
