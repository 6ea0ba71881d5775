import Foundation
import OTACore

/// Several instances share the trust metadata through the database: each serves what is
/// stored there, the leader renews it, and any instance may publish.
extension TrustRepository {
    /// Takes what another instance published or renewed (the change feed says when).
    func reload() async throws {
        try await serially { try await takeStoredState() }
    }

    /// Runs publishing, renewal and reloading one at a time: each works on the state the
    /// previous one left. They are rare (operators, and a check every 30 s), and each waits
    /// at most a minute for the one before.
    func serially<T: Sendable>(_ body: @Sendable () async throws -> T) async throws -> T {
        try await writing.run(timeoutSeconds: 60, body)
    }

    /// Runs a publish or a renewal on the newest stored state. When another instance stored
    /// the same version first (a race of moments), takes its metadata and runs once more,
    /// so that no instance ever overwrites a version devices may already hold. The caller
    /// runs `serially`.
    func onNewestState<T: Sendable>(_ body: @Sendable () async throws -> T) async throws -> T {
        try await takeStoredState()
        do { return try await body() } catch is TrustStoreConflict {
            try await takeStoredState()
            return try await body()
        }
    }

    /// The caller runs `serially`.
    private func takeStoredState() async throws {
        guard let root = current?.root.version else { return }
        try take(try await db.read { db in try await Self.newestRows(db, after: root) })
    }

    /// Roots after `root` and the newest release metadata, snapshot and timestamp.
    private static func newestRows(_ db: any SQLTransaction, after root: Int) async throws -> [SQLRow] {
        try await db.rows("""
            SELECT role, version, envelope FROM trust_metadata t
            WHERE (role = 'root' AND version > \(root)) OR version = (SELECT max(version) FROM trust_metadata m WHERE m.role = t.role)
            ORDER BY role, version
            """)
    }

    /// Takes what is newer than memory: roots (each checked against the chain, as a device
    /// checks it), release metadata, snapshot and timestamp. Versions only move up. The
    /// caller runs `serially`.
    private func take(_ rows: [SQLRow]) throws {
        guard var state = current else { return }
        var changed = false
        for row in rows {
            let version = try row.int("version")
            let bytes = Array(try row["envelope"] as Data)
            switch try row.string("role") {
            case "root" where version > state.root.version:
                var chain = TrustedMetadata(root: state.root, rootBytes: state.roots[state.root.version]?.bytes ?? [], now: 0)
                do { try chain.updateRoot(bytes) } catch { throw TrustSetupError("the registry's root version \(version) does not continue the chain: \(error)") }
                state.root = chain.root
                state.roots[version] = Stored(bytes: bytes, signed: chain.root)
                state.answerSigners = try onlineSigners(for: chain.root)
            case "targets" where version > state.targets?.signed.version ?? 0:
                state.targets = try Stored(stored: bytes)
                state.releases = ReleaseIndex(state.targets?.signed)
            case "snapshot" where version > state.snapshot?.signed.version ?? 0:
                state.snapshot = try Stored(stored: bytes)
            case "timestamp" where version > state.timestamp?.signed.version ?? 0:
                state.timestamp = try Stored(stored: bytes)
            default:
                continue
            }
            changed = true
        }
        if changed { published.withLock { $0 = state } }
    }
}

/// Another instance stored a different envelope under the same role and version first.
struct TrustStoreConflict: Error, CustomStringConvertible {
    let role: String
    let version: Int
    var description: String { "another ota-server instance stored \(role) version \(version) at the same moment; try again" }
}
