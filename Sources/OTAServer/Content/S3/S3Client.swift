import Foundation
import NIOPosix
import OTAClient
import OTACore

/// Requests to one S3 bucket, signed by libcurl (`CURLOPT_AWS_SIGV4`). libcurl blocks, so
/// requests run on a pool of threads of their own, each with a reused connection; the event
/// loops and NIO's shared pool (local files) never wait for the object store.
final class S3Client: @unchecked Sendable {
    let location: S3Location
    let credentials: S3Credentials
    /// Concurrent requests at most (and threads).
    let concurrency: Int
    private let threads: NIOThreadPool
    private let configuration: HTTPClientConfiguration
    // Guards `idle`; HTTPClient is not thread-safe, so each is used by one thread at a time.
    private let lock = NSLock()
    private var idle: [HTTPClient] = []

    init(location: S3Location, credentials: S3Credentials, allowHTTP: Bool, concurrency: Int = 8) {
        self.location = location
        self.credentials = credentials
        self.concurrency = concurrency
        var configuration = HTTPClientConfiguration(baseURL: location.address(of: nil).base, allowInsecureHTTP: allowHTTP, allowLoopbackHTTP: true,
                                                    connectTimeoutSeconds: 5, stallTimeoutSeconds: 30, requestTimeoutSeconds: 60,
                                                    userAgent: "ota-server/1")
        configuration.awsSigning = .init(region: location.region, service: "s3", accessKeyID: credentials.accessKeyID,
                                         secretAccessKey: credentials.secretAccessKey)
        self.configuration = configuration
        threads = NIOThreadPool(numberOfThreads: concurrency)
        threads.start()
    }

    deinit { threads.shutdownGracefully { _ in } }

    /// Sends one request about `key` (or the bucket itself when nil). A store that cannot be
    /// reached, or answers 5xx, is `ContentError.unavailable`.
    func send(_ method: String, key: String?, headers: [String: String] = [:], body: HTTPClient.Body = .none,
              maxResponseBytes: Int64 = 1 << 20) async throws -> HTTPResult {
        var headers = headers
        if let token = credentials.sessionToken { headers["x-amz-security-token"] = token }
        let path = location.address(of: key).path
        let sent = headers
        let result: HTTPResult = try await threads.runIfActive { [self] in
            let client = try take()
            defer { give(client) }
            do { return try client.send(method, path, headers: sent, body: body, maxResponseBytes: maxResponseBytes) } catch let error as HTTPClientError {
                if case .transport(let detail) = error { throw ContentError.unavailable("\(location.endpoint): \(detail)") }
                throw ContentError.storage("\(method) \(path): \(error)")
            }
        }
        if result.status >= 500 { throw ContentError.unavailable("\(location.endpoint) answered \(method) \(path) with \(Self.describe(result))") }
        return result
    }

    /// S3's error answer in a line: "403 SignatureDoesNotMatch: The request signature…".
    static func describe(_ result: HTTPResult) -> String {
        let text = String(decoding: result.body.prefix(8192), as: UTF8.self)
        func element(_ name: String) -> String? {
            guard let start = text.range(of: "<\(name)>"), let end = text.range(of: "</\(name)>", range: start.upperBound..<text.endIndex) else { return nil }
            return String(text[start.upperBound..<end.lowerBound].prefix(300))
        }
        switch (element("Code"), element("Message")) {
        case (let code?, let message?): return "\(result.status) \(code): \(message)"
        case (let code?, nil): return "\(result.status) \(code)"
        default: return "HTTP \(result.status)"
        }
    }

    private func take() throws -> HTTPClient {
        lock.lock()
        let reused = idle.popLast()
        lock.unlock()
        return try reused ?? HTTPClient(configuration)
    }

    private func give(_ client: HTTPClient) {
        lock.lock()
        idle.append(client)
        lock.unlock()
    }
}
