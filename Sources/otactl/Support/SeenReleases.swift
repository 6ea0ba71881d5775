import Foundation
import OTACore

/// The newest release metadata this operator's tools have seen from each server, kept next
/// to the trust root they were checked from (`keys/trust.json` → `keys/trust.seen.json`).
///
/// `otactl release` signs the next version on top of what the server says is current. A
/// server restored from an old backup, or compromised, could offer an older version (one
/// from before a release was withdrawn) or an expired one, and have the operator sign it
/// again as new. Checked against this record, it is refused with the reason instead, unless
/// the operator says `--allow-older REASON` (which goes into the server's audit log).
struct SeenReleases {
    let path: String

    struct Entry: Codable, Equatable {
        var targetsVersion: Int
        var seenAt: String
        enum CodingKeys: String, CodingKey { case targetsVersion = "targets_version", seenAt = "seen_at" }
    }

    struct File: Codable, Equatable {
        var servers: [String: Entry] = [:]
    }

    /// The record beside the trust root at `trustRoot`.
    init(trustRoot: String) {
        let base = trustRoot.hasSuffix(".json") ? String(trustRoot.dropLast(5)) : trustRoot
        path = base + ".seen.json"
    }

    static func key(_ server: String) -> String {
        let lower = server.lowercased()
        return lower.hasSuffix("/") ? String(lower.dropLast()) : lower
    }

    func read() throws -> File {
        guard FileSystem.exists(path) else { return File() }
        return try Failure.wrap("cannot read \(path) (the release versions seen from each server; remove it only if you trust the servers)") {
            try StrictJSON.decode(File.self, from: try FileSystem.readFile(path, limit: 1 << 20), what: path)
        }
    }

    func seen(from server: String) throws -> Entry? { try read().servers[Self.key(server)] }

    /// Remembers `version` for `server` if it is the highest seen from it (or in any case,
    /// with `replacing`: the operator chose to build on older ground).
    func record(_ version: Int, from server: String, replacing: Bool = false) throws {
        var file = try read()
        let key = Self.key(server)
        guard replacing || (file.servers[key]?.targetsVersion ?? 0) < version else { return }
        file.servers[key] = Entry(targetsVersion: version, seenAt: SystemClock().now.rfc3339)
        try Failure.wrap("cannot write \(path)") {
            try FileSystem.writeAtomically(Array(try StrictJSON.encode(file, pretty: true)) + [0x0a], to: path, permissions: 0o644)
        }
    }

    /// Refuses to start release metadata from nothing on a server from which this tool saw
    /// some before, unless the operator gave a reason.
    func checkNone(from server: String, allowOlder reason: String?) throws {
        guard reason == nil, let seen = try seen(from: server) else { return }
        throw Failure("""
            the server has no release metadata, but this tool saw version \(seen.targetsVersion) from it (\(seen.seenAt)): a server \
            restored from an old backup, or compromised, would have you start releases over. Check the server; if starting over \
            is right, say why with --allow-older "REASON" (it goes into the audit log).
            """, exitCode: Failure.verification)
    }

    /// Refuses release metadata older than seen before from this server, or expired, unless
    /// the operator gave a reason to build on it anyway.
    func check(_ targets: TargetsMetadata, from server: String, allowOlder reason: String?) throws {
        let seen = try seen(from: server)
        var problems: [String] = []
        if let seen, targets.version < seen.targetsVersion {
            problems.append("the server's release metadata is version \(targets.version), older than version \(seen.targetsVersion) this tool saw from it (\(seen.seenAt))")
        }
        if targets.isExpired(at: SystemClock().now.secondsSinceEpoch) {
            problems.append("the server's release metadata version \(targets.version) expired at \(targets.expires)")
        }
        guard !problems.isEmpty, reason == nil else { return }
        throw Failure("""
            \(problems.joined(separator: "; ")): a server restored from an old backup, or compromised, would have you sign \
            withdrawn or stale releases again. Check the server; if building on this version is right, say why with \
            --allow-older "REASON" (it goes into the audit log).
            """, exitCode: Failure.verification)
    }
}
