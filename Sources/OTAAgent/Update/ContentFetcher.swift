import OTAClient
import OTACore

/// Where an update's files come from: the seam between the update logic and the network,
/// so that the logic can be tried in process against every way a transfer goes wrong.
public protocol ContentFetcher {
    /// Appends to `file` (resuming what it already holds) the content `digest`, never past
    /// `expectedSize` bytes in all. Throws `HTTPClientError` for every transfer problem.
    func fetch(_ digest: SHA256Digest, to file: String, expectedSize: UInt64,
               progress: ((UInt64, UInt64) -> Void)?) throws -> HTTPClient.DownloadResult

    /// Writes into `file` (from its start) the given ranges of the content `digest`, back to
    /// back. What arrived stays in `file` when the transfer breaks off (and it throws).
    /// Returns the bytes received.
    func fetchRanges(_ digest: SHA256Digest, _ ranges: [DeviceAPI.RangesRequest.Range], to file: String) throws -> UInt64
}

extension DeviceClient: ContentFetcher {
    public func fetch(_ digest: SHA256Digest, to file: String, expectedSize: UInt64,
                      progress: ((UInt64, UInt64) -> Void)?) throws -> HTTPClient.DownloadResult {
        try download(digest, to: file, expectedSize: expectedSize, progress: progress)
    }

    public func fetchRanges(_ digest: SHA256Digest, _ ranges: [DeviceAPI.RangesRequest.Range], to file: String) throws -> UInt64 {
        try downloadRanges(digest, ranges, to: file)
    }
}
