import Hummingbird
import OTACore

/// Publishing: content upload by digest, the "which are missing" query, bundle envelopes,
/// and reading bundles back.
enum PublishingRoutes {
    static let routes: [APIRoute] = [
        APIRoute(.post, "api/v1/content/missing", .admin(.publisher)) { request, context in
            let body = try await request.decodeJSON(AdminAPI.MissingContentRequest.self, what: "missing-content query")
            let limit = AdminAPI.MissingContentRequest.maximumCount
            guard body.digests.count <= limit else { throw APIError.badRequest("ask about at most \(limit) digests at once") }
            let digests = try body.digests.map { text -> SHA256Digest in
                guard let digest = SHA256Digest(hex: text) else { throw APIError.badRequest("'\(text.prefix(80))' is not a SHA-256 digest") }
                return digest
            }
            let missing = try await context.bundles.missing(digests)
            return try JSONResponse.make(AdminAPI.MissingContentResponse(missing: missing.map(\.hex)))
        },

        APIRoute(.put, "api/v1/content/:digest", .admin(.publisher)) { request, context in
            let caller = context.admin
            let text = try context.parameter("digest")
            guard let digest = SHA256Digest(hex: text) else { throw APIError.badRequest("'\(text.prefix(80))' is not a SHA-256 digest") }
            if let size = try await context.bundles.contentSize(digest), try await context.content.size(of: digest) != nil {
                return try JSONResponse.make(AdminAPI.ContentUploadResponse(sha256: digest.hex, size: size, created: false))
            }
            let size = try await context.content.put(digest, body: request.body, maximumSize: context.configuration.maximumContentSize)
            let created = try await context.bundles.recordContent(digest, size: size, by: caller)
            context.metrics.uploads.increment()
            context.metrics.bytesReceived.increment(by: Int64(size))
            return try JSONResponse.make(AdminAPI.ContentUploadResponse(sha256: digest.hex, size: size, created: created),
                                         status: created ? .created : .ok)
        },

        APIRoute(.post, "api/v1/bundles", .admin(.publisher)) { request, context in
            let caller = context.admin
            let buffer: ByteBuffer
            do { buffer = try await request.body.collect(upTo: Envelope.maximumSize) } catch {
                throw APIError.tooLarge("an envelope is at most \(Envelope.maximumSize) bytes")
            }
            let bytes = Array(buffer.readableBytesView)
            let envelope: Envelope
            do { envelope = try Envelope.decode(bytes) } catch { throw APIError.badRequest(String(describing: error), code: "invalid_envelope") }
            let verified: VerifiedManifest
            do { verified = try context.trust.bundleTrust.verify(envelope) } catch {
                throw APIError(.badRequest, "untrusted", "the server's trust root refuses this bundle: \(error)")
            }
            try await checkChunkedFiles(verified.manifest, services: context.services)
            let (bundle, created) = try await context.bundles.publish(verified, envelope: bytes, by: caller)
            if created {
                context.metrics.publishes.increment()
                context.logger.info("bundle published", metadata: ["bundle": "\(bundle.name) \(bundle.version)", "by": "\(caller.actor)"])
            }
            return try JSONResponse.make(AdminAPI.PublishResponse(bundle: bundle, created: created), status: created ? .created : .ok)
        },

        APIRoute(.get, "api/v1/bundles", .admin(.viewer)) { request, context in
            let name = request.query("name")
            if let name, let problem = SafeName.problem(with: name, what: "name") { throw APIError.badRequest(problem) }
            return try JSONResponse.make(AdminAPI.BundleList(bundles: try await context.bundles.list(name: name)))
        },

        APIRoute(.get, "api/v1/bundles/:name/:version", .admin(.viewer)) { request, context in
            let name = try context.parameter("name"), version = try context.parameter("version")
            guard let (id, found) = try await context.bundles.find(name: name, version: version) else {
                throw APIError.notFound("no bundle \(name.prefix(128)) \(version.prefix(64))")
            }
            var bundle = found
            // What release metadata lists beside the digest (otactl release add).
            bundle.manifestSize = try await context.bundles.envelope(id: id)?.payload.count
            return try JSONResponse.make(bundle)
        },

        APIRoute(.get, "api/v1/bundles/:name/:version/envelope", .admin(.viewer)) { request, context in
            let name = try context.parameter("name"), version = try context.parameter("version")
            guard let (id, _) = try await context.bundles.find(name: name, version: version),
                  let bytes = try await context.bundles.envelopeBytes(id: id) else {
                throw APIError.notFound("no bundle \(name.prefix(128)) \(version.prefix(64))")
            }
            return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
        },
    ]

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
