import Hummingbird
import NIOCore
import NIOPosix
import OTACore
import Prometheus

/// The device API: register, check in, report events, download content.
enum DeviceRoutes {
    static let routes: [APIRoute] = [
        APIRoute(.post, "api/v1/device/register", .anyone) { request, context in
            // Strangers pay for their failures: an address that failed too often this minute is
            // refused before anything is verified, and only registrations that pass the proof
            // and the token count against the fleet-wide limit.
            let source = context.clientAddress(of: request)
            let now = Timestamp.epochSeconds()
            try context.checkFailures(from: source, now: now)
            do {
                let body = try await request.decodeJSON(DeviceAPI.RegisterRequest.self, what: "registration", limit: 64 * 1024)
                let key = try checkedKey(body.publicKey)
                if let problem = SafeName.problem(with: body.deviceID, what: "device_id") { throw APIError.badRequest(problem) }
                if let problem = SafeName.problem(with: body.hardware, what: "hardware") { throw APIError.badRequest(problem) }
                try await checkProof(body.proof, .register, deviceID: body.deviceID, key: key, services: context.services)
                guard context.registrations.reserve(now: now) else {
                    var error = APIError(.tooManyRequests, "rate_limited", "too many registrations this minute; try again later")
                    error.headers = [.retryAfter: "60"]
                    throw error
                }
                let registered: (DeviceIdentity, DeviceAPI.DeviceStatus)
                do { registered = try await context.devices.register(body, publicKey: key) } catch {
                    context.registrations.giveBack(now: now)
                    throw error
                }
                let (identity, status) = registered
                context.metrics.registrations.increment()
                context.logger.info("device registered", metadata: ["device": "\(identity.id)", "status": "\(status.rawValue)"])
                return try JSONResponse.make(DeviceAPI.RegisterResponse(deviceID: identity.id, status: status), status: .created)
            } catch let error where Self.isCallerFailure(error) {
                context.failures.failed(source, now: now)
                throw error
            }
        },

        APIRoute(.post, "api/v1/device/session", .anyone) { request, context in
            let source = context.clientAddress(of: request)
            let now = Timestamp.epochSeconds()
            try context.checkFailures(from: source, now: now)
            let body = try await request.decodeJSON(DeviceAPI.SessionRequest.self, what: "session request", limit: 16 * 1024)
            if let problem = SafeName.problem(with: body.deviceID, what: "device_id") { throw APIError.badRequest(problem) }
            // An unknown device and a proof that does not verify get the same answer after the
            // same work (one lookup, one Ed25519 verification): nobody learns which ids exist.
            let device = try await context.devices.keyedDevice(id: body.deviceID)
            let key = device?.publicKey ?? context.sessions.decoyKey
            let verified = (try? DeviceProof.check(body.proof, .session, deviceID: body.deviceID, publicKey: key)) != nil
            guard let device, verified else {
                context.failures.failed(source, now: now)
                throw APIError(.unauthorized, "unauthorized",
                               "no device \(body.deviceID) with a key whose signature this proof carries (unknown device, wrong key, or a proof that is malformed or more than \(DeviceProof.window) s from the server's time)")
            }
            guard try await DeviceSessions.firstUse(of: body.proof, deviceID: body.deviceID, db: context.db) else {
                throw APIError.unauthorized("this proof was used before; sign a new one")
            }
            switch device.status {
            case .accepted: break
            case .pending: throw APIError(.forbidden, "device_pending", "device \(body.deviceID) waits for an operator to accept it (otactl devices accept \(body.deviceID))")
            case .rejected: throw APIError(.forbidden, "device_rejected", "device \(body.deviceID) was rejected by an operator")
            }
            return try JSONResponse.make(context.sessions.open(deviceID: body.deviceID, epoch: device.sessionEpoch), status: .created)
        },

        APIRoute(.post, "api/v1/device/key", .device) { request, context in
            let (device, body) = try await context.signedBody(request, DeviceAPI.BindKeyRequest.self, what: "key", limit: 16 * 1024)
            let key = try checkedKey(body.publicKey)
            try await checkProof(body.proof, .bindKey, deviceID: device.id, key: key, services: context.services)
            try await context.devices.bindKey(deviceID: device.id, publicKey: key)
            context.fleet.refreshIdentity(deviceID: device.id)
            return Response(status: .noContent)
        },

        APIRoute(.post, "api/v1/device/checkin", .device) { request, context in
            // The one lenient body: fields a newer agent adds are ignored, so devices and the
            // server can be upgraded in any order. Values are still checked below.
            try context.takeQuota([.checkin: 1])
            let (device, body) = try await context.signedBody(request, DeviceAPI.CheckinRequest.self, what: "check-in", limit: 256 * 1024,
                                                      allowUnknownFields: true)
            if let problem = checkinProblem(body) { throw APIError.badRequest(problem) }
            let plain = try await context.fleet.checkin(device, body)
            let answer = try body.nonce.flatMap { nonce in
                try context.trust.signedAnswer(plain, deviceID: device.id, nonce: nonce, report: body.trust)
            } ?? plain
            return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: answer)))
        },

        APIRoute(.post, "api/v1/device/events", .device) { request, context in
            let (device, body, size) = try await context.signedBodyAndSize(request, DeviceAPI.EventsRequest.self, what: "events",
                                                                          limit: DeviceAPI.EventsRequest.maximumBytes)
            guard body.events.count <= DeviceAPI.EventsRequest.maximumCount else {
                throw APIError.badRequest("send at most \(DeviceAPI.EventsRequest.maximumCount) events at once")
            }
            for event in body.events {
                if let problem = SafeName.problem(with: event.bundleName, what: "bundle_name") { throw APIError.badRequest(problem) }
                guard event.detail.unicodeScalars.count <= DeviceAPI.Event.maximumDetailLength else {
                    throw APIError.badRequest("event detail is longer than \(DeviceAPI.Event.maximumDetailLength) characters")
                }
                guard event.version.utf8.count <= 256, event.at.utf8.count <= 64, Timestamp.parse(event.at) != nil else {
                    throw APIError.badRequest("event version or time is malformed (at must be RFC 3339)")
                }
                if let outcome = event.shadow {
                    if let problem = outcome.report?.problem { throw APIError.badRequest("event shadow report: \(problem)") }
                    guard outcome.gates.count <= 16, outcome.gates.allSatisfy({ $0.value?.isFinite ?? true }) else {
                        throw APIError.badRequest("event shadow gates: at most 16, each with a finite value")
                    }
                }
                if let transfer = event.transfer, !transfer.isPlausible {
                    throw APIError.badRequest("event transfer: fetched_bytes must not exceed total_bytes (at most 2^50)")
                }
            }
            try context.takeQuota([.eventCount: Double(body.events.count), .eventBytes: Double(size)])
            try await context.fleet.record(body.events, from: device)
            return try JSONResponse.make(DeviceAPI.EventsResponse(accepted: body.events.count), status: .accepted)
        },

        APIRoute(.post, "api/v1/device/metrics", .device) { request, context in
            try context.takeQuota([.metrics: 1])
            let (device, body) = try await context.signedBody(request, DeviceAPI.MetricsRequest.self, what: "metrics", limit: 256 * 1024)
            guard (1...DeviceAPI.MetricsRequest.maximumCount).contains(body.metrics.count) else {
                throw APIError.badRequest("send 1 to \(DeviceAPI.MetricsRequest.maximumCount) reports at once")
            }
            for item in body.metrics {
                if let problem = SafeName.problem(with: item.bundleName, what: "bundle_name") { throw APIError.badRequest(problem) }
                guard item.version.utf8.count <= 256, SHA256Digest(hex: item.digest) != nil, item.at.utf8.count <= 64, Timestamp.parse(item.at) != nil else {
                    throw APIError.badRequest("metrics: version, digest or time is malformed (digest is a SHA-256, at is RFC 3339)")
                }
                if let problem = item.report.problem { throw APIError.badRequest("metrics of \(item.bundleName) \(item.version): \(problem)") }
                // Figures count only for what the device runs: it cannot fill the registry with
                // versions it never installed, or vote in rollouts it is not part of.
                guard try await context.fleet.runs(device, bundleName: item.bundleName, version: item.version, digest: item.digest) else {
                    throw APIError.conflict("device \(device.id) does not run \(item.bundleName) \(item.version) with that digest (check in first)")
                }
            }
            let deployments = body.metrics.map { context.fleet.deployment(bringing: $0.digest, of: $0.bundleName, to: device) }
            try await context.quality.recordLive(body.metrics, deviceID: device.id, deploymentIDs: deployments)
            for id in Set(deployments.compactMap { $0 }) { context.fleet.qualityChanged(deploymentID: id) }
            return try JSONResponse.make(DeviceAPI.EventsResponse(accepted: body.metrics.count), status: .accepted)
        },

        APIRoute(.get, "api/v1/device/content/:digest", .device) { request, context in
            try await ContentDownload.respond(request, context)
        },
        APIRoute(.head, "api/v1/device/content/:digest", .device) { request, context in
            try await ContentDownload.respond(request, context, headOnly: true)
        },
        APIRoute(.post, "api/v1/device/content/:digest/ranges", .device) { request, context in
            try await ContentDownload.respondWithRanges(request, context)
        },
    ]

    static func checkedKey(_ text: String) throws -> Ed25519PublicKey {
        guard let raw = Base64.decode(text, limit: 32), let key = try? Ed25519PublicKey(raw: raw) else {
            throw APIError.badRequest("public_key must be the base64 of a raw 32-byte Ed25519 public key")
        }
        return key
    }

    /// A proof must verify, be fresh and be new: a captured one is worth nothing.
    static func checkProof(_ proof: DeviceAPI.Proof, _ purpose: DeviceProof.Purpose, deviceID: String, key: Ed25519PublicKey,
                           services: ServerServices) async throws {
        do { try DeviceProof.check(proof, purpose, deviceID: deviceID, publicKey: key) } catch {
            throw APIError.unauthorized(error.description)
        }
        guard try await DeviceSessions.firstUse(of: proof, deviceID: deviceID, db: services.db) else {
            throw APIError.unauthorized("this proof was used before; sign a new one")
        }
    }


    /// Failures that are the caller's doing (a bad proof, token or body), which count
    /// against its address; not the server's own (a database away).
    static func isCallerFailure(_ error: any Error) -> Bool {
        if let error = error as? APIError { return (400..<500).contains(error.status.code) && error.status != .tooManyRequests }
        if let error = error as? RegistryError, case .corrupt = error { return false }
        return error is RegistryError
    }

    static func checkinProblem(_ body: DeviceAPI.CheckinRequest) -> String? {
        guard body.installed.count <= 64 else { return "at most 64 installed bundles" }
        if let nonce = body.nonce, nonce.utf8.count != DeviceAPI.nonceHexDigits || Hex.decode(nonce) == nil {
            return "nonce must be \(DeviceAPI.nonceHexDigits) hex digits (16 fresh random bytes)"
        }
        if let problem = body.trust?.malformation() { return problem }
        if let features = body.features, features.count > 16 || features.contains(where: { $0.utf8.count > 64 }) {
            return "features: at most 16, each at most 64 bytes"
        }
        var names = Set<String>()
        for bundle in body.installed {
            if let problem = SafeName.problem(with: bundle.name, what: "installed name") { return problem }
            guard names.insert(bundle.name).inserted else { return "installed lists \(bundle.name) twice" }
            guard (try? SemanticVersion(bundle.version)) != nil else { return "installed \(bundle.name) has an invalid version" }
            guard SHA256Digest(hex: bundle.digest) != nil else { return "installed \(bundle.name) has an invalid digest" }
        }
        if let attributes = body.attributes, attributes.count > 64 || attributes.contains(where: { $0.key.utf8.count > 64 || $0.value.utf8.count > 1024 }) {
            return "attributes: at most 64, keys up to 64 bytes, values up to 1024 bytes"
        }
        return nil
    }
}

extension RouteContext {
    /// The device behind a `.device` request and its JSON body, decoded only once its bytes
    /// match the signed Content-Digest.
    func signedBody<T: Codable>(_ request: Request, _ type: T.Type, what: String, limit: Int, allowUnknownFields: Bool = false) async throws -> (DeviceIdentity, T) {
        let (identity, body, _) = try await signedBodyAndSize(request, type, what: what, limit: limit, allowUnknownFields: allowUnknownFields)
        return (identity, body)
    }

    /// The same, with the body's size in bytes.
    func signedBodyAndSize<T: Codable>(_ request: Request, _ type: T.Type, what: String, limit: Int,
                                       allowUnknownFields: Bool = false) async throws -> (DeviceIdentity, T, Int) {
        let raw = try await request.collectJSON(what: what, limit: limit)
        try device.check(raw)
        return (device.identity, try Request.decodeJSON(T.self, from: raw, what: what, allowUnknownFields: allowUnknownFields), raw.readableBytes)
    }

    /// Takes what a device request costs from its quotas (`DeviceQuotas`), or answers 429.
    func takeQuota(_ costs: [DeviceQuotas.Kind: Double]) throws {
        guard let quotas = services.quotas else { return }
        if let wait = quotas.take(device.identity.id, costs, now: Timestamp.monotonicSeconds()) {
            services.metrics.rateLimited.increment()
            var error = APIError(.tooManyRequests, "rate_limited", "device \(device.identity.id) sends more than its quota; try again in \(wait) s")
            error.headers = [.retryAfter: String(wait)]
            throw error
        }
    }

    /// Refuses a client address that failed too often this minute (`FailureLimiter`).
    func checkFailures(from source: ClientAddress?, now: Int64) throws {
        guard services.failures.allows(source, now: now) else {
            services.metrics.rateLimited.increment()
            var error = APIError(.tooManyRequests, "rate_limited", "too many failed attempts from this address; try again in a minute")
            error.headers = [.retryAfter: "60"]
            throw error
        }
    }
}

/// Content downloads by digest, with every `Range` form a resuming device may send, and
/// batches of ranges (the chunks a device misses) in one answer.
enum ContentDownload {
    static func respond(_ request: Request, _ context: RouteContext, headOnly: Bool = false) async throws -> Response {
        let services = context.services
        let (digest, stored) = try await allowedFile(context, device: context.device.identity)
        let size = stored.size
        let etag = "\"\(digest.hex)\""
        var headers: HTTPFields = [.eTag: etag, .acceptRanges: "bytes", .contentType: "application/octet-stream",
                                   .cacheControl: "private, max-age=31536000, immutable"]
        var rangeHeader = request.headers[.range]
        // A range is only honoured if the client's copy is this very content.
        if let ifRange = request.headers[.ifRange], ifRange != etag { rangeHeader = nil }
        let range: ClosedRange<UInt64>
        var status = HTTPResponse.Status.ok
        switch ByteRange.parse(rangeHeader, size: size) {
        case .whole:
            headers[.contentLength] = String(size)
            if size == 0 || headOnly { return Response(status: .ok, headers: headers, body: .init()) }
            range = 0...(size - 1)
        case .partial(let requested):
            status = .partialContent
            headers[.contentRange] = "bytes \(requested.lowerBound)-\(requested.upperBound)/\(size)"
            headers[.contentLength] = String(requested.count)
            if headOnly { return Response(status: status, headers: headers, body: .init()) }
            range = requested
        case .unsatisfiable:
            var error = APIError(.rangeNotSatisfiable, "range_not_satisfiable", "the requested range is outside the content's \(size) bytes")
            error.headers = [.contentRange: "bytes */\(size)", .acceptRanges: "bytes"]
            throw error
        }
        services.metrics.downloads.increment()
        if let blob = stored.wholeBlob, let url = services.content.directURL(of: blob) {
            // From the object store itself: the device follows this once and checks every
            // byte against the signed manifest as always.
            services.metrics.redirectedDownloads.increment()
            return Response(status: .temporaryRedirect, headers: [.location: url, .cacheControl: "private, no-store"], body: .init())
        }
        let counted = FileStreaming.body(stored, ranges: [range], content: services.content, sent: services.metrics.bytesSent)
        return Response(status: status, headers: headers, body: counted)
    }

    /// The bytes of several ranges of one file, back to back in the order asked (the device
    /// knows each length from its signed manifest and checks every chunk by its SHA-256).
    /// Ranges must be in order and not overlap, so an answer is never larger than the file.
    /// The answer is the longest prefix of those bytes that a bounded number of store reads
    /// gives (`RangesPlan`): a request costs the store what it returns, and the device asks
    /// again for what did not come.
    static func respondWithRanges(_ request: Request, _ context: RouteContext) async throws -> Response {
        let services = context.services
        let (device, body) = try await context.signedBody(request, DeviceAPI.RangesRequest.self, what: "ranges request", limit: 256 * 1024)
        let (_, stored) = try await allowedFile(context, device: device)
        if let problem = body.problem(fileSize: stored.size) { throw APIError.badRequest(problem) }
        let plan = RangesPlan(body.ranges.map { $0.offset...($0.offset + $0.length - 1) }, of: stored)
        services.metrics.downloads.increment()
        let headers: HTTPFields = [.contentType: "application/octet-stream", .cacheControl: "private, no-store"]
        let metrics = services.metrics
        let content = services.content
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
    private static func allowedFile(_ context: RouteContext, device: DeviceIdentity) async throws -> (SHA256Digest, StoredFile) {
        let services = context.services
        let text = try context.parameter("digest")
        guard let digest = SHA256Digest(hex: text) else { throw APIError.badRequest("'\(text.prefix(80))' is not a SHA-256 digest") }
        guard try await services.fleet.mayDownload(device, digest: digest.hex) else {
            throw APIError.forbidden("content \(digest.short) is not part of a bundle assigned to this device")
        }
        guard let stored = try await services.storedFiles.locate(digest) else {
            throw APIError.notFound("content \(digest.short) is not stored on this server")
        }
        return (digest, stored)
    }
}

/// Streams byte ranges of a stored file (one blob or its chunks): reads of up to `readSize`,
/// each gathering as many blobs (chunks) as fit, written as slices of `writeSize` (no copy),
/// so that the socket copies find the bytes still in the CPU's cache. Counts the bytes
/// really written.
enum FileStreaming {
    static let readSize: UInt64 = 1 << 20
    static let writeSize = 64 * 1024

    static func body(_ file: StoredFile, ranges: [ClosedRange<UInt64>], content: any ContentStore, sent: Counter) -> ResponseBody {
        let total = ranges.reduce(0) { $0 + $1.count }
        return ResponseBody(contentLength: total) { writer in
            var batch: [BlobPiece] = []
            var batchBytes: UInt64 = 0
            for range in ranges {
                for slice in file.slices(of: range) {
                    var offset = slice.offset
                    var left = slice.length
                    while left > 0 {
                        let take = min(left, readSize - batchBytes)
                        batch.append(BlobPiece(blob: slice.blob, offset: offset, length: take))
                        batchBytes += take
                        offset += take
                        left -= take
                        if batchBytes == readSize {
                            try await write(batch, from: content, to: &writer, sent: sent)
                            batch = []
                            batchBytes = 0
                        }
                    }
                }
            }
            if batchBytes > 0 { try await write(batch, from: content, to: &writer, sent: sent) }
            try await writer.finish(nil)
        }
    }

    /// Reads the pieces into one buffer in one call to the store, then writes it.
    private static func write(_ pieces: [BlobPiece], from content: any ContentStore, to writer: inout some ResponseBodyWriter, sent: Counter) async throws {
        var remaining = try await content.read(pieces)
        let count = remaining.readableBytes
        while remaining.readableBytes > 0, let slice = remaining.readSlice(length: min(writeSize, remaining.readableBytes)) {
            try await writer.write(slice)
        }
        sent.increment(by: Int64(count))
    }
}
