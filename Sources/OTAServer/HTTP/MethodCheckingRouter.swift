import Hummingbird

/// The router, answering 405 (with `Allow`) where Hummingbird answers 404: for a path that
/// exists, but not for the request's method. HTTP asks for it, and it tells a client what it
/// did wrong instead of suggesting that the endpoint is gone.
struct MethodCheckingRouter<Context: RequestContext>: HTTPResponderBuilder {
    let router: Router<Context>

    func buildResponder() -> Responder {
        Responder(routes: router.routes.map { Route(path: $0.path, method: $0.method) }, router: router.buildResponder())
    }

    struct Route: Sendable {
        let path: RouterPath
        let method: HTTPRequest.Method

        func matches(_ segments: [Substring]) -> Bool {
            var index = 0
            for element in path.components {
                if element == .recursiveWildcard { return index < segments.count }
                guard index < segments.count, element ~= segments[index] else { return false }
                index += 1
            }
            return index == segments.count
        }

        /// How the router ranks this path among others matching the same URL: at the first
        /// differing segment, a literal beats a capture, which beats a wildcard.
        var specificity: [Int] {
            path.components.map { element in
                if element == .path(Substring(element.description)) { return 0 }
                if element == .recursiveWildcard { return 3 }
                return element.description.contains("*") ? 2 : 1
            }
        }
    }

    struct Responder: HTTPResponder {
        let routes: [Route]
        let router: RouterResponder<Context>

        func respond(to request: Request, context: Context) async throws -> Response {
            let response = try await router.respond(to: request, context: context)
            // Only a 404 pays for the search; one from a handler (no such device) stays a 404.
            guard response.status == .notFound else { return response }
            let segments = request.uri.path.split(separator: "/")
            let matching = routes.filter { $0.matches(segments) }
            // The router takes the most specific path that matches (`content/missing` over
            // `content/{digest}`): only that path's methods are allowed for this URL.
            guard let chosen = matching.min(by: { $0.specificity.lexicographicallyPrecedes($1.specificity) }) else { return response }
            let methods = Set(matching.filter { $0.path == chosen.path }.map(\.method))
            guard !methods.contains(request.method) else { return response }
            let allowed = methods.map(\.rawValue).sorted().joined(separator: ", ")
            var error = APIError(.methodNotAllowed, .methodNotAllowed,
                                 "\(request.method) is not allowed on \(request.uri.path.prefix(200)); use \(allowed)")
            error.headers[.allow] = allowed
            return try error.response(from: request, context: context)
        }
    }
}
