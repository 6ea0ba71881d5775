/// Why an update ends before anything was activated. Neither condemns the version on this
/// device: only a failed health check does that, after activation.
enum UpdateStop: Error, CustomStringConvertible, Equatable {
    /// This deployment's attempt is over (corrupt content again and again, a bundle that no
    /// longer verifies): reported as `failed`. Deploying the version again retries it.
    case gaveUp(String)
    /// The server no longer offers or serves it (cancelled, superseded), or it took too long:
    /// reported as `abandoned`.
    case abandoned(String)

    var description: String {
        switch self {
        case .gaveUp(let reason), .abandoned(let reason): return reason
        }
    }
}
