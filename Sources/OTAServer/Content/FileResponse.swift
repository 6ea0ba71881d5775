import Hummingbird
import OTACore

/// A stored file as an HTTP answer: whole, or the one range asked for (every `Range` form a
/// resuming client sends, `If-Range` honoured), HEAD without a body, and from the object
/// store by redirect when the caller may follow one.
struct FileResponse: Sendable {
    let content: any ContentStore
    let metrics: ServerMetrics

    func respond(_ request: Request, digest: SHA256Digest, stored: StoredFile, headOnly: Bool, mayRedirect: Bool,
                 extraHeaders: HTTPFields = [:]) throws -> Response {
        let size = stored.size
        let etag = "\"\(digest.hex)\""
        var headers: HTTPFields = [.eTag: etag, .acceptRanges: "bytes", .contentType: "application/octet-stream",
                                   .cacheControl: "private, max-age=31536000, immutable"]
        headers.append(contentsOf: extraHeaders)
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
            var error = APIError(.rangeNotSatisfiable, .rangeNotSatisfiable, "the requested range is outside the content's \(size) bytes")
            error.headers = [.contentRange: "bytes */\(size)", .acceptRanges: "bytes"]
            throw error
        }
        metrics.downloads.increment()
        if mayRedirect, let blob = stored.wholeBlob, let url = content.directURL(of: blob) {
            // From the object store itself: the device follows this once and checks every
            // byte against the signed manifest as always.
            metrics.redirectedDownloads.increment()
            return Response(status: .temporaryRedirect, headers: [.location: url, .cacheControl: "private, no-store"], body: .init())
        }
        let counted = FileStreaming.body(stored, ranges: [range], content: content, sent: metrics.bytesSent)
        return Response(status: status, headers: headers, body: counted)
    }
}
