import Hummingbird
import OTACore

/// hawkBit's Direct Device Integration API, for devices that keep SWUpdate or RAUC as their
/// update client (`DDIService` maps it onto deployments, memberships and events). Bodies from
/// DDI clients carry fields of hawkBit's that mean nothing here (`id`, `time`): unknown fields
/// are accepted on these routes only. Answers are 200 whenever the request was understood,
/// since both clients treat anything else as an error.
struct DDIController: Sendable {
    let ddi: DDIService
    let files: FileResponse
    let quotas: DeviceQuotas?
    let metrics: ServerMetrics
    let clock: any DomainClock

    static let prefix = ":tenant/controller/v1/:controllerId"
    static let routes: [Route<Self, DDIContext>] = [
        .ddi(.get, prefix, Self.base),
        .ddi(.get, prefix + "/deploymentBase/:actionId", Self.deploymentBase),
        .ddi(.post, prefix + "/deploymentBase/:actionId/feedback", Self.feedback),
        .ddi(.get, prefix + "/cancelAction/:actionId", Self.cancelAction),
        .ddi(.post, prefix + "/cancelAction/:actionId/feedback", Self.cancelFeedback),
        .ddi(.put, prefix + "/configData", Self.configData),
        .ddi(.get, prefix + "/installedBase/:actionId", Self.installedBase),
        .ddi(.get, prefix + "/softwaremodules/:moduleId/artifacts/:filename", Self.artifact),
        .ddi(.head, prefix + "/softwaremodules/:moduleId/artifacts/:filename", Self.artifactHead),
    ]

    /// Feedback and attribute bodies are small; SWUpdate's log batches are the largest.
    static let bodyLimit = 256 * 1024

    func base(_ request: Request, _ context: DDIContext) async throws -> Response {
        try quotas?.charge(context.device, [.checkin: 1], clock: clock, metrics: metrics)
        return try Self.json(try await ddi.base(context.caller), for: request)
    }

    func deploymentBase(_ request: Request, _ context: DDIContext) async throws -> Response {
        try quotas?.charge(context.device, [.checkin: 1], clock: clock, metrics: metrics)
        let action = try await ddi.action(context.caller, try Self.actionNumber(context))
        guard !action.isCancelling else { throw APIError.notFound("action \(action.number) is being cancelled: see cancelAction") }
        let answer = try await ddi.deploymentBase(context.caller, action)
        try await ddi.retrieved(context.caller, action)
        return try Self.json(answer, for: request)
    }

    func installedBase(_ request: Request, _ context: DDIContext) async throws -> Response {
        try quotas?.charge(context.device, [.checkin: 1], clock: clock, metrics: metrics)
        let action = try await ddi.action(context.caller, try Self.actionNumber(context))
        guard action.state == .succeeded else { throw APIError.notFound("action \(action.number) is not installed (\(action.state.rawValue))") }
        return try Self.json(try await ddi.deploymentBase(context.caller, action, installed: true), for: request)
    }

    func cancelAction(_ request: Request, _ context: DDIContext) async throws -> Response {
        try quotas?.charge(context.device, [.checkin: 1], clock: clock, metrics: metrics)
        let action = try await ddi.action(context.caller, try Self.actionNumber(context))
        guard action.isCancelling else { throw APIError.notFound("action \(action.number) is not being cancelled") }
        return try Self.json(DDI.CancelAction(id: String(action.number)), for: request)
    }

    func feedback(_ request: Request, _ context: DDIContext) async throws -> Response {
        let number = try Self.actionNumber(context)
        try await ddi.feedback(context.caller, number, try await Self.body(request, DDI.Feedback.self, context: context, quotas: quotas, clock: clock, metrics: metrics))
        return Response(status: .ok)
    }

    func cancelFeedback(_ request: Request, _ context: DDIContext) async throws -> Response {
        let number = try Self.actionNumber(context)
        try await ddi.cancelFeedback(context.caller, number, try await Self.body(request, DDI.Feedback.self, context: context, quotas: quotas, clock: clock, metrics: metrics))
        return Response(status: .ok)
    }

    func configData(_ request: Request, _ context: DDIContext) async throws -> Response {
        try await ddi.configData(context.caller, try await Self.body(request, DDI.ConfigData.self, context: context, quotas: quotas, clock: clock, metrics: metrics))
        return Response(status: .ok)
    }

    func artifact(_ request: Request, _ context: DDIContext) async throws -> Response { try await artifact(request, context, headOnly: false) }
    func artifactHead(_ request: Request, _ context: DDIContext) async throws -> Response { try await artifact(request, context, headOnly: true) }

    private func artifact(_ request: Request, _ context: DDIContext, headOnly: Bool) async throws -> Response {
        let text = try context.parameter("moduleId")
        guard let module = Int64(text), module > 0 else { throw APIError.notFound("no software module \(PayloadPath.printable(String(text.prefix(32))))") }
        let filename = try context.parameter("filename")
        let (file, stored, checksum) = try await ddi.artifact(context.caller, module: module, filename: filename)
        let name = DDIService.filename(file.path)
        if let checksum {
            let body = "\(checksum.md5)  \(name)\n"
            return Response(status: .ok, headers: [.contentType: "text/plain", .contentDisposition: "attachment;filename=\(name).MD5SUM"],
                            body: headOnly ? .init() : .init(byteBuffer: ByteBuffer(string: body)))
        }
        // Streamed from here, never redirected: both clients send their token along, which an
        // object store would refuse beside its own signature.
        return try files.respond(request, digest: file.sha256, stored: stored, headOnly: headOnly, mayRedirect: false,
                                 extraHeaders: [.contentDisposition: "attachment;filename=\(name)"])
    }

    static func actionNumber(_ context: DDIContext) throws -> Int64 {
        let text = try context.parameter("actionId")
        guard let number = Int64(text), DDIAction.numbers.contains(number) else {
            throw APIError.notFound("no action \(PayloadPath.printable(String(text.prefix(32))))")
        }
        return number
    }

    /// A client's body: JSON, leniently (hawkBit's clients add fields), each value checked.
    /// SWUpdate can put raw line breaks inside its error strings; they are read as spaces.
    static func body<T: Codable>(_ request: Request, _ type: T.Type, context: DDIContext, quotas: DeviceQuotas?, clock: any DomainClock,
                                 metrics: ServerMetrics) async throws -> T {
        var raw = try await request.collectJSON(what: "DDI request", limit: bodyLimit)
        try quotas?.charge(context.device, [.eventCount: 1, .eventBytes: Double(raw.readableBytes)], clock: clock, metrics: metrics)
        var bytes = raw.readBytes(length: raw.readableBytes) ?? []
        for index in bytes.indices where bytes[index] == 0x0A || bytes[index] == 0x0D || bytes[index] == 0x09 { bytes[index] = 0x20 }
        return try Request.decodeJSON(T.self, from: ByteBuffer(bytes: bytes), what: "DDI request", allowUnknownFields: true)
    }

    /// Plain JSON to clients that ask for it (SWUpdate and rauc-hawkbit do, and rauc-hawkbit
    /// reads nothing else), HAL+JSON otherwise, as hawkBit answers; links are HAL-shaped in both.
    static func json<T: Encodable>(_ value: T, for request: Request) throws -> Response {
        var response = try JSONResponse.make(value)
        if !(request.headers[.accept]?.lowercased().contains("application/json") ?? false) {
            response.headers[.contentType] = "application/hal+json"
        }
        return response
    }
}
