import Hummingbird
import OTACore

/// Content downloads by digest, with every `Range` form a resuming device may send, and
/// batches of ranges (the chunks a device misses) in one answer.
struct ContentController: Sendable {
    let checkins: CheckinService
    let deployments: DeploymentStore
    let storedFiles: StoredFiles
    let content: any ContentStore
    let metrics: ServerMetrics

    static let routes: [Route<Self, DeviceContext>] = [
        .device(.get, "api/v1/device/content/:digest", Self.get),
        .device(.head, "api/v1/device/content/:digest", Self.head),
        .device(.post, "api/v1/device/content/:digest/ranges", Self.ranges),
    ]

    func get(_ request: Request, _ context: DeviceContext) async throws -> Response { try await respond(request, context, headOnly: false) }
    func head(_ request: Request, _ context: DeviceContext) async throws -> Response { try await respond(request, context, headOnly: true) }

    private func respond(_ request: Request, _ context: DeviceContext, headOnly: Bool) async throws -> Response {
        let (digest, stored) = try await allowedFile(context, device: context.device.identity)
        return try FileResponse(content: content, metrics: metrics).respond(request, digest: digest, stored: stored, headOnly: headOnly, mayRedirect: true)
    }

    /// The bytes of several ranges of one file, back to back in the order asked (the device
    /// knows each length from its signed manifest and checks every chunk by its SHA-256).
    /// Ranges must be in order and not overlap, so an answer is never larger than the file.
    /// The answer is the longest prefix of those bytes that a bounded number of store reads
    /// gives (`RangesPlan`): a request costs the store what it returns, and the device asks
    /// again for what did not come.
    func ranges(_ request: Request, _ context: DeviceContext) async throws -> Response {
        let (body, _) = try await context.signedBody(request, DeviceAPI.RangesRequest.self, what: "ranges request", limit: 256 * 1024)
        let (_, stored) = try await allowedFile(context, device: context.device.identity)
        if let problem = body.problem(fileSize: stored.size) { throw APIError.badRequest(problem) }
        let plan = RangesPlan(body.ranges.map { $0.offset...($0.offset + $0.length - 1) }, of: stored)
        metrics.downloads.increment()
        let headers: HTTPFields = [.contentType: "application/octet-stream", .cacheControl: "private, no-store"]
        let metrics = self.metrics
        let content = self.content
        return Response(status: .ok, headers: headers, body: ResponseBody(contentLength: Int(plan.returnedBytes)) { writer in
            for read in plan.reads {
                let buffer = try await content.read([read.piece])
                metrics.rangeStoreReads.increment()
                metrics.rangeStoreBytes.increment(by: Int64(buffer.readableBytes))
                guard buffer.readableBytes == Int(read.piece.length) else {
                    throw ContentError.storage("the store returned \(buffer.readableBytes) bytes of \(read.piece.blob.short), not \(read.piece.length)")
                }
                for part in read.sent {
                    var offset = Int(part.offset)
                    let end = offset + Int(part.length)
                    while offset < end, let slice = buffer.getSlice(at: offset, length: min(FileStreaming.writeSize, end - offset)) {
                        try await writer.write(slice)
                        offset += slice.readableBytes
                    }
                    metrics.bytesSent.increment(by: Int64(part.length))
                }
            }
            try await writer.finish(nil)
        })
    }

    /// The file named in the path, if the device may download it and it is stored.
    private func allowedFile(_ context: DeviceContext, device: DeviceIdentity) async throws -> (SHA256Digest, StoredFile) {
        let digest = try context.parameter("digest", as: SHA256Digest.self)
        guard try await checkins.mayDownload(device, digest: digest, deployments: deployments) else {
            throw APIError.forbidden("content \(digest.short) is not part of a bundle assigned to this device")
        }
        guard let stored = try await storedFiles.locate(digest) else {
            throw APIError.notFound("content \(digest.short) is not stored on this server")
        }
        return (digest, stored)
    }
}

