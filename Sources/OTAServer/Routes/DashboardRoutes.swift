import HTTPTypes
import Hummingbird
import OTACore

/// The browser dashboard: static files compiled into the binary, served with a strict
/// Content-Security-Policy. The page talks to the admin API with the operator's token.
enum DashboardRoutes {
    static let routes: [APIRoute] = [
        APIRoute(.get, "/", .anyone) { _, _ in Response(status: .seeOther, headers: [.location: "/ui/"]) },
        APIRoute(.get, "ui", .anyone) { _, _ in try file("index.html") },
        APIRoute(.get, "ui/**", .anyone) { request, _ in try file(String(request.uri.path.dropFirst("/ui/".count))) },
    ]

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
