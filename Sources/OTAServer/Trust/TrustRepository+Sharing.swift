import Foundation
import OTACore

/// Several instances share the trust metadata through the database: each serves what is
/// stored there, the leader renews it, and any instance may publish.
extension TrustRepository {
    /// Takes what another instance published or renewed (the change feed says when). Reads
    /// without holding `writing`, so a publish waiting for the database is not held up.
    func reload() async throws {
        guard let root = current?.root.version else { return }
        let rows = try await db.read { db in try Self.newestRows(db, after: root) }
        try writing.withLock { _ in try take(rows) }
    }

    /// Runs a publish or a renewal on the newest stored state. When another instance stored
    /// the same version first (a race of moments), takes its metadata and runs once more,
    /// so that no instance ever overwrites a version devices may already hold. The caller
    /// holds `writing`.
    func onNewestState<T>(_ body: () throws -> T) throws -> T {
        try takeStoredState()
        do { return try body() } catch is TrustStoreConflict {
            try takeStoredState()
            return try body()
        }
    }

    /// The caller holds `writing`.
    private func takeStoredState() throws {
        guard let root = current?.root.version else { return }
        try take(try db.readBlocking { db in try Self.newestRows(db, after: root) })
    }

    /// Roots after `root` and the newest release metadata, snapshot and timestamp.
    private static func newestRows(_ db: any SQLTransaction, after root: Int) throws -> [SQLRow] {
        try db.rows("""
            SELECT role, version, envelope FROM trust_metadata t
            WHERE (role = 'root' AND version > ?) OR version = (SELECT max(version) FROM trust_metadata m WHERE m.role = t.role)
            ORDER BY role, version
            """, [root])
    }

    /// Takes what is newer than memory: roots (each checked against the chain, as a device
    /// checks it), release metadata, snapshot and timestamp. Versions only move up. The
    /// caller holds `writing`.
    private func take(_ rows: [SQLRow]) throws {
        guard var state = current else { return }
        var changed = false
        for row in rows {
            let version = row.int("version")
            let bytes = Array(row["envelope"] as Data)
            switch row.string("role") {
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
