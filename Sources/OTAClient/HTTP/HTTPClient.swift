import CCurl
import OTACore
#if canImport(Glibc)
import Glibc
#endif

/// How to reach a server.
public struct HTTPClientConfiguration: Sendable {
    /// e.g. https://ota.example.com:8443 (no trailing slash needed).
    public var baseURL: String
    /// CA bundle to verify the server with; nil uses the system's.
    public var caFile: String?
    /// Plain http is refused unless this is set (or the host is loopback, when `allowLoopbackHTTP`).
    public var allowInsecureHTTP: Bool
    public var allowLoopbackHTTP: Bool
    public var connectTimeoutSeconds: Int
    /// A transfer slower than `minimumBytesPerSecond` for this long is abandoned: a stalled
    /// network, or a server trickling bytes to hold the client.
    public var stallTimeoutSeconds: Int
    public var minimumBytesPerSecond: Int
    /// The longest an API request may take in all (uploads of content have no such limit,
    /// only the minimum speed).
    public var requestTimeoutSeconds: Int
    /// The longest one download request may take; a longer download resumes with another.
    public var downloadRequestTimeoutSeconds: Int
    /// Bandwidth cap for downloads, bytes per second; nil means none.
    public var maxDownloadBytesPerSecond: Int64?
    public var userAgent: String
    /// Requests are signed with AWS Signature Version 4 by curl (an S3-compatible store).
    public var awsSigning: AWSSigning?

    public struct AWSSigning: Sendable {
        /// curl's provider string, for example "aws:amz:us-east-1:s3".
        public var provider: String
        public var accessKeyID: String
        public var secretAccessKey: String

        public init(region: String, service: String, accessKeyID: String, secretAccessKey: String) {
            provider = "aws:amz:\(region):\(service)"
            self.accessKeyID = accessKeyID
            self.secretAccessKey = secretAccessKey
        }
    }

    public init(baseURL: String, caFile: String? = nil, allowInsecureHTTP: Bool = false, allowLoopbackHTTP: Bool = false,
                connectTimeoutSeconds: Int = 15, stallTimeoutSeconds: Int = 60, minimumBytesPerSecond: Int = 1024,
                requestTimeoutSeconds: Int = 120, downloadRequestTimeoutSeconds: Int = 1800,
                maxDownloadBytesPerSecond: Int64? = nil, userAgent: String = "ota/1") {
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.caFile = caFile
        self.allowInsecureHTTP = allowInsecureHTTP
        self.allowLoopbackHTTP = allowLoopbackHTTP
        self.connectTimeoutSeconds = connectTimeoutSeconds
        self.stallTimeoutSeconds = stallTimeoutSeconds
        self.minimumBytesPerSecond = minimumBytesPerSecond
        self.requestTimeoutSeconds = requestTimeoutSeconds
        self.downloadRequestTimeoutSeconds = downloadRequestTimeoutSeconds
        self.maxDownloadBytesPerSecond = maxDownloadBytesPerSecond
        self.userAgent = userAgent
    }
}

public struct HTTPResult: Sendable {
    public let status: Int
    /// Header names in lower case.
    public let headers: [String: String]
    public let body: [UInt8]

    public var isSuccess: Bool { (200..<300).contains(status) }
}

public enum HTTPClientError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The server could not be reached or the transfer broke off.
    case transport(String)
    case insecureURL(String)
    /// The server answered with an error status (and, from an ota-server, its error code).
    case status(Int, code: APIErrorCode?, message: String, retryAfterSeconds: Int?)
    /// The server does not know this device with this key (it was deleted or re-keyed): it
    /// says no more, so that nobody learns which devices exist.
    case unknownDevice(String)
    /// A download was redirected to a host the device was not told of: not followed.
    case redirectRefused(status: Int, host: String)
    /// The server sent more than allowed (a hostile or broken server).
    case tooLarge(Int64)
    /// The server (or something posing as it) answered, but not with anything usable.
    case invalidAnswer(String)
    case file(String)

    public var description: String {
        switch self {
        case .transport(let detail): return "cannot reach the server: \(detail)"
        case .insecureURL(let url): return "refusing plain http to \(url): use https, or allow insecure http explicitly for local development"
        case .status(let status, _, let message, _): return "the server answered \(status): \(message)"
        case .unknownDevice(let message): return "the server answered 401: \(message)"
        case .redirectRefused(let status, let host):
            return "the server answered \(status): the server redirected the download to \(host), which is not a content host this device was told of; not followed"
        case .tooLarge(let limit): return "the server sent more than the \(limit) bytes expected; transfer stopped"
        case .invalidAnswer(let detail): return detail
        case .file(let detail): return detail
        }
    }

    public var statusCode: Int? {
        switch self {
        case .status(let code, _, _, _): return code
        case .unknownDevice: return 401
        case .redirectRefused(let status, _): return status
        default: return nil
        }
    }

    /// The server asks to slow down (429, or 503 while its database or store is away).
    public var asksToSlowDown: Bool { statusCode == 429 || statusCode == 503 }

    /// The seconds the server asked to wait (Retry-After), if it said.
    public var retryAfterSeconds: Int? { if case .status(_, _, _, let seconds) = self { return seconds } else { return nil } }

    /// The server refuses to serve content (403, 404, 410): the device may no longer be
    /// assigned it, or the content is gone. A redirect elsewhere counts the same.
    public var refusesContent: Bool {
        if case .redirectRefused = self { return true }
        return [403, 404, 410].contains(statusCode ?? 0)
    }

    /// The server read the request and will not take it, however often it is sent (400, 413, 422).
    public var refusesRequest: Bool { [400, 413, 422].contains(statusCode ?? 0) }
}

/// A synchronous HTTP client over one libcurl easy handle (connections are reused). It
/// blocks the calling thread: use it from a thread of its own, never from Swift
/// concurrency's cooperative pool. Not thread-safe.
public final class HTTPClient {
    public let configuration: HTTPClientConfiguration
    private let handle: UnsafeMutableRawPointer

    private static let globalInit: Bool = { curl_global_init(Int(CURL_GLOBAL_DEFAULT)) == CURLE_OK }()

    public init(_ configuration: HTTPClientConfiguration) throws {
        precondition(Self.globalInit, "curl_global_init failed")
        self.configuration = configuration
        try Self.checkScheme(of: configuration.baseURL, configuration)
        guard let handle = curl_easy_init() else { throw HTTPClientError.transport("curl_easy_init failed") }
        self.handle = handle
    }

    deinit { curl_easy_cleanup(handle) }

    /// https, or plain http where the configuration allows it.
    static func checkScheme(of url: String, _ configuration: HTTPClientConfiguration) throws {
        let lower = url.lowercased()
        if lower.hasPrefix("http://") {
            guard configuration.allowInsecureHTTP || (configuration.allowLoopbackHTTP && isLoopback(lower)) else {
                throw HTTPClientError.insecureURL(url)
            }
        } else if !lower.hasPrefix("https://") {
            throw HTTPClientError.transport("server URL must start with https:// or http://, got '\(url.prefix(200))'")
        }
    }

    /// Whether the URL's host, as curl parses it, is this machine: 127.0.0.0/8, ::1 or
    /// localhost. Never by string prefix: `http://127.0.0.1@evil.example/` names evil.example.
    static func isLoopback(_ url: String) -> Bool {
        guard let host = host(of: url)?.lowercased() else { return false }
        if host == "localhost" || host == "[::1]" || host == "::1" { return true }
        let octets = host.split(separator: ".", omittingEmptySubsequences: false)
        return octets.count == 4 && octets[0] == "127" && octets.allSatisfy { UInt8($0) != nil }
    }

    /// The host part of a URL, parsed by curl's URL API.
    public static func host(of url: String) -> String? { part(CURLUPART_HOST, of: url) }

    /// A URL's scheme (lower case) and its host as `ContentHost` spells it (`host`, or
    /// `host:port` when the port is not the scheme's default), parsed by curl's URL API.
    public static func contentHost(of url: String) -> (scheme: String, host: String)? {
        guard let scheme = part(CURLUPART_SCHEME, of: url)?.lowercased(), let host = part(CURLUPART_HOST, of: url) else { return nil }
        let port = part(CURLUPART_PORT, of: url).flatMap { Int($0) }
        return (scheme, ContentHost.normalized(host: host, port: port, scheme: scheme))
    }

    static func part(_ which: CURLUPart, of url: String) -> String? {
        guard let handle = curl_url() else { return nil }
        defer { curl_url_cleanup(handle) }
        guard curl_url_set(handle, CURLUPART_URL, url, 0) == CURLUE_OK else { return nil }
        var part: UnsafeMutablePointer<CChar>?
        guard curl_url_get(handle, which, &part, 0) == CURLUE_OK, let part else { return nil }
        defer { curl_free(part) }
        return String(cString: part)
    }

    public enum Body: Sendable {
        case none
        case bytes([UInt8])
        /// `length` bytes of a file from `offset`, streamed (uploads of large content).
        case file(path: String, offset: UInt64, length: UInt64)
    }

    /// Sends a request and collects the answer in memory (at most `maxResponseBytes`).
    public func send(_ method: String, _ path: String, headers: [String: String] = [:], body: Body = .none,
                     maxResponseBytes: Int64 = 64 << 20, progress: ((Int64, Int64) -> Void)? = nil) throws -> HTTPResult {
        let sink = MemorySink(limit: maxResponseBytes)
        let deadline: Int?
        if case .file = body { deadline = nil } else { deadline = configuration.requestTimeoutSeconds }
        let status = try perform(method, path, headers: headers, body: body, sink: sink, deadline: deadline, progress: progress.map { report in
            { _, _, uploadTotal, uploaded in report(uploaded, uploadTotal) }
        })
        return HTTPResult(status: status, headers: sink.headers, body: sink.bytes)
    }

    public struct DownloadResult: Sendable {
        /// Bytes this call received (not counting what the file already held).
        public let received: UInt64
        /// Whether the server honoured the resume range.
        public let resumed: Bool
        /// SHA-256 of the whole file, computed on the way in (no second pass over it).
        public let sha256: SHA256Digest

        public init(received: UInt64, resumed: Bool, sha256: SHA256Digest) {
            self.received = received
            self.resumed = resumed
            self.sha256 = sha256
        }
    }

    /// Downloads into `file`, resuming after what it already holds with a `Range` request.
    /// Never writes more than `expectedSize` bytes in total. On a 200 answer to a range
    /// request the file is restarted from zero.
    /// A redirect (content kept in object storage) is followed once, only where
    /// `mayFollowRedirect` allows; a refusal's body is never read into the error.
    public func download(_ path: String, to file: String, expectedSize: UInt64, headers: [String: String] = [:],
                         mayFollowRedirect: (String) -> Bool = { _ in false },
                         progress: ((UInt64, UInt64) -> Void)? = nil) throws -> DownloadResult {
        let existing = FileSystem.fileSize(file) ?? 0
        if existing == expectedSize { return DownloadResult(received: 0, resumed: true, sha256: try SHA256Digest.ofFile(at: file)) }
        if existing > expectedSize { try FileSystem.remove(file) }
        let start = existing > expectedSize ? 0 : existing
        var requestHeaders = headers
        if start > 0 { requestHeaders["Range"] = "bytes=\(start)-" }
        var (status, sink) = try downloadOnce(configuration.baseURL + path, headers: requestHeaders, to: file, start: start,
                                              expectedSize: expectedSize, progress: progress)
        var redirected = false
        if [302, 303, 307, 308].contains(status), let location = sink.headers["location"] {
            // Content the server keeps in object storage comes from a short-lived URL of its
            // own. Followed once, only to a host the caller allows (one named in signed data),
            // with none of our headers but the range: the URL carries its own authorization,
            // and every byte is still checked against its digest.
            guard location.utf8.count <= 8192, mayFollowRedirect(location) else {
                let host = Self.contentHost(of: location)?.host ?? "an unparsable address"
                throw HTTPClientError.redirectRefused(status: status, host: String(host.prefix(255)))
            }
            try Self.checkScheme(of: location, configuration)
            (status, sink) = try downloadOnce(location, headers: start > 0 ? ["Range": "bytes=\(start)-"] : [:], to: file, start: start,
                                              expectedSize: expectedSize, progress: progress)
            redirected = true
        }
        if status == 416 && start > 0 {
            // Our partial file does not fit the content on the server: start again.
            try FileSystem.remove(file)
            return try download(path, to: file, expectedSize: expectedSize, headers: headers, mayFollowRedirect: mayFollowRedirect, progress: progress)
        }
        guard status == 200 || status == 206 else {
            // An object store's refusal says nothing the device should repeat: only its status.
            throw Self.statusError(status, body: redirected ? [] : sink.errorBody, headers: sink.headers, showsBody: !redirected)
        }
        return DownloadResult(received: sink.received, resumed: sink.resumed, sha256: try sink.digest())
    }

    private func downloadOnce(_ url: String, headers: [String: String], to file: String, start: UInt64, expectedSize: UInt64,
                              progress: ((UInt64, UInt64) -> Void)?) throws -> (Int, FileSink) {
        let sink = try FileSink(path: file, startOffset: start, limit: expectedSize)
        // Progress is reported from the sink, after every chunk written (at most 16 KiB).
        sink.onWrite = progress.map { report in { offset in report(offset, expectedSize) } }
        let status = try perform("GET", url: url, headers: headers, body: .none, sink: sink,
                                 deadline: configuration.downloadRequestTimeoutSeconds, progress: nil,
                                 maxRecvSpeed: configuration.maxDownloadBytesPerSecond)
        try sink.finish()
        return (status, sink)
    }

    /// Sends `body` with POST and writes the answer into `file` from its start, never more
    /// than `expectedSize` bytes. A transfer that breaks off leaves what arrived in the file
    /// (the caller keeps whatever part of it checks out) and throws. Returns the bytes received.
    public func post(_ path: String, body: [UInt8], headers: [String: String] = [:], to file: String, expectedSize: UInt64) throws -> UInt64 {
        let sink = try FileSink(path: file, startOffset: 0, limit: expectedSize)
        let status = try perform("POST", path, headers: headers, body: .bytes(body), sink: sink,
                                 deadline: configuration.downloadRequestTimeoutSeconds, progress: nil,
                                 maxRecvSpeed: configuration.maxDownloadBytesPerSecond)
        try sink.finish()
        guard status == 200 else { throw Self.statusError(status, body: sink.errorBody, headers: sink.headers) }
        return sink.received
    }

    private func perform(_ method: String, _ path: String, headers: [String: String], body: Body, sink: ResponseSink, deadline: Int?,
                         progress: ((Int64, Int64, Int64, Int64) -> Void)?, maxRecvSpeed: Int64? = nil) throws -> Int {
        try perform(method, url: configuration.baseURL + path, headers: headers, body: body, sink: sink, deadline: deadline,
                    progress: progress, maxRecvSpeed: maxRecvSpeed)
    }

    private func perform(_ method: String, url: String, headers: [String: String], body: Body, sink: ResponseSink, deadline: Int?,
                         progress: ((Int64, Int64, Int64, Int64) -> Void)?, maxRecvSpeed: Int64? = nil) throws -> Int {
        curl_easy_reset(handle)
        var list: UnsafeMutablePointer<curl_slist>?
        defer { curl_slist_free_all(list) }
        for (name, value) in headers { list = curl_slist_append(list, "\(name): \(value)") }
        list = curl_slist_append(list, "Expect:")
        var uploadSource: FileUploadSource?
        let uploadBytes: [UInt8]
        switch body {
        case .none: uploadBytes = []
        case .bytes(let bytes): uploadBytes = bytes
        case .file(let filePath, let offset, let length):
            uploadBytes = []
            uploadSource = try FileUploadSource(path: filePath, offset: offset, length: length)
        }
        let progressBox = progress.map(ProgressBox.init)
        return try uploadBytes.withUnsafeBytes { payload -> Int in
            try withExtendedLifetime((sink, uploadSource, progressBox)) {
                ota_curl_setopt_string(handle, CURLOPT_URL, url)
                ota_curl_setopt_string(handle, CURLOPT_USERAGENT, configuration.userAgent)
                ota_curl_setopt_long(handle, CURLOPT_NOSIGNAL, 1)
                ota_curl_setopt_long(handle, CURLOPT_CONNECTTIMEOUT, configuration.connectTimeoutSeconds)
                // Below a bandwidth cap's half, so that a capped transfer never looks stalled.
                let minimumSpeed = min(configuration.minimumBytesPerSecond, Int((maxRecvSpeed ?? Int64.max) / 2))
                ota_curl_setopt_long(handle, CURLOPT_LOW_SPEED_LIMIT, max(1, minimumSpeed))
                ota_curl_setopt_long(handle, CURLOPT_LOW_SPEED_TIME, configuration.stallTimeoutSeconds)
                if let deadline { ota_curl_setopt_long(handle, CURLOPT_TIMEOUT, deadline) }
                ota_curl_setopt_long(handle, CURLOPT_PROTOCOLS, Int(CURLPROTO_HTTP | CURLPROTO_HTTPS))
                ota_curl_setopt_long(handle, CURLOPT_FOLLOWLOCATION, 0)
                ota_curl_setopt_long(handle, CURLOPT_SSL_VERIFYPEER, 1)
                ota_curl_setopt_long(handle, CURLOPT_SSL_VERIFYHOST, 2)
                if let caFile = configuration.caFile { ota_curl_setopt_string(handle, CURLOPT_CAINFO, caFile) }
                if let signing = configuration.awsSigning {
                    ota_curl_setopt_string(handle, CURLOPT_AWS_SIGV4, signing.provider)
                    ota_curl_setopt_string(handle, CURLOPT_USERNAME, signing.accessKeyID)
                    ota_curl_setopt_string(handle, CURLOPT_PASSWORD, signing.secretAccessKey)
                }
                if let speed = maxRecvSpeed { ota_curl_setopt_off(handle, CURLOPT_MAX_RECV_SPEED_LARGE, curl_off_t(speed)) }
                ota_curl_setopt_slist(handle, CURLOPT_HTTPHEADER, list)
                let context = Unmanaged.passUnretained(sink).toOpaque()
                ota_curl_setopt_data_callback(handle, CURLOPT_WRITEFUNCTION) { data, size, count, user in
                    Unmanaged<ResponseSink>.fromOpaque(user!).takeUnretainedValue().write(UnsafeRawBufferPointer(start: data, count: size * count))
                }
                ota_curl_setopt_pointer(handle, CURLOPT_WRITEDATA, context)
                ota_curl_setopt_data_callback(handle, CURLOPT_HEADERFUNCTION) { data, size, count, user in
                    Unmanaged<ResponseSink>.fromOpaque(user!).takeUnretainedValue().header(UnsafeRawBufferPointer(start: data, count: size * count))
                    return size * count
                }
                ota_curl_setopt_pointer(handle, CURLOPT_HEADERDATA, context)
                if let uploadSource {
                    ota_curl_setopt_long(handle, CURLOPT_UPLOAD, 1)
                    ota_curl_setopt_off(handle, CURLOPT_INFILESIZE_LARGE, curl_off_t(uploadSource.length))
                    ota_curl_setopt_data_callback(handle, CURLOPT_READFUNCTION) { data, size, count, user in
                        Unmanaged<FileUploadSource>.fromOpaque(user!).takeUnretainedValue().read(into: data!, capacity: size * count)
                    }
                    ota_curl_setopt_pointer(handle, CURLOPT_READDATA, Unmanaged.passUnretained(uploadSource).toOpaque())
                } else if method != "GET" && method != "HEAD" {
                    ota_curl_setopt_long(handle, CURLOPT_POST, 1)
                    ota_curl_setopt_pointer(handle, CURLOPT_POSTFIELDS, UnsafeMutableRawPointer(mutating: payload.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!))
                    ota_curl_setopt_off(handle, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(payload.count))
                }
                if method == "HEAD" { ota_curl_setopt_long(handle, CURLOPT_NOBODY, 1) }
                // curl's own verbs: GET, HEAD, POST (fields) and PUT (upload); others are named.
                let native = method == "GET" || method == "HEAD" || (method == "POST" && uploadSource == nil) || (method == "PUT" && uploadSource != nil)
                if !native { ota_curl_setopt_string(handle, CURLOPT_CUSTOMREQUEST, method) }
                if let progressBox {
                    ota_curl_setopt_long(handle, CURLOPT_NOPROGRESS, 0)
                    ota_curl_setopt_progress_callback(handle) { user, downloadTotal, downloaded, uploadTotal, uploaded in
                        Unmanaged<ProgressBox>.fromOpaque(user!).takeUnretainedValue().report(Int64(downloadTotal), Int64(downloaded), Int64(uploadTotal), Int64(uploaded))
                        return 0
                    }
                    ota_curl_setopt_pointer(handle, CURLOPT_XFERINFODATA, Unmanaged.passUnretained(progressBox).toOpaque())
                }
                let code = curl_easy_perform(handle)
                if let failure = sink.failure { throw failure }
                if let failure = uploadSource?.failure { throw failure }
                guard code == CURLE_OK else {
                    throw HTTPClientError.transport("\(String(cString: curl_easy_strerror(code))) (\(url))")
                }
                var status = 0
                ota_curl_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &status)
                return status
            }
        }
    }

    /// `showsBody`: whether a body that is not an API error may be quoted (an object store's
    /// refusal is not: it would end up in the device's events).
    static func statusError(_ status: Int, body: [UInt8], headers: [String: String], showsBody: Bool = true) -> HTTPClientError {
        // Seconds up to a day; anything else (a date, a negative or a huge number) is ignored,
        // and the caller's own backoff applies.
        let retryAfter = headers["retry-after"].flatMap { Int($0.trimmed) }.flatMap { (0...86_400).contains($0) ? $0 : nil }
        if (300..<400).contains(status), let location = headers["location"] {
            // Never followed: a redirect could lead anywhere, and the URL is the configuration's.
            return .status(status, code: nil, message: "a redirect to \(location), which is not followed: use the final address",
                           retryAfterSeconds: retryAfter)
        }
        if body.count <= 64 * 1024, let parsed = try? JSONDecoder().decode(APIErrorBody.self, from: Data(body)) {
            return .status(status, code: parsed.error.code, message: String(parsed.error.message.prefix(2000)), retryAfterSeconds: retryAfter)
        }
        // Something in between (a proxy's error page): its first bytes, which say what it is.
        // Terminals escape it when they show it.
        let text = String(decoding: body.prefix(300), as: UTF8.self)
        return .status(status, code: nil, message: showsBody && !text.isEmpty ? text : "HTTP \(status)", retryAfterSeconds: retryAfter)
    }
}

/// Receives a response: headers, then body bytes.
class ResponseSink {
    var headers: [String: String] = [:]
    var failure: HTTPClientError?
    var status = 0

    /// Returns the number of bytes taken; anything else makes curl abort the transfer.
    func write(_ data: UnsafeRawBufferPointer) -> Int { data.count }

    func header(_ line: UnsafeRawBufferPointer) {
        let text = String(decoding: line, as: UTF8.self).trimmed
        if text.hasPrefix("HTTP/") {
            headers = [:]
            status = Int(text.split(separator: " ").dropFirst().first ?? "") ?? 0
            return
        }
        guard let colon = text.firstIndex(of: ":") else { return }
        headers[text[..<colon].lowercased()] = text[text.index(after: colon)...].trimmed
    }
}

final class MemorySink: ResponseSink {
    private(set) var bytes: [UInt8] = []
    let limit: Int64

    init(limit: Int64) { self.limit = limit }

    override func write(_ data: UnsafeRawBufferPointer) -> Int {
        guard Int64(bytes.count + data.count) <= limit else {
            failure = .tooLarge(limit)
            return 0
        }
        if bytes.isEmpty, let declared = headers["content-length"].flatMap({ Int64($0) }), declared > 0, declared <= limit {
            // Room for the whole answer at once: growing by doubling would hold two copies of
            // a large answer for a moment (a device's memory is small).
            bytes.reserveCapacity(Int(declared))
        }
        bytes.append(contentsOf: data)
        return data.count
    }
}

/// Appends the body of a 206 (or rewrites from zero on a 200) to a file, never past `limit`.
/// Error bodies are kept in memory instead, so they never end up in the file.
final class FileSink: ResponseSink {
    let path: String
    let limit: UInt64
    private(set) var offset: UInt64
    private(set) var received: UInt64 = 0
    private(set) var resumed = false
    private(set) var errorBody: [UInt8] = []
    /// Called with the file's size after each chunk is written.
    var onWrite: ((UInt64) -> Void)?
    private var descriptor: Int32 = -1
    private let requestedStart: UInt64
    private var hasher = SHA256Hasher()
    private var writtenBack: UInt64 = 0
    /// Disk writeback is started every this many bytes during a download.
    static let writebackInterval: UInt64 = 8 << 20

    init(path: String, startOffset: UInt64, limit: UInt64) throws {
        self.path = path
        self.limit = limit
        self.offset = startOffset
        self.requestedStart = startOffset
    }

    /// The digest of the whole file: what it held before (read once) and what arrived.
    func digest() throws -> SHA256Digest {
        let digest = hasher.finalize()
        hasher = SHA256Hasher()
        return digest
    }

    private func open() -> Bool {
        if descriptor >= 0 { return true }
        if status == 206 {
            guard let range = headers["content-range"], range.hasPrefix("bytes \(requestedStart)-") else {
                failure = .invalidAnswer("the server answered the resume request with an unexpected range: \(headers["content-range"] ?? "none")")
                return false
            }
            resumed = true
            writtenBack = requestedStart
            // The part already on disk goes into the digest first.
            do {
                let existing = try File.open(path, .readOnly)
                var read: UInt64 = 0
                try existing.forEachChunk { chunk in
                    let wanted = Int(min(UInt64(chunk.count), requestedStart - read))
                    hasher.update(UnsafeRawBufferPointer(rebasing: chunk[..<wanted]))
                    read += UInt64(wanted)
                }
                guard read == requestedStart else { throw FileError("read (it changed)", path) }
            } catch {
                failure = .file(String(describing: error))
                return false
            }
            descriptor = Glibc.open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        } else {
            offset = 0
            descriptor = Glibc.open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        }
        if descriptor < 0 { failure = .file(String(describing: FileError("open", path))) }
        return descriptor >= 0
    }

    override func write(_ data: UnsafeRawBufferPointer) -> Int {
        guard status == 200 || status == 206 else {
            if errorBody.count < 64 * 1024 { errorBody.append(contentsOf: data.prefix(64 * 1024 - errorBody.count)) }
            return data.count
        }
        guard open() else { return 0 }
        guard offset + UInt64(data.count) <= limit else {
            failure = .tooLarge(Int64(limit))
            return 0
        }
        var written = 0
        while written < data.count {
            let n = Glibc.write(descriptor, data.baseAddress! + written, data.count - written)
            if n < 0 {
                if errno == EINTR { continue }
                failure = .file(String(describing: FileError("write", path)))
                return 0
            }
            written += n
        }
        hasher.update(data)
        offset += UInt64(data.count)
        received += UInt64(data.count)
        if offset - writtenBack >= Self.writebackInterval {
            // Starts writing this stretch to disk now (on Linux, DONTNEED on dirty pages
            // begins their writeback without waiting), so the final fsync has little left.
            _ = posix_fadvise(descriptor, off_t(writtenBack), off_t(offset - writtenBack), POSIX_FADV_DONTNEED)
            writtenBack = offset
        }
        onWrite?(offset)
        return data.count
    }

    func finish() throws {
        if descriptor >= 0 {
            let result = fsync(descriptor)
            Glibc.close(descriptor)
            descriptor = -1
            guard result == 0 else { throw HTTPClientError.file(String(describing: FileError("fsync", path))) }
        }
    }

    deinit { if descriptor >= 0 { Glibc.close(descriptor) } }
}

/// Feeds curl an upload from a file range.
final class FileUploadSource {
    let length: UInt64
    private let descriptor: Int32
    private var position: UInt64
    private let end: UInt64
    var failure: HTTPClientError?

    init(path: String, offset: UInt64, length: UInt64) throws {
        descriptor = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw HTTPClientError.file(String(describing: FileError("open", path))) }
        self.length = length
        position = offset
        end = offset + length
    }

    deinit { Glibc.close(descriptor) }

    func read(into buffer: UnsafeMutablePointer<CChar>, capacity: Int) -> Int {
        let wanted = Int(min(UInt64(capacity), end - position))
        guard wanted > 0 else { return 0 }
        let n = pread(descriptor, buffer, wanted, off_t(position))
        guard n > 0 else {
            failure = .file("the upload source ended early or could not be read")
            return Int(CURL_READFUNC_ABORT)
        }
        position += UInt64(n)
        return n
    }
}

final class ProgressBox {
    let report: (Int64, Int64, Int64, Int64) -> Void
    init(_ report: @escaping (Int64, Int64, Int64, Int64) -> Void) { self.report = report }
}
