import OTACore

/// The device API, as the agent uses it.
public final class DeviceClient {
    public let api: APIClient
    /// The largest answer a device takes: room for a check-in with many assignments of
    /// the largest envelope (1 MiB), while a hostile answer cannot make a small device
    /// hold (and decode) tens of MiB.
    public static let maxAnswerBytes: Int64 = 16 << 20

    public init(_ configuration: HTTPClientConfiguration, deviceToken: String?) throws {
        api = try APIClient(configuration, token: deviceToken)
        api.maxAnswerBytes = Self.maxAnswerBytes
    }

    public func register(_ request: DeviceAPI.RegisterRequest) throws -> DeviceAPI.RegisterResponse {
        try api.call("POST", DeviceAPI.registerPath, body: request)
    }

    public func checkin(_ request: DeviceAPI.CheckinRequest) throws -> DeviceAPI.CheckinResponse {
        try api.call("POST", DeviceAPI.checkinPath, body: request)
    }

    public func report(_ events: [DeviceAPI.Event]) throws {
        let _: DeviceAPI.EventsResponse = try api.call("POST", DeviceAPI.eventsPath, body: DeviceAPI.EventsRequest(events: events))
    }

    /// Downloads content by digest into `file`, resuming what the file already holds.
    public func download(_ digest: SHA256Digest, to file: String, expectedSize: UInt64,
                         progress: ((UInt64, UInt64) -> Void)? = nil) throws -> HTTPClient.DownloadResult {
        try api.http.download(DeviceAPI.contentPathPrefix + digest.hex, to: file, expectedSize: expectedSize,
                              headers: api.authorization.merging(["If-Range": "\"\(digest.hex)\""]) { a, _ in a }, progress: progress)
    }
}
