import OTACore

/// The device API, as the agent uses it. A device authenticates with its Ed25519 key: it
/// opens a session by signing a fresh proof, then signs every request with the session's
/// HMAC key (`RequestSignature`). A device registered before device keys may still use its
/// bearer token until it binds a key.
public final class DeviceClient {
    public let api: APIClient
    /// The largest answer a device takes: room for a check-in with many assignments of
    /// the largest envelope (4 MiB), while a hostile answer cannot make a small device
    /// hold (and decode) tens of MiB.
    public static let maxAnswerBytes: Int64 = 16 << 20

    public enum Credentials: Sendable {
        case none
        case key(deviceID: DeviceID, key: Ed25519PrivateKey)
        /// A device token from before device keys, for the transition only.
        case bearer(String)
    }

    /// A session as the server granted it.
    public struct Session: Sendable {
        public let id: String
        public let key: [UInt8]
        /// When to open the next one (a minute before the server's expiry).
        public let renewAt: Int64
    }

    public var credentials: Credentials {
        didSet { session = nil }
    }
    public var session: Session?
    /// Where a content download may follow a redirect to (the server's object store, as its
    /// signed answer names it); nowhere by default.
    public var mayFollowRedirect: @Sendable (String) -> Bool = { _ in false }

    public init(_ configuration: HTTPClientConfiguration, credentials: Credentials = .none) throws {
        api = try APIClient(configuration, token: nil)
        self.credentials = credentials
        api.maxAnswerBytes = Self.maxAnswerBytes
        api.signer = { [unowned self] method, path, body in try self.authentication(method, path, body) }
    }

    public func register(_ request: DeviceAPI.RegisterRequest) throws -> DeviceAPI.RegisterResponse {
        try api.call("POST", DeviceAPI.registerPath, body: request)
    }

    /// Opens a session with the device key (the server refuses devices not accepted).
    @discardableResult
    public func openSession() throws -> Session {
        guard case .key(let deviceID, let key) = credentials else { throw HTTPClientError.invalidAnswer("no device key to open a session with") }
        var answer: DeviceAPI.SessionResponse?
        // A refused proof is tried once more with a new one: a proxy that sent the first to a
        // second instance after the first one died (the first having recorded it) gets
        // "used before" for a proof this device sent once. A device the server does not know
        // is refused the same way twice.
        for attempt in 1...2 where answer == nil {
            do {
                answer = try api.call("POST", DeviceAPI.sessionPath,
                                      body: DeviceAPI.SessionRequest(deviceID: deviceID, proof: try DeviceProof.sign(.session, deviceID: deviceID, key: key)))
            } catch let error as HTTPClientError where error.statusCode == 401 && attempt == 2 {
                guard case .status(_, _, let message, _) = error else { throw error }
                throw HTTPClientError.unknownDevice(message)
            } catch let error as HTTPClientError where error.statusCode == 401 {
                continue
            }
        }
        guard let answer else { throw HTTPClientError.invalidAnswer("no session answer") }
        let accepted: DeviceAPI.SessionResponse.Accepted
        do { accepted = try answer.accepted(at: Timestamp.epochSeconds()) } catch {
            throw HTTPClientError.invalidAnswer("the server's session answer is malformed: \(error)")
        }
        let opened = Session(id: accepted.id, key: accepted.key, renewAt: accepted.renewAt)
        session = opened
        return opened
    }

    /// Binds `key` to a device known by its bearer token; afterwards the client uses the key.
    public func bindKey(deviceID: DeviceID, key: Ed25519PrivateKey) throws {
        let proof = try DeviceProof.sign(.bindKey, deviceID: deviceID, key: key)
        try api.send("POST", DeviceAPI.keyPath, body: DeviceAPI.BindKeyRequest(publicKey: Base64.encode(key.publicKey.raw), proof: proof))
        credentials = .key(deviceID: deviceID, key: key)
    }

    public func checkin(_ request: DeviceAPI.CheckinRequest) throws -> DeviceAPI.CheckinResponse {
        try retryingOnStaleSession { try api.call("POST", DeviceAPI.checkinPath, body: request) }
    }

    /// The check-in answer's bytes, for the caller to verify (`DeviceTrust`).
    public func checkinAnswer(_ request: DeviceAPI.CheckinRequest) throws -> [UInt8] {
        try retryingOnStaleSession { try api.raw("POST", DeviceAPI.checkinPath, body: request).body }
    }

    /// The id this client acts as, once it has credentials.
    public var deviceID: DeviceID? {
        if case .key(let id, _) = credentials { return id }
        return nil
    }

    public func report(_ events: [DeviceAPI.Event]) throws {
        try retryingOnStaleSession {
            let _: DeviceAPI.EventsResponse = try api.call("POST", DeviceAPI.eventsPath, body: DeviceAPI.EventsRequest(events: events))
        }
    }

    public func sendMetrics(_ metrics: [DeviceAPI.ModelMetrics]) throws {
        for batch in stride(from: 0, to: metrics.count, by: DeviceAPI.MetricsRequest.maximumCount) {
            let request = DeviceAPI.MetricsRequest(metrics: Array(metrics[batch..<min(metrics.count, batch + DeviceAPI.MetricsRequest.maximumCount)]))
            try retryingOnStaleSession {
                let _: DeviceAPI.EventsResponse = try api.call("POST", DeviceAPI.metricsPath, body: request)
            }
        }
    }

    /// Downloads content by digest into `file`, resuming what the file already holds.
    public func download(_ digest: SHA256Digest, to file: String, expectedSize: UInt64,
                         progress: ((UInt64, UInt64) -> Void)? = nil) throws -> HTTPClient.DownloadResult {
        let path = DeviceAPI.contentPathPrefix + digest.hex
        return try retryingOnStaleSession {
            let headers = try authentication("GET", path, []).merging(["If-Range": "\"\(digest.hex)\""]) { a, _ in a }
            return try api.http.download(path, to: file, expectedSize: expectedSize, headers: headers, mayFollowRedirect: mayFollowRedirect,
                                         progress: progress)
        }
    }

    /// Several ranges of the content `digest`, back to back, into `file` (see `HTTPClient.post`).
    public func downloadRanges(_ digest: SHA256Digest, _ ranges: [DeviceAPI.RangesRequest.Range], to file: String) throws -> UInt64 {
        let path = DeviceAPI.contentPathPrefix + digest.hex + DeviceAPI.rangesPathSuffix
        let body = Array(try StrictJSON.encode(DeviceAPI.RangesRequest(ranges: ranges)))
        let expected = ranges.reduce(0) { $0 + $1.length }
        return try retryingOnStaleSession {
            let headers = try authentication("POST", path, body).merging(["Content-Type": "application/json"]) { a, _ in a }
            return try api.http.post(path, body: body, headers: headers, to: file, expectedSize: expected)
        }
    }

    /// The headers that authenticate one request (a signature over its method, path and body).
    public func signedHeaders(_ method: String, _ path: String, body: [UInt8]) throws -> [String: String] {
        try authentication(method, path, body)
    }

    /// The headers that authenticate one request.
    func authentication(_ method: String, _ path: String, _ body: [UInt8]) throws -> [String: String] {
        switch credentials {
        case .none: return [:]
        case .bearer(let token): return ["Authorization": "Bearer \(token)"]
        case .key:
            // Registration and session opening carry their own proofs.
            if path == DeviceAPI.registerPath || path == DeviceAPI.sessionPath { return [:] }
            let current = try session.flatMap { $0.renewAt > Timestamp.epochSeconds() ? $0 : nil } ?? openSession()
            // The API path, without any prefix of the base URL: ota-server serves /api/v1 at its
            // root, so a proxy that adds a prefix strips it before the server sees the path.
            return RequestSignature.headers(method: method, path: path, body: body, sessionID: current.id, key: current.key)
        }
    }

    /// A session the server no longer honours (it restarted with another secret, or the
    /// device's key changed) is opened anew, once.
    private func retryingOnStaleSession<T>(_ body: () throws -> T) throws -> T {
        do { return try body() } catch let error as HTTPClientError where error.statusCode == 401 && session != nil {
            session = nil
            return try body()
        }
    }
}
