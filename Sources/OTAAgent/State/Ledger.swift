import OTACore

/// What the agent must remember beyond installs: versions that failed their health check
/// here (never tried again) and assignments it refused or ended (reported once and not
/// taken again; a new deployment of the same version is a new assignment).
struct Ledger: Codable, Equatable {
    /// Versions by bundle name, as text on disk (older agents wrote them so).
    var failedVersions: [String: [String]] = [:]
    /// `AssignmentKey`s of assignments refused, given up or abandoned.
    var reportedRefusals: [String] = []

    enum CodingKeys: String, CodingKey { case failedVersions = "failed_versions", reportedRefusals = "reported_refusals" }

    /// The most assignments remembered: the oldest are forgotten first.
    static let capacity = 500

    func hasFailed(_ name: BundleName, _ version: SemanticVersion) -> Bool {
        // A version this agent cannot read is not this one.
        (failedVersions[name.rawValue] ?? []).contains { (try? SemanticVersion($0)) == version }
    }

    mutating func recordFailure(_ name: BundleName, _ version: SemanticVersion) {
        guard !hasFailed(name, version) else { return }
        failedVersions[name.rawValue, default: []].append(version.description)
    }

    func hasEnded(_ key: AssignmentKey) -> Bool { reportedRefusals.contains(key.text) }

    /// True the first time an assignment ends or is refused.
    mutating func noteEnded(_ key: AssignmentKey) -> Bool {
        guard !reportedRefusals.contains(key.text) else { return false }
        reportedRefusals.append(key.text)
        if reportedRefusals.count > Self.capacity { reportedRefusals.removeFirst(reportedRefusals.count - Self.capacity) }
        return true
    }
}

/// One deployment's assignment of one bundle: `DEPLOYMENT/DIGEST`.
struct AssignmentKey: Equatable {
    let text: String
    init(deploymentID: DeploymentID?, digest: SHA256Digest) { text = "\(deploymentID?.rawValue ?? "")/\(digest.hex)" }
}
