import Hummingbird
import Logging
import OTACore

/// Publishing: content upload by digest, the "which are missing" query, bundle envelopes,
/// and reading bundles back.
struct PublishingController: Sendable {
    let bundles: BundleStore
    let content: any ContentStore
    let trust: TrustRepository
    /// SHA-1 and MD5 of client images, computed as they are published (DDI clients check them).
    let artifactDigests: ArtifactDigests
    let maximumContentSize: UInt64
    let metrics: ServerMetrics
    let logger: Logger

    static let routes: [Route<Self, AdminContext>] = [
        .admin(.publisher, .post, "api/v1/content/missing", Self.missing),
        .admin(.publisher, .put, "api/v1/content/:digest", Self.upload),
        .admin(.publisher, .post, "api/v1/bundles", Self.publish),
        .admin(.viewer, .get, "api/v1/bundles", Self.list),
        .admin(.viewer, .get, "api/v1/bundles/:name/:version", Self.show),
        .admin(.viewer, .get, "api/v1/bundles/:name/:version/envelope", Self.envelope),
    ]

    func missing(_ request: Request, _ context: AdminContext) async throws -> Response {
        let body = try await request.decodeJSON(AdminAPI.MissingContentRequest.self, what: "missing-content query")
        return try JSONResponse.make(AdminAPI.MissingContentResponse(missing: try await bundles.missing(body.digests)))
    }

    func upload(_ request: Request, _ context: AdminContext) async throws -> Response {
        let digest = try context.parameter("digest", as: SHA256Digest.self)
        if let size = try await bundles.contentSize(digest), try await content.size(of: digest) != nil {
            return try JSONResponse.make(AdminAPI.ContentUploadResponse(sha256: digest, size: size, created: false))
        }
        let size = try await content.put(digest, body: request.body, maximumSize: maximumContentSize)
        let created = try await bundles.recordContent(digest, size: size, by: context.admin)
        metrics.uploads.increment()
        metrics.bytesReceived.increment(by: Int64(size))
        return try JSONResponse.make(AdminAPI.ContentUploadResponse(sha256: digest, size: size, created: created), status: created ? .created : .ok)
    }

    func publish(_ request: Request, _ context: AdminContext) async throws -> Response {
        let buffer: ByteBuffer
        do { buffer = try await request.body.collect(upTo: Envelope.maximumSize) } catch {
            throw APIError.tooLarge("an envelope is at most \(Envelope.maximumSize) bytes")
        }
        let bytes = Array(buffer.readableBytesView)
        let envelope: Envelope
        do { envelope = try Envelope.decode(bytes) } catch { throw APIError.badRequest(String(describing: error), code: .invalidEnvelope) }
        let verified: VerifiedManifest
        do { verified = try trust.bundleTrust.verify(envelope) } catch {
            throw APIError(.badRequest, .untrusted, "the server's trust root refuses this bundle: \(error)")
        }
        try await checkChunkedFiles(verified.manifest)
        try Self.checkClientImage(verified.manifest)
        let (bundle, created) = try await bundles.publish(verified, envelope: bytes, by: context.admin)
        for file in verified.manifest.files where verified.manifest.kind.isClientImage { _ = try await artifactDigests.digests(of: file.sha256) }
        if created {
            metrics.publishes.increment()
            logger.info("bundle published", metadata: ["bundle": "\(bundle.name) \(bundle.version)", "by": "\(context.admin.actor)"])
        }
        return try JSONResponse.make(AdminAPI.PublishResponse(bundle: bundle, created: created), status: created ? .created : .ok)
    }

    /// A client image (SWUpdate, RAUC) is one file its client accepts: one `.swu` or `.raucb`.
    static func checkClientImage(_ manifest: Manifest) throws {
        guard manifest.kind.isClientImage, let suffix = manifest.kind.imageExtension else { return }
        // Their clients announce no variants, so such a bundle would reach no device.
        guard manifest.variants == nil else { throw APIError.badRequest("a \(manifest.kind) bundle has no variants: its clients install one image") }
        // Its name goes into links and headers as it is: letters, digits, '.', '_' and '-'.
        guard manifest.files.count == 1, let file = manifest.files.first, file.path.value.hasSuffix(suffix),
              file.path.value.utf8.allSatisfy({ $0 < 0x80 && (Character(UnicodeScalar($0)).isLetter || Character(UnicodeScalar($0)).isNumber || [UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "-")].contains($0)) }) else {
            throw APIError.badRequest("a \(manifest.kind) bundle holds exactly one file, a \(suffix) image at its top level named with letters, digits, '.', '_' and '-'; this one holds \(manifest.files.map(\.path.value).prefix(5).joined(separator: ", "))")
        }
    }

    func list(_ request: Request, _ context: AdminContext) async throws -> Response {
        try JSONResponse.make(AdminAPI.BundleList(bundles: try await bundles.list(name: try request.query("name", as: BundleName.self))))
    }

    func show(_ request: Request, _ context: AdminContext) async throws -> Response {
        let (name, version) = (try context.parameter("name", as: BundleName.self), try context.parameter("version", as: SemanticVersion.self))
        guard let (id, found) = try await bundles.find(name: name, version: version) else { throw APIError.notFound("no bundle \(name) \(version)") }
        var bundle = found
        // What release metadata lists beside the digest (otactl release add).
        bundle.manifestSize = try await bundles.envelope(id: id)?.payload.count
        return try JSONResponse.make(bundle)
    }

    func envelope(_ request: Request, _ context: AdminContext) async throws -> Response {
        let (name, version) = (try context.parameter("name", as: BundleName.self), try context.parameter("version", as: SemanticVersion.self))
        guard let (id, _) = try await bundles.find(name: name, version: version), let bytes = try await bundles.envelopeBytes(id: id) else {
            throw APIError.notFound("no bundle \(name) \(version)")
        }
        return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    /// The chunk list of a file must describe its bytes: a file stored only as chunks must hash
    /// to its signed digest when they are read in order, and a file stored whole must hold each
    /// listed chunk at its offset. Otherwise the manifest contradicts itself and every device
    /// would refuse what it rebuilds.
    private func checkChunkedFiles(_ manifest: Manifest) async throws {
        for file in manifest.files {
            guard let chunks = file.chunks else { continue }
            if let size = try await content.size(of: file.sha256) {
                if let wrong = try await StoredFile.whole(file.sha256, size: size).firstMismatch(chunks, in: content) {
                    throw APIError(.badRequest, .chunksMismatch, "chunk \(wrong) listed for \(file.path) does not match the stored file's bytes at its offset; nothing was published")
                }
                continue
            }
            // Checked here, not later: only a list whose chunks were hashed together is recorded
            // (stored blobs never change, so what was checked stays true).
            let missing = try await content.missing(chunks.map(\.sha256))
            guard missing.isEmpty else {
                throw APIError(.badRequest, .contentMissing, "upload the content first; missing: \(file.path) (\(missing.count) of \(chunks.count) chunks)")
            }
            let digest = try await StoredFile.chunked(chunks, size: file.size).digest(in: content)
            guard digest == file.sha256 else {
                throw APIError(.badRequest, .chunksMismatch, "the chunks listed for \(file.path) make content with SHA-256 \(digest.short), not the file's \(file.sha256.short); nothing was published")
            }
        }
    }
}
