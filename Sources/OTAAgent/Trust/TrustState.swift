import OTACore

/// How fresh this device's trust is, kept beside its metadata in `STATE/trust/state.json`.
struct TrustState: Codable, Equatable {
    /// When an answer from the server last verified (signature, device, nonce).
    var verifiedAt: Timestamp?
    /// The clock floor: the latest time that both this device's clock and a verified answer
    /// had reached. Expiry is never judged against an earlier time, so a clock reset to 1970
    /// cannot revive expired metadata.
    var serverTimeEpoch: Int64?
    /// How far this device's clock was behind the server's at the last verified answer
    /// (negative: ahead).
    var clockBehindServerSeconds: Int64?
    /// The last trust problem, until a refresh succeeds.
    var problem: String?
    var problemAt: Timestamp?
    /// The highest root version this device trusted: it never goes below it.
    var rootVersion: Int?

    enum CodingKeys: String, CodingKey {
        case verifiedAt = "verified_at", serverTimeEpoch = "clock_floor", problem, problemAt = "problem_at", rootVersion = "root_version"
        case clockBehindServerSeconds = "clock_behind_server_s"
    }
}

/// What a check-in established: the answer to act on, and the releases it may act on.
struct TrustedAnswer {
    var response: DeviceAPI.CheckinResponse
    /// The release metadata (every channel's releases), fresh and verified; nil on a legacy
    /// root (no releases to check).
    var releases: TargetsMetadata?
    /// Set when the metadata could not be refreshed: no new update starts until it is fresh.
    var problem: String?
    /// Whether the answer was verified against a TUF root (version 1 or later). Only such an
    /// answer may widen where downloads go (`contentHosts`): a legacy root accepts unsigned
    /// answers, and anyone on the path could name a host.
    var signedByRoot = false

    /// The hosts a download may be redirected to that the answer names.
    var contentHosts: [String] { signedByRoot ? response.contentHosts ?? [] : [] }
}

enum AnswerError: Error, CustomStringConvertible {
    case refused(String)
    var description: String {
        switch self { case .refused(let reason): return "refused the server's answer: \(reason)" }
    }
}
