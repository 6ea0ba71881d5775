import OTACore

/// A DDI action: one device's membership in one deployment. Its number is the deployment's
/// sequence number (below 2^31 for as long as SWUpdate reads it as a C `int`), so the same
/// deployment is the same action number on every device.
struct DDIAction: Sendable, Equatable {
    let number: Int64
    let deploymentID: DeploymentID
    let status: AdminAPI.DeploymentStatus
    let bundleID: Int64
    let state: AdminAPI.MembershipState

    /// The device has not reported an outcome yet.
    var isOpen: Bool { state.order < AdminAPI.MembershipState.succeeded.order }
    /// Cancelled before the device finished: the device is asked to stop.
    var isCancelling: Bool { status == .cancelled && isOpen }

    /// Action numbers DDI clients can hold.
    static let numbers: ClosedRange<Int64> = 1...Int64(Int32.max)
}

/// The registry's side of DDI: actions by number, and the legacy digests of client images.
struct DDIStore: Sendable {
    let db: any SQLDatabase

    private static let selection = """
        SELECT d.seq, d.id, d.status, d.bundle_id, m.state FROM deployment_devices m JOIN deployments d ON d.id = m.deployment_id
        """

    private static func action(_ row: SQLRow) throws -> DDIAction {
        DDIAction(number: try row.int64("seq"), deploymentID: try row["id"], status: try row["status"], bundleID: try row.int64("bundle_id"),
                  state: try row["state"])
    }

    /// The device's action of this number, if it has one.
    func action(number: Int64, device: DeviceID) async throws -> DDIAction? {
        try await db.read { db in
            try await db.row("\(raw: Self.selection) WHERE d.seq = \(number) AND m.device_id = \(device)").map(Self.action)
        }
    }

    /// The oldest action of the device whose deployment was cancelled before it finished.
    func cancelling(device: DeviceID) async throws -> DDIAction? {
        try await db.read { db in
            try await db.row("""
                \(raw: Self.selection) WHERE m.device_id = \(device) AND d.status = 'cancelled' AND m.state IN ('pending', 'downloading', 'installing')
                ORDER BY d.seq LIMIT 1
                """).map(Self.action)
        }
    }

    /// SHA-1 and MD5 of a stored file, if computed before.
    func digests(of digest: SHA256Digest) async throws -> LegacyDigests? {
        try await db.read { db in
            guard let row = try await db.row("SELECT sha1, md5 FROM artifact_digests WHERE digest = \(digest)") else { return nil }
            return LegacyDigests(sha1: try row.string("sha1"), md5: try row.string("md5"))
        }
    }

    func store(_ digests: LegacyDigests, of digest: SHA256Digest) async throws {
        try await db.write { db in
            _ = try await db.execute("INSERT INTO artifact_digests (digest, sha1, md5) VALUES (\(digest), \(digests.sha1), \(digests.md5)) ON CONFLICT DO NOTHING")
        }
    }
}
