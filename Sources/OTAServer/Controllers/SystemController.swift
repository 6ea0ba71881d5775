import HTTPTypes
import Hummingbird
import OTACore

/// Liveness, metrics, the API description, and the browser dashboard: static files compiled
/// into the binary, served with a strict Content-Security-Policy (the page talks to the
/// admin API with the operator's token).
struct SystemController: Sendable {
    let db: any SQLDatabase
    let metrics: ServerMetrics

    static let routes: [Route<Self, ServerRequestContext>] = [
        .anyone(.get, "healthz", Self.health),
        .metrics(.get, "metrics", Self.metricsText),
        .anyone(.get, "openapi.yaml", Self.openAPI),
        .anyone(.get, "/", Self.root),
        .anyone(.get, "ui", Self.dashboardIndex),
        .anyone(.get, "ui/**", Self.dashboardFile),
    ]

    func health(_ request: Request, _ context: ServerRequestContext) async throws -> Response {
        _ = try await db.read { db in try await db.value(Int.self, "SELECT 1") }
        return try JSONResponse.make(["status": "ok"])
    }

    func metricsText(_ request: Request, _ context: ServerRequestContext) async throws -> Response {
        Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                 body: .init(byteBuffer: ByteBuffer(bytes: metrics.text())))
    }

    func openAPI(_ request: Request, _ context: ServerRequestContext) async throws -> Response {
        Response(status: .ok, headers: [.contentType: "application/yaml; charset=utf-8"],
                 body: .init(byteBuffer: ByteBuffer(string: EmbeddedResources.files["openapi.yaml"] ?? "")))
    }

    func root(_ request: Request, _ context: ServerRequestContext) async throws -> Response {
        Response(status: .seeOther, headers: [.location: "/ui/"])
    }

    func dashboardIndex(_ request: Request, _ context: ServerRequestContext) async throws -> Response { try Self.file("index.html") }

    func dashboardFile(_ request: Request, _ context: ServerRequestContext) async throws -> Response {
        try Self.file(String(request.uri.path.dropFirst("/ui/".count)))
    }

    static func file(_ requested: String) throws -> Response {
        let path = requested.isEmpty ? "index.html" : requested
        guard let text = EmbeddedResources.files["dashboard/" + path] else {
            throw APIError.notFound("no dashboard file \(path.prefix(100))")
        }
        return Response(status: .ok, headers: headers(for: path), body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    static func headers(for path: String) -> HTTPFields {
        let type: String
        switch path.split(separator: ".").last {
        case "html": type = "text/html; charset=utf-8"
        case "css": type = "text/css; charset=utf-8"
        case "js": type = "text/javascript; charset=utf-8"
        case "svg": type = "image/svg+xml"
        default: type = "application/octet-stream"
        }
        return [
            .contentType: type,
            .contentSecurityPolicy: "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
            HTTPField.Name("X-Content-Type-Options")!: "nosniff",
            HTTPField.Name("Referrer-Policy")!: "no-referrer",
            .cacheControl: "no-cache",
        ]
    }
}
