import OTACore

/// The admin API, as otactl (and tests) use it.
public final class AdminClient {
    public let api: APIClient

    public init(_ configuration: HTTPClientConfiguration, token: String) throws {
        api = try APIClient(configuration, token: token)
    }

    /// Which of `digests` the server does not hold, asked in batches of the server's limit
    /// (a large chunked model lists tens of thousands of chunks).
    public func missing(_ digests: [SHA256Digest]) throws -> [String] {
        let batch = AdminAPI.MissingContentRequest.maximumCount
        return try stride(from: 0, to: digests.count, by: batch).flatMap { start -> [String] in
            let part = digests[start..<min(digests.count, start + batch)]
            let answer: AdminAPI.MissingContentResponse = try api.call("POST", "/api/v1/content/missing",
                                                                       body: AdminAPI.MissingContentRequest(digests: part.map(\.hex)))
            return answer.missing
        }
    }

    /// Streams `length` bytes of `file` from `offset` as the content `digest`.
    public func upload(_ digest: SHA256Digest, file: String, offset: UInt64, length: UInt64,
                       progress: ((Int64, Int64) -> Void)? = nil) throws -> AdminAPI.ContentUploadResponse {
        let result = try api.retryingUnavailable {
            try api.http.send("PUT", "/api/v1/content/\(digest.hex)", headers: api.authorization.merging(["Content-Type": "application/octet-stream"]) { a, _ in a },
                              body: .file(path: file, offset: offset, length: length), progress: progress)
        }
        return try JSONDecoder().decode(AdminAPI.ContentUploadResponse.self, from: Data(result.body))
    }

    public func publish(envelope: [UInt8]) throws -> AdminAPI.PublishResponse {
        let result = try api.retryingUnavailable {
            try api.http.send("POST", "/api/v1/bundles", headers: api.authorization.merging(["Content-Type": "application/json"]) { a, _ in a },
                              body: .bytes(envelope))
        }
        return try JSONDecoder().decode(AdminAPI.PublishResponse.self, from: Data(result.body))
    }

    public func bundles(name: String? = nil) throws -> [AdminAPI.Bundle] {
        let list: AdminAPI.BundleList = try api.call("GET", "/api/v1/bundles" + APIClient.query([("name", name)]))
        return list.bundles
    }

    public func bundle(name: String, version: String) throws -> AdminAPI.Bundle {
        try api.call("GET", "/api/v1/bundles/\(APIClient.escape(name))/\(APIClient.escape(version))")
    }

    public func createDeployment(_ request: AdminAPI.DeploymentCreateRequest) throws -> AdminAPI.Deployment {
        try api.call("POST", "/api/v1/deployments", body: request)
    }

    public func deployments() throws -> [AdminAPI.Deployment] {
        let list: AdminAPI.DeploymentList = try api.call("GET", "/api/v1/deployments")
        return list.deployments
    }

    public func fleetSummary() throws -> AdminAPI.FleetSummary {
        try api.call("GET", "/api/v1/fleet/summary")
    }

    public func deployment(_ id: String) throws -> AdminAPI.Deployment {
        try api.call("GET", "/api/v1/deployments/\(APIClient.escape(id))")
    }

    /// advance, pause, resume or cancel.
    public func control(_ id: String, _ action: String, reason: String? = nil) throws -> AdminAPI.Deployment {
        struct Body: Encodable { let reason: String? }
        return try api.call("POST", "/api/v1/deployments/\(APIClient.escape(id))/\(action)", body: Body(reason: reason))
    }

    public struct DeviceQuery: Sendable {
        public var hardware: String?
        public var tag: String?
        public var group: String?
        public var bundle: String?
        public var version: String?
        public var state: String?
        public var status: String?
        public var seenBefore: String?
        public var seenAfter: String?
        /// "stale": devices whose trust report shows a problem or expired release metadata.
        public var trust: String?
        public var cursor: String?
        public var limit: Int?
        public init() {}
    }

    public func devices(_ query: DeviceQuery) throws -> AdminAPI.DevicePage {
        try api.call("GET", "/api/v1/devices" + APIClient.query([
            ("hardware", query.hardware), ("tag", query.tag), ("group", query.group), ("bundle", query.bundle),
            ("version", query.version), ("state", query.state), ("status", query.status), ("seen_before", query.seenBefore), ("seen_after", query.seenAfter),
            ("trust", query.trust), ("cursor", query.cursor), ("limit", query.limit.map(String.init)),
        ]))
    }

    public func device(_ id: String) throws -> AdminAPI.DeviceDetail {
        try api.call("GET", "/api/v1/devices/\(APIClient.escape(id))")
    }

    /// accept or reject.
    public func setDeviceStatus(_ id: String, _ action: String) throws -> AdminAPI.Device {
        try api.call("POST", "/api/v1/devices/\(APIClient.escape(id))/\(action)")
    }

    public func setDeviceKey(_ id: String, publicKey: String) throws -> AdminAPI.Device {
        try api.call("PUT", "/api/v1/devices/\(APIClient.escape(id))/key", body: AdminAPI.DeviceKeyRequest(publicKey: publicKey))
    }

    public func importDevices(_ devices: [AdminAPI.PreauthorizedDevice]) throws -> AdminAPI.DeviceImportResponse {
        try api.call("POST", "/api/v1/devices/import", body: AdminAPI.DeviceImportRequest(devices: devices))
    }

    public func createEnrollmentToken(_ request: AdminAPI.EnrollmentTokenCreateRequest) throws -> AdminAPI.EnrollmentToken {
        try api.call("POST", "/api/v1/enrollment-tokens", body: request)
    }

    public func enrollmentTokens() throws -> [AdminAPI.EnrollmentToken] {
        let list: AdminAPI.EnrollmentTokenList = try api.call("GET", "/api/v1/enrollment-tokens")
        return list.tokens
    }

    public func revokeEnrollmentToken(_ id: String) throws {
        try api.send("DELETE", "/api/v1/enrollment-tokens/\(APIClient.escape(id))")
    }

    public func audit(limit: Int = 100) throws -> AdminAPI.AuditPage {
        try api.call("GET", "/api/v1/audit?limit=\(limit)")
    }
}

extension AdminClient {
    public func trustSummary() throws -> AdminAPI.TrustSummary { try api.call("GET", AdminAPI.trustPath) }

    /// Root version `version` as the server stores it, byte for byte.
    public func root(version: Int) throws -> [UInt8] { try rawGet("\(AdminAPI.trustRootPath)/\(version)") }

    /// The current release (targets) metadata, or nil when none was published.
    public func releaseMetadata() throws -> [UInt8]? {
        do { return try rawGet(AdminAPI.trustTargetsPath) } catch let error as HTTPClientError {
            if case .status(404, _, _, _) = error { return nil }
            throw error
        }
    }

    /// A published bundle's envelope, byte for byte.
    public func bundleEnvelope(name: String, version: String) throws -> [UInt8] {
        try rawGet("/api/v1/bundles/\(APIClient.escape(name))/\(APIClient.escape(version))/envelope")
    }

    public func publishRoot(_ envelope: [UInt8]) throws -> AdminAPI.TrustPublishResponse { try rawPost(AdminAPI.trustRootPath, envelope) }

    /// `reason`: why it was built on older or expired metadata, for the audit log.
    public func publishRelease(_ envelope: [UInt8], reason: String? = nil) throws -> AdminAPI.TrustPublishResponse {
        try rawPost(AdminAPI.trustTargetsPath + APIClient.query([("reason", reason)]), envelope)
    }

    private func rawGet(_ path: String) throws -> [UInt8] {
        try api.retryingUnavailable { try api.http.send("GET", path, headers: api.authorization) }.body
    }

    private func rawPost<T: Decodable>(_ path: String, _ body: [UInt8]) throws -> T {
        let result = try api.retryingUnavailable {
            try api.http.send("POST", path, headers: api.authorization.merging(["Content-Type": "application/json"]) { a, _ in a }, body: .bytes(body))
        }
        do { return try JSONDecoder().decode(T.self, from: Data(result.body)) } catch {
            throw HTTPClientError.invalidAnswer("the server's answer to POST \(path) is not what this client understands: \(error)")
        }
    }
}
