import OTACore

/// The admin API, as otactl (and tests) use it.
public final class AdminClient {
    public let api: APIClient

    public init(_ configuration: HTTPClientConfiguration, token: String) throws {
        api = try APIClient(configuration, token: token)
    }

    /// Which of `digests` the server does not hold, asked in batches of the server's limit
    /// (a large chunked model lists tens of thousands of chunks).
    public func missing(_ digests: [SHA256Digest]) throws -> [SHA256Digest] {
        let batch = AdminAPI.MissingContentRequest.maximumCount
        return try stride(from: 0, to: digests.count, by: batch).flatMap { start -> [SHA256Digest] in
            let part = digests[start..<min(digests.count, start + batch)]
            let answer: AdminAPI.MissingContentResponse = try api.call("POST", "/api/v1/content/missing",
                                                                       body: AdminAPI.MissingContentRequest(digests: Array(part)))
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

    public func bundles(name: BundleName? = nil) throws -> [AdminAPI.Bundle] {
        let list: AdminAPI.BundleList = try api.call("GET", "/api/v1/bundles" + APIClient.query([("name", name?.rawValue)]))
        return list.bundles
    }

    public func bundle(name: BundleName, version: SemanticVersion) throws -> AdminAPI.Bundle {
        try api.call("GET", "/api/v1/bundles/\(APIClient.escape(name.rawValue))/\(APIClient.escape(version.description))")
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

    public func deployment(_ id: DeploymentID) throws -> AdminAPI.Deployment {
        try api.call("GET", "/api/v1/deployments/\(APIClient.escape(id.rawValue))")
    }

    public func control(_ id: DeploymentID, _ control: DeploymentControl, reason: String? = nil) throws -> AdminAPI.Deployment {
        try api.call("POST", "/api/v1/deployments/\(APIClient.escape(id.rawValue))/\(control.rawValue)", body: AdminAPI.ControlRequest(reason: reason))
    }

    public struct DeviceQuery: Sendable {
        public var hardware: HardwareClass?
        public var tag: Tag?
        public var group: GroupName?
        public var bundle: BundleName?
        public var version: SemanticVersion?
        public var state: DeviceUpdateState?
        public var status: DeviceAPI.DeviceStatus?
        public var seenBefore: Timestamp?
        public var seenAfter: Timestamp?
        /// Only devices whose trust report shows a problem or expired release metadata.
        public var staleTrust = false
        public var cursor: String?
        public var limit: Int?
        public init() {}
    }

    public func devices(_ query: DeviceQuery) throws -> AdminAPI.DevicePage {
        try api.call("GET", "/api/v1/devices" + APIClient.query([
            ("hardware", query.hardware?.rawValue), ("tag", query.tag?.rawValue), ("group", query.group?.rawValue), ("bundle", query.bundle?.rawValue),
            ("version", query.version?.description), ("state", query.state?.rawValue), ("status", query.status?.rawValue),
            ("seen_before", query.seenBefore?.rfc3339), ("seen_after", query.seenAfter?.rfc3339),
            ("trust", query.staleTrust ? "stale" : nil), ("cursor", query.cursor), ("limit", query.limit.map(String.init)),
        ]))
    }

    public func device(_ id: DeviceID) throws -> AdminAPI.DeviceDetail {
        try api.call("GET", "/api/v1/devices/\(APIClient.escape(id.rawValue))")
    }

    /// Accepts or rejects a device.
    public func setDeviceStatus(_ id: DeviceID, _ decision: AdminAPI.DeviceDecision) throws -> AdminAPI.Device {
        try api.call("POST", "/api/v1/devices/\(APIClient.escape(id.rawValue))/\(decision.rawValue)")
    }

    public func setDeviceKey(_ id: DeviceID, publicKey: String) throws -> AdminAPI.Device {
        try api.call("PUT", "/api/v1/devices/\(APIClient.escape(id.rawValue))/key", body: AdminAPI.DeviceKeyRequest(publicKey: publicKey))
    }

    public func importDevices(_ devices: [AdminAPI.PreauthorizedDevice]) throws -> AdminAPI.DeviceImportResponse {
        try api.call("POST", "/api/v1/devices/import", body: AdminAPI.DeviceImportRequest(devices: devices))
    }

    /// Adds a device on hawkBit's DDI API; the answer holds its token, shown once.
    public func addDDIDevice(_ request: AdminAPI.DDIDeviceRequest) throws -> AdminAPI.DDIToken {
        try api.call("POST", "/api/v1/devices/ddi", body: request)
    }

    public func rotateDDIToken(_ id: DeviceID) throws -> AdminAPI.DDIToken {
        try api.call("POST", "/api/v1/devices/\(APIClient.escape(id.rawValue))/ddi-token")
    }

    public func createEnrollmentToken(_ request: AdminAPI.EnrollmentTokenCreateRequest) throws -> AdminAPI.EnrollmentToken {
        try api.call("POST", "/api/v1/enrollment-tokens", body: request)
    }

    public func enrollmentTokens() throws -> [AdminAPI.EnrollmentToken] {
        let list: AdminAPI.EnrollmentTokenList = try api.call("GET", "/api/v1/enrollment-tokens")
        return list.tokens
    }

    public func revokeEnrollmentToken(_ id: TokenID) throws {
        try api.send("DELETE", "/api/v1/enrollment-tokens/\(APIClient.escape(id.rawValue))")
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
    public func bundleEnvelope(name: BundleName, version: SemanticVersion) throws -> [UInt8] {
        try rawGet("/api/v1/bundles/\(APIClient.escape(name.rawValue))/\(APIClient.escape(version.description))/envelope")
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
