import Hummingbird
import OTACore

/// The device API's hot path: check-ins (answered from the cache, signed when the device
/// sent a nonce), the update steps devices report, and the figures of their live models.
/// Every request is charged to the device's quotas first.
struct CheckinController: Sendable {
    let checkins: CheckinService
    let rollouts: RolloutService
    let trust: TrustRepository
    let quality: QualityStore
    let devices: DeviceStore
    let quotas: DeviceQuotas?
    let metrics: ServerMetrics
    let clock: any DomainClock

    static let routes: [Route<Self, DeviceContext>] = [
        .device(.post, "api/v1/device/checkin", Self.checkin),
        .device(.post, "api/v1/device/events", Self.events),
        .device(.post, "api/v1/device/metrics", Self.metrics),
    ]

    func checkin(_ request: Request, _ context: DeviceContext) async throws -> Response {
        let device = context.device.identity
        try quotas?.charge(device, [.checkin: 1], clock: clock, metrics: metrics)
        // The one lenient body: fields a newer agent adds are ignored, so devices and the
        // server can be upgraded in any order. Values are still checked as they are decoded.
        let (body, _) = try await context.signedBody(request, DeviceAPI.CheckinRequest.self, what: "check-in", limit: 256 * 1024,
                                                     allowUnknownFields: true)
        let plain = try await checkins.checkin(device, body)
        let answer = try body.nonce.flatMap { nonce in
            try trust.signedAnswer(plain, deviceID: device.id, nonce: nonce, report: body.trust, issued: clock.now)
        } ?? plain.bytes
        return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: answer)))
    }

    func events(_ request: Request, _ context: DeviceContext) async throws -> Response {
        let device = context.device.identity
        let (body, size) = try await context.signedBody(request, DeviceAPI.EventsRequest.self, what: "events",
                                                        limit: DeviceAPI.EventsRequest.maximumBytes)
        try quotas?.charge(device, [.eventCount: Double(body.events.count), .eventBytes: Double(size)], clock: clock, metrics: metrics)
        try await rollouts.record(body.events, from: device)
        return try JSONResponse.make(DeviceAPI.EventsResponse(accepted: body.events.count), status: .accepted)
    }

    func metrics(_ request: Request, _ context: DeviceContext) async throws -> Response {
        let device = context.device.identity
        try quotas?.charge(device, [.metrics: 1], clock: clock, metrics: metrics)
        let (body, _) = try await context.signedBody(request, DeviceAPI.MetricsRequest.self, what: "metrics", limit: 256 * 1024)
        for item in body.metrics {
            // Figures count only for what the device runs: it cannot fill the registry with
            // versions it never installed, or vote in rollouts it is not part of.
            guard try await checkins.runs(device, bundleName: item.bundleName, version: item.version, digest: item.digest, devices: devices) else {
                throw APIError.conflict("device \(device.id) does not run \(item.bundleName) \(item.version) with that digest (check in first)")
            }
        }
        let deployments = body.metrics.map { checkins.deployment(bringing: $0.digest, of: $0.bundleName, to: device) }
        try await quality.recordLive(body.metrics, deviceID: device.id, deploymentIDs: deployments, at: clock.now)
        // New figures: the gates are read again (on other instances, through the change feed).
        for id in Set(deployments.compactMap { $0 }) { rollouts.qualityChanged(id) }
        return try JSONResponse.make(DeviceAPI.EventsResponse(accepted: body.metrics.count), status: .accepted)
    }
}
