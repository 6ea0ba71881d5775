import OTAClient
import OTACore

/// Where an update's files come from: the seam between the update logic and the network,
/// so that the logic can be tried in process against every way a transfer goes wrong.
public protocol ContentFetcher {
    /// Appends to `file` (resuming what it already holds) the content `digest`, never past
    /// `expectedSize` bytes in all. Throws `HTTPClientError` for every transfer problem.
    func fetch(_ digest: SHA256Digest, to file: String, expectedSize: UInt64,
               progress: ((UInt64, UInt64) -> Void)?) throws -> HTTPClient.DownloadResult
}

extension DeviceClient: ContentFetcher {
    public func fetch(_ digest: SHA256Digest, to file: String, expectedSize: UInt64,
                      progress: ((UInt64, UInt64) -> Void)?) throws -> HTTPClient.DownloadResult {
        try download(digest, to: file, expectedSize: expectedSize, progress: progress)
    }
}
