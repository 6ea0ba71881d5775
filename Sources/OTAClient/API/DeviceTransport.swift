import OTACore

/// Where an update's files come from: the seam between the update logic and the network, so
/// that the logic can be tried in process against every way a transfer goes wrong.
public protocol ContentFetcher: AnyObject {
    /// Appends to `file` (resuming what it already holds) the content `digest`, never past
    /// `expectedSize` bytes in all. Throws `HTTPClientError` for every transfer problem.
    func fetch(_ digest: SHA256Digest, to file: String, expectedSize: UInt64,
               progress: ((UInt64, UInt64) -> Void)?) throws -> HTTPClient.DownloadResult

    /// Writes into `file` (from its start) the given ranges of the content `digest`, back to
    /// back. What arrived stays in `file` when the transfer breaks off (and it throws).
    /// Returns the bytes received.
    func fetchRanges(_ digest: SHA256Digest, _ ranges: [DeviceAPI.RangesRequest.Range], to file: String) throws -> UInt64
}

/// Everything a device says to its server, like python-tuf's `FetcherInterface`: the libcurl
/// `DeviceClient` in production, an in-memory fleet in tests (honest, slow, cut, hostile or
/// compromised). Errors are `HTTPClientError`, whichever carries them.
public protocol DeviceTransport: ContentFetcher {
    /// The device this transport acts as; nil before it has a key.
    var deviceID: DeviceID? { get }
    /// Where a content download may follow a redirect to (the hosts a verified answer named).
    var mayFollowRedirect: @Sendable (String) -> Bool { get set }

    func register(_ request: DeviceAPI.RegisterRequest) throws -> DeviceAPI.RegisterResponse
    /// Binds `key` to a device known by its bearer token (the transition to device keys);
    /// afterwards the transport acts with the key.
    func bindKey(deviceID: DeviceID, key: Ed25519PrivateKey) throws
    /// The check-in answer's bytes, for the caller to verify (`CheckinAnswer`).
    func checkinAnswer(_ request: DeviceAPI.CheckinRequest) throws -> [UInt8]
    func report(_ events: [DeviceAPI.Event]) throws
    func sendMetrics(_ metrics: [DeviceAPI.ModelMetrics]) throws
}

/// Makes the transport for a set of credentials: the seam the agent connects through.
public protocol DeviceConnector: Sendable {
    func connect(_ credentials: DeviceClient.Credentials) throws -> any DeviceTransport
}

/// The real network: a `DeviceClient` over libcurl.
public struct HTTPDeviceConnector: DeviceConnector {
    public let configuration: HTTPClientConfiguration
    public init(_ configuration: HTTPClientConfiguration) { self.configuration = configuration }

    public func connect(_ credentials: DeviceClient.Credentials) throws -> any DeviceTransport {
        try DeviceClient(configuration, credentials: credentials)
    }
}

extension DeviceClient: DeviceTransport {
    public func fetch(_ digest: SHA256Digest, to file: String, expectedSize: UInt64,
                      progress: ((UInt64, UInt64) -> Void)?) throws -> HTTPClient.DownloadResult {
        try download(digest, to: file, expectedSize: expectedSize, progress: progress)
    }

    public func fetchRanges(_ digest: SHA256Digest, _ ranges: [DeviceAPI.RangesRequest.Range], to file: String) throws -> UInt64 {
        try downloadRanges(digest, ranges, to: file)
    }
}
