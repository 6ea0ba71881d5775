/// Why TUF metadata was refused. Each message names the role and what to do about it.
public enum TUFError: Error, CustomStringConvertible, Equatable, Sendable {
    case malformed(TUFRoleName, String)
    case unsigned(TUFRoleName, version: Int?, valid: Int, threshold: Int, by: String)
    case badVersion(TUFRoleName, String)
    /// Not a fault: the metadata offered is the one already trusted.
    case equalVersion(TUFRoleName)
    case expired(TUFRoleName, version: Int, expires: String)
    case mismatch(TUFRoleName, String)
    case missing(TUFRoleName, String)
    case outOfOrder(String)

    public var description: String {
        switch self {
        case .malformed(let role, let reason): return "\(role.rawValue) metadata is malformed: \(reason)"
        case .unsigned(let role, let version, let valid, let threshold, let by):
            let which = version.map { "\(role.rawValue) version \($0)" } ?? "\(role.rawValue) metadata"
            return "\(which) has \(valid) valid signature\(valid == 1 ? "" : "s") of the \(threshold) required from \(by)"
        case .badVersion(let role, let reason): return "\(role.rawValue) metadata: \(reason)"
        case .equalVersion(let role): return "\(role.rawValue) metadata is the version already trusted"
        case .expired(let role, let version, let expires):
            let advice: String
            switch role {
            case .root: advice = "publish a new root version (otactl trust next, sign, publish)"
            case .targets: advice = "renew the release metadata (otactl release renew, sign, publish)"
            case .snapshot, .timestamp: advice = "the server renews it by itself: is it running, and is its clock right?"
            }
            return "\(role.rawValue) version \(version) expired at \(expires); \(advice)"
        case .mismatch(let role, let reason): return "\(role.rawValue) metadata does not match what was announced: \(reason)"
        case .missing(let role, let reason): return "no \(role.rawValue) metadata: \(reason)"
        case .outOfOrder(let reason): return reason
        }
    }
}
