import Hummingbird
import OTACore

/// Liveness, metrics and the API description.
enum SystemRoutes {
    static let routes: [APIRoute] = [
        APIRoute(.get, "healthz", .anyone) { _, context in
            _ = try await context.db.read { db in try db.value(Int.self, "SELECT 1") }
            return try JSONResponse.make(["status": "ok"])
        },

        APIRoute(.get, "metrics", .metrics) { _, context in
            Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                     body: .init(byteBuffer: ByteBuffer(bytes: context.metrics.text())))
        },

        APIRoute(.get, "openapi.yaml", .anyone) { _, _ in
            let text = EmbeddedResources.files["openapi.yaml"] ?? ""
            return Response(status: .ok, headers: [.contentType: "application/yaml; charset=utf-8"],
                            body: .init(byteBuffer: ByteBuffer(string: text)))
        },
    ]
}
