import OTACore

/// Operators publish roots and release metadata; the server signs snapshot and timestamp.
extension TrustRepository {
    /// Takes root version N+1 after checking it as a device will. The snapshot and timestamp
    /// are signed again under it first, and all three switch together, so no device ever
    /// sees the new root beside metadata the old one signed.
    func publishRoot(_ bytes: [UInt8]) async throws -> RootMetadata {
        try await serially { try await onNewestState {
            guard let state = current else { throw TrustPublishError.legacy }
            var chain = TrustedMetadata(root: state.root, rootBytes: state.roots[state.root.version]?.bytes ?? [], now: Timestamp.epochSeconds())
            do { try chain.updateRoot(bytes) } catch { throw TrustPublishError.refused(String(describing: error)) }
            let next = chain.root
            guard !next.isExpired(at: Timestamp.epochSeconds()) else { throw TrustPublishError.refused("root version \(next.version) has already expired (\(next.expires))") }
            let signers: [CheckinAnswerWriter.Signer]
            do { signers = try onlineSigners(for: next) } catch { throw TrustPublishError.refused("\(error) before publishing") }
            var upcoming = state
            upcoming.root = next
            upcoming.answerSigners = signers
            upcoming.roots[next.version] = Stored(bytes: bytes, signed: next)
            try await switchTo(upcoming, storing: (.root, next.version, bytes))
            return next
        } }
    }

    /// Takes new release metadata, signed by a threshold of the release keys.
    func publishTargets(_ bytes: [UInt8]) async throws -> TargetsMetadata {
        try await serially { try await onNewestState {
            guard let state = current else { throw TrustPublishError.legacy }
            let targets: TargetsMetadata
            do { targets = try MetadataEnvelope.open(TargetsMetadata.self, bytes, verifiedBy: state.root, signers: "the release keys of root version \(state.root.version)") } catch {
                throw TrustPublishError.refused(String(describing: error))
            }
            if let current = state.targets?.signed, targets.version <= current.version {
                throw TrustPublishError.refused("release metadata version \(targets.version) is not newer than the published \(current.version)")
            }
            guard !targets.isExpired(at: Timestamp.epochSeconds()) else { throw TrustPublishError.refused("release metadata version \(targets.version) has already expired (\(targets.expires))") }
            for path in targets.targets.keys {
                let parts = path.split(separator: "/", omittingEmptySubsequences: false)
                guard parts.count == 3, Release.channelProblem(String(parts[0])) == nil, SafeName.problem(with: String(parts[1]), what: "name") == nil,
                      (try? SemanticVersion(String(parts[2]))) != nil else {
                    throw TrustPublishError.refused("release target '\(path.prefix(120))' is not CHANNEL/NAME/VERSION")
                }
            }
            var upcoming = state
            upcoming.targets = Stored(bytes: bytes, signed: targets)
            upcoming.releases = ReleaseIndex(targets)
            try await switchTo(upcoming, storing: (.targets, targets.version, bytes))
            return targets
        } }
    }

    /// Signs snapshot and timestamp anew under `upcoming`, stores them with the published
    /// metadata in one transaction, then lets devices see all of it at once.
    private func switchTo(_ upcoming: Published, storing published: (TUFRoleName, Int, [UInt8])) async throws {
        var next = upcoming
        let (snapshot, timestamp, rows) = try renewed(next, force: true)
        try await Self.store(db, [published] + rows)
        next.snapshot = snapshot
        next.timestamp = timestamp
        self.published.withLock { $0 = next }
    }

    /// Signs a new snapshot and timestamp where they near expiry (or always, with `force`).
    func renew(force: Bool) async throws {
        try await serially { try await onNewestState {
            guard let state = current else { return }
            let (snapshot, timestamp, rows) = try renewed(state, force: force)
            guard !rows.isEmpty else { return }
            try await Self.store(db, rows)
            published.withLock { state in
                state?.snapshot = snapshot
                state?.timestamp = timestamp
            }
        } }
    }

    /// A new snapshot when the targets changed or it is past half its life, and a new
    /// timestamp when anything changed or it is past half its life; signed under `state.root`.
    private func renewed(_ state: Published, force: Bool) throws
        -> (Stored<SnapshotMetadata>?, Stored<TimestampMetadata>?, [(TUFRoleName, Int, [UInt8])]) {
        let now = Timestamp.epochSeconds()
        guard let targets = state.targets?.signed else { return (state.snapshot, state.timestamp, []) }
        var rows: [(TUFRoleName, Int, [UInt8])] = []
        var snapshot = state.snapshot
        if force || snapshot == nil || snapshot!.signed.meta["targets.json"]?.version != targets.version
            || snapshot!.signed.expiresEpoch - now < lifetimes.snapshotSeconds / 2 {
            let next = SnapshotMetadata(version: (snapshot?.signed.version ?? 0) + 1, expires: TUFCommon.expires(in: lifetimes.snapshotSeconds, from: now),
                                        meta: ["targets.json": TUFMetaFile(version: targets.version)])
            snapshot = try sign(next, role: .snapshot, under: state.root)
            rows.append((.snapshot, next.version, snapshot!.bytes))
        }
        var timestamp = state.timestamp
        if force || !rows.isEmpty || timestamp == nil || timestamp!.signed.expiresEpoch - now < lifetimes.timestampSeconds / 2 {
            let next = TimestampMetadata(version: (timestamp?.signed.version ?? 0) + 1, expires: TUFCommon.expires(in: lifetimes.timestampSeconds, from: now),
                                         snapshot: TUFMetaFile(version: snapshot!.signed.version))
            timestamp = try sign(next, role: .timestamp, under: state.root)
            rows.append((.timestamp, next.version, timestamp!.bytes))
        }
        return (snapshot, timestamp, rows)
    }

    private func sign<T: TUFSigned>(_ signed: T, role: TUFRoleName, under root: RootMetadata) throws -> Stored<T> {
        var envelope = try MetadataEnvelope.wrap(signed)
        for key in try signingKeys(for: root.role(role), named: role.rawValue, in: root) { try envelope.signTUF(with: key) }
        return Stored(bytes: try envelope.encoded(), signed: signed)
    }

    /// Set when the current release metadata no longer verifies under the newest root (its
    /// release keys were rotated): devices install nothing new until it is signed again.
    func releaseWarning() -> String? {
        guard let state = current, let targets = state.targets else { return nil }
        guard (try? MetadataEnvelope.open(TargetsMetadata.self, targets.bytes, verifiedBy: state.root)) == nil else { return nil }
        return "the release metadata (version \(targets.signed.version)) is not signed by the release keys of root version \(state.root.version): devices install nothing new until you sign it again (otactl release renew --key NEW_RELEASE_KEY)"
    }
}

enum TrustPublishError: Error, CustomStringConvertible {
    case legacy
    case refused(String)

    var description: String {
        switch self {
        case .legacy: return "the server runs with a legacy trust root: restart it with a TUF root (--trust root.json, from otactl trust create) and --online-key"
        case .refused(let reason): return reason
        }
    }
}
