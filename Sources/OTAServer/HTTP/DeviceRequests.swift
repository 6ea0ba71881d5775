import Hummingbird
import OTACore

extension DeviceContext {
    /// The JSON body of a device request and its size in bytes, decoded only once its bytes
    /// match the signed Content-Digest.
    func signedBody<T: Codable>(_ request: Request, _ type: T.Type, what: String, limit: Int,
                                allowUnknownFields: Bool = false) async throws -> (T, Int) {
        let raw = try await request.collectJSON(what: what, limit: limit)
        try device.check(raw)
        return (try Request.decodeJSON(T.self, from: raw, what: what, allowUnknownFields: allowUnknownFields), raw.readableBytes)
    }
}

extension DeviceQuotas {
    /// Takes what a device request costs, or answers 429 with the seconds to wait.
    func charge(_ device: DeviceIdentity, _ costs: [Kind: Double], clock: any DomainClock, metrics: ServerMetrics) throws {
        if let wait = take(device.id, costs, now: clock.monotonicSeconds) {
            metrics.rateLimited.increment()
            var error = APIError(.tooManyRequests, .rateLimited, "device \(device.id) sends more than its quota; try again in \(wait) s")
            error.headers = [.retryAfter: String(wait)]
            throw error
        }
    }
}
