import Hummingbird
import OTACore

/// Publishing: content upload by digest, the "which are missing" query, bundle envelopes,
/// and reading bundles back.
enum PublishingRoutes {
    static func add(to router: Router<BasicRequestContext>, services: ServerServices) {
        let api = router.group("api/v1")

        api.post("content/missing") { request, _ -> Response in
            _ = try await services.admin(request, .publisher)
            let body = try await request.decodeJSON(AdminAPI.MissingContentRequest.self, what: "missing-content query")
            let limit = AdminAPI.MissingContentRequest.maximumCount
            guard body.digests.count <= limit else { throw APIError.badRequest("ask about at most \(limit) digests at once") }
            let digests = try body.digests.map { text -> SHA256Digest in
                guard let digest = SHA256Digest(hex: text) else { throw APIError.badRequest("'\(text.prefix(80))' is not a SHA-256 digest") }
                return digest
            }
            let missing = try await services.bundles.missing(digests)
            return try JSONResponse.make(AdminAPI.MissingContentResponse(missing: missing.map(\.hex)))
        }

        api.put("content/:digest") { request, context -> Response in
            let caller = try await services.admin(request, .publisher)
            let text = try context.parameter("digest")
            guard let digest = SHA256Digest(hex: text) else { throw APIError.badRequest("'\(text.prefix(80))' is not a SHA-256 digest") }
            if let size = try await services.bundles.contentSize(digest), try await services.content.size(of: digest) != nil {
                return try JSONResponse.make(AdminAPI.ContentUploadResponse(sha256: digest.hex, size: size, created: false))
            }
            let size = try await services.content.put(digest, body: request.body, maximumSize: services.configuration.maximumContentSize)
            let created = try await services.bundles.recordContent(digest, size: size, by: caller)
            services.metrics.uploads.increment()
            services.metrics.bytesReceived.increment(by: Int64(size))
            return try JSONResponse.make(AdminAPI.ContentUploadResponse(sha256: digest.hex, size: size, created: created),
                                         status: created ? .created : .ok)
        }

        api.post("bundles") { request, _ -> Response in
            let caller = try await services.admin(request, .publisher)
            let buffer: ByteBuffer
            do { buffer = try await request.body.collect(upTo: Envelope.maximumSize) } catch {
                throw APIError.tooLarge("an envelope is at most \(Envelope.maximumSize) bytes")
            }
            let bytes = Array(buffer.readableBytesView)
            let envelope: Envelope
            do { envelope = try Envelope.decode(bytes) } catch { throw APIError.badRequest(String(describing: error), code: "invalid_envelope") }
            let verified: VerifiedManifest
            do { verified = try services.trust.bundleTrust.verify(envelope) } catch {
                throw APIError(.badRequest, "untrusted", "the server's trust root refuses this bundle: \(error)")
            }
            try await checkChunkedFiles(verified.manifest, services: services)
            let (bundle, created) = try await services.bundles.publish(verified, envelope: bytes, by: caller)
            if created {
                services.metrics.publishes.increment()
                services.logger.info("bundle published", metadata: ["bundle": "\(bundle.name) \(bundle.version)", "by": "\(caller.actor)"])
            }
            return try JSONResponse.make(AdminAPI.PublishResponse(bundle: bundle, created: created), status: created ? .created : .ok)
        }

        api.get("bundles") { request, _ -> Response in
            _ = try await services.admin(request, .viewer)
            let name = request.query("name")
            if let name, let problem = SafeName.problem(with: name, what: "name") { throw APIError.badRequest(problem) }
            return try JSONResponse.make(AdminAPI.BundleList(bundles: try await services.bundles.list(name: name)))
        }

        api.get("bundles/:name/:version") { request, context -> Response in
            _ = try await services.admin(request, .viewer)
            let name = try context.parameter("name"), version = try context.parameter("version")
            guard let (id, found) = try await services.bundles.find(name: name, version: version) else {
                throw APIError.notFound("no bundle \(name.prefix(128)) \(version.prefix(64))")
            }
            var bundle = found
            // What release metadata lists beside the digest (otactl release add).
            bundle.manifestSize = try await services.bundles.envelope(id: id)?.payload.count
            return try JSONResponse.make(bundle)
        }

        api.get("bundles/:name/:version/envelope") { request, context -> Response in
            _ = try await services.admin(request, .viewer)
            let name = try context.parameter("name"), version = try context.parameter("version")
            guard let (id, _) = try await services.bundles.find(name: name, version: version),
                  let bytes = try await services.bundles.envelopeBytes(id: id) else {
                throw APIError.notFound("no bundle \(name.prefix(128)) \(version.prefix(64))")
            }
            return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
        }
    }

    /// The chunk list of a file must describe its bytes: a file stored only as chunks must hash
    /// to its signed digest when they are read in order, and a file stored whole must hold each
    /// listed chunk at its offset. Otherwise the manifest contradicts itself and every device
    /// would refuse what it rebuilds.
    private static func checkChunkedFiles(_ manifest: Manifest, services: ServerServices) async throws {
        for file in manifest.files {
            guard let chunks = file.chunks else { continue }
            if let size = try await services.content.size(of: file.sha256) {
                if let wrong = try await StoredFile.whole(file.sha256, size: size).firstMismatch(chunks, in: services.content) {
                    throw APIError(.badRequest, "chunks_mismatch", "chunk \(wrong) listed for \(file.path) does not match the stored file's bytes at its offset; nothing was published")
                }
                continue
            }
            // Checked here, not later: only a list whose chunks were hashed together is recorded
            // (stored blobs never change, so what was checked stays true).
            let missing = try await services.content.missing(chunks.map(\.sha256))
            guard missing.isEmpty else {
                throw APIError(.badRequest, "content_missing", "upload the content first; missing: \(file.path) (\(missing.count) of \(chunks.count) chunks)")
            }
            let digest = try await StoredFile.chunked(chunks, size: file.size).digest(in: services.content)
            guard digest == file.sha256 else {
                throw APIError(.badRequest, "chunks_mismatch", "the chunks listed for \(file.path) make content with SHA-256 \(digest.short), not the file's \(file.sha256.short); nothing was published")
            }
        }
    }
}
