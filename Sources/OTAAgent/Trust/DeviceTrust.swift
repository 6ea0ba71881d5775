import OTAClient
import OTACore

/// The device's trust: its root (the configured one, or a newer one it walked to), the
/// release metadata it verified, and signed, fresh check-in answers.
///
/// A check-in sends a fresh nonce and what the device trusts. The answer must be signed by
/// the check-in key of the device's newest root and bound to this device and this nonce;
/// the metadata beside it is refreshed by TUF's rules (`MetadataRefresh`). A device on a
/// legacy root accepts unsigned answers until a root version 1 signed by its keys arrives.
struct DeviceTrust {
    let anchor: TrustAnchor
    let layout: StateLayout
    let channel: Channel
    let clock: any DomainClock

    var folder: MetadataFolder { MetadataFolder(layout.trustDirectory) }

    /// What this device remembers of its trust. A state file that cannot be read is an error:
    /// the highest root version and the clock floor in it are what keep old metadata out.
    func state() throws -> TrustState {
        do { return try StateFile.read(TrustState.self, from: layout.trustState) ?? TrustState() } catch {
            throw TrustStoreError("cannot read this device's trust state (\(layout.trustState)): \(error); restore it, or remove it to start over from trust_root")
        }
    }

    /// A trust state that cannot be saved is an error: the device must not go on as if it had
    /// remembered a root version or a clock floor.
    func save(_ change: (inout TrustState) -> Void) throws {
        var current = try state()
        change(&current)
        do { try StateFile.write(current, to: layout.trustState) } catch {
            throw TrustStoreError("cannot save this device's trust state (\(layout.trustState)): \(error)")
        }
    }

    /// Expiry is judged against the later of the device's clock and the clock floor
    /// (`TrustState.serverTimeEpoch`).
    func referenceTime() throws -> Int64 { max(clock.now.secondsSinceEpoch, try state().serverTimeEpoch ?? 0) }

    /// The newest root this device trusts: the walked one, or the configured one when that
    /// is newer (an operator installed it by hand). Fails closed: a walked root that cannot
    /// be read, or any root older than one this device already trusted, is an error, never a
    /// reason to fall back to older keys.
    func metadata() throws -> TrustedMetadata {
        let now = try referenceTime()
        let highest = try state().rootVersion ?? 0
        var walked: TrustedMetadata?
        if FileSystem.exists(layout.trustDirectory + "/root.json") {
            do {
                guard let bytes = folder.load(.root) else { throw TUFError.missing(.root, "unreadable") }
                walked = try TrustedMetadata(trustedRoot: bytes, now: now)
            } catch {
                throw TrustStoreError("the root this device walked to (\(layout.trustDirectory)/root.json) cannot be used: \(error); restore it, or remove it only if trust_root is at least version \(highest)")
            }
        }
        if let walked, walked.root.version >= anchor.version {
            guard walked.root.version >= highest else { throw TrustStoreError("\(layout.trustDirectory)/root.json is root version \(walked.root.version), older than version \(highest) this device trusted before") }
            return walked
        }
        guard anchor.version >= highest else {
            throw TrustStoreError("trust_root is root version \(anchor.version), older than version \(highest) this device trusted before, and \(layout.trustDirectory)/root.json is missing")
        }
        return anchor.metadata(now: now)
    }

    /// The release keys of the newest root.
    func bundleTrust() throws -> BundleTrust { try metadata().root.bundleTrust }

    /// What the device tells the server it trusts.
    func report() throws -> DeviceAPI.TrustReport {
        let trusted = try metadata()
        // Only what still verifies under the newest root counts: after a key rotation the
        // old copies do not, and the server must send new ones.
        // Only the version and expiry are read: release metadata can list tens of thousands of
        // releases, and the report is made at every check-in.
        // A copy that does not verify is reported as absent: the server then sends it again.
        func header(_ role: TUFRoleName) -> MetadataEnvelope.Header? {
            folder.load(role).flatMap { try? MetadataEnvelope.header(role, $0, verifiedBy: trusted.root) }
        }
        let targets = header(.targets)
        let current = try state()
        return DeviceAPI.TrustReport(rootVersion: trusted.root.version, timestampVersion: header(.timestamp)?.version,
                                     snapshotVersion: header(.snapshot)?.version, targetsVersion: targets?.version,
                                     targetsExpires: targets.flatMap { Timestamp(rfc3339: $0.expires) }, channel: channel, verifiedAt: current.verifiedAt,
                                     problem: current.problem.map { String($0.prefix(2000)) })
    }

    /// One check-in: send, verify the answer, refresh the metadata.
    func checkin(_ transport: any DeviceTransport, _ request: DeviceAPI.CheckinRequest, deviceID: DeviceID) throws -> TrustedAnswer {
        var request = request
        let nonce = Hex.encode(SecureRandom.bytes(16))
        request.nonce = nonce
        request.trust = try report()
        // The body is read into its parts and let go at once (it can be megabytes).
        let answer: CheckinAnswer
        do { answer = try CheckinAnswer(body: try transport.checkinAnswer(request)) } catch let error as CheckinAnswer.Malformed {
            throw HTTPClientError.invalidAnswer("the server's answer to POST \(DeviceAPI.checkinPath) is not what this client understands: \(error)")
        }
        var trusted = try metadata()
        switch answer.form {
        case .unsigned(let response):
            guard trusted.root.version == 0 else {
                throw try refuse("the answer is not signed, and root version \(trusted.root.version) requires signed answers")
            }
            return TrustedAnswer(response: response)
        case .signed(let envelope, var metadata):
            // Roots verify on their own, so they are walked first: the answer may be signed by
            // a check-in key that only the newest root names.
            var problem: String?
            metadata.rootsAfter = trusted.root.version
            do { try MetadataRefresh.run(&trusted, from: metadata, store: folder) } catch { problem = String(describing: error) }
            let walkedTo = trusted.root.version
            try save { $0.rootVersion = max($0.rootVersion ?? 0, walkedTo) }
            let opened: CheckinAnswer.Opened
            do { opened = try CheckinAnswer.open(envelope, under: trusted.root, deviceID: deviceID.rawValue, nonce: nonce) } catch {
                throw try refuse(error.description + (problem.map { " (the metadata beside it was refused too: \($0))" } ?? ""))
            }
            if trusted.root.version == 0 {
                // Still on the legacy root (no root version 1 linked to it): legacy rules, as
                // before the upgrade; the reason is kept for `ota-agent status` and the server.
                try save { $0.problem = problem.map { "cannot move to the server's TUF root: \($0)" } }
                return TrustedAnswer(response: opened.response, problem: nil)
            }
            let now = clock.now
            try save { state in
                // The clock floor moves only to a time both clocks have reached; the difference
                // is kept so that `ota-agent status` can show a wrong clock.
                state.serverTimeEpoch = ClockFloor.raised(state.serverTimeEpoch, issued: opened.issued, deviceNow: now.secondsSinceEpoch)
                state.clockBehindServerSeconds = ClockFloor.deviceBehind(issued: opened.issued, deviceNow: now.secondsSinceEpoch)
                state.verifiedAt = now
                state.problem = problem
                state.problemAt = problem == nil ? nil : now
            }
            return TrustedAnswer(response: opened.response, releases: problem == nil ? trusted.targets : nil, problem: problem, signedByRoot: true)
        }
    }

    /// The refusal to throw, once it is remembered for `ota-agent status` and the server; a
    /// state that cannot be saved is thrown instead (it is the worse problem).
    private func refuse(_ reason: String) throws -> AnswerError {
        try save { state in
            state.problem = "refused the server's answer: \(reason)"
            state.problemAt = clock.now
        }
        return .refused(reason)
    }
}

struct TrustStoreError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
