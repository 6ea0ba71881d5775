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
    let channel: String

    var folder: MetadataFolder { MetadataFolder(layout.trustDirectory) }

    func state() -> TrustState { (try? StateFile.read(TrustState.self, from: layout.trustState)) ?? TrustState() }

    func save(_ change: (inout TrustState) -> Void) {
        var current = state()
        change(&current)
        try? StateFile.write(current, to: layout.trustState)
    }

    /// Expiry is judged against the later of the device's clock and the clock floor
    /// (`TrustState.serverTimeEpoch`).
    func referenceTime() -> Int64 { max(Timestamp.epochSeconds(), state().serverTimeEpoch ?? 0) }

    /// The newest root this device trusts: the walked one, or the configured one when that
    /// is newer (an operator installed it by hand). Fails closed: a walked root that cannot
    /// be read, or any root older than one this device already trusted, is an error, never a
    /// reason to fall back to older keys.
    func metadata() throws -> TrustedMetadata {
        let now = referenceTime()
        let highest = state().rootVersion ?? 0
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
        func version<T: TUFSigned>(_ type: T.Type, _ role: TUFRoleName) -> T? {
            folder.load(role).flatMap { try? MetadataEnvelope.open(type, $0, verifiedBy: trusted.root) }
        }
        let targets = version(TargetsMetadata.self, .targets)
        let current = state()
        return DeviceAPI.TrustReport(rootVersion: trusted.root.version, timestampVersion: version(TimestampMetadata.self, .timestamp)?.version,
                                     snapshotVersion: version(SnapshotMetadata.self, .snapshot)?.version, targetsVersion: targets?.version,
                                     targetsExpires: targets?.expires, channel: channel, verifiedAt: current.verifiedAt,
                                     problem: current.problem.map { String($0.prefix(2000)) })
    }

    /// One check-in: send, verify the answer, refresh the metadata.
    func checkin(_ client: DeviceClient, _ request: DeviceAPI.CheckinRequest, deviceID: String) throws -> TrustedAnswer {
        var request = request
        let nonce = Hex.encode(SecureRandom.bytes(16))
        request.nonce = nonce
        request.trust = try report()
        let body = try client.checkinAnswer(request)
        var trusted = try metadata()
        func malformed(_ error: any Error) -> HTTPClientError {
            .invalidAnswer("the server's answer to POST \(DeviceAPI.checkinPath) is not what this client understands: \(error)")
        }
        struct Probe: Decodable { let answer: JSONValue? }
        guard (try? StrictJSON.decode(Probe.self, from: body, what: "answer"))?.answer != nil else {
            guard trusted.root.version == 0 else {
                throw refuse("the answer is not signed, and root version \(trusted.root.version) requires signed answers")
            }
            do { return TrustedAnswer(response: try StrictJSON.decode(DeviceAPI.CheckinResponse.self, from: body, what: "check-in answer")) } catch {
                throw malformed(error)
            }
        }
        let signed: DeviceAPI.SignedCheckinResponse
        do { signed = try StrictJSON.decode(DeviceAPI.SignedCheckinResponse.self, from: body, what: "signed answer") } catch { throw malformed(error) }
        // Roots verify on their own, so they are walked first: the answer may be signed by a
        // check-in key that only the newest root names.
        var problem: String?
        do {
            try MetadataRefresh.run(&trusted, from: AnswerMetadataSource(rootsAfter: trusted.root.version, metadata: signed.metadata), store: folder)
        } catch { problem = String(describing: error) }
        let walkedTo = trusted.root.version
        save { $0.rootVersion = max($0.rootVersion ?? 0, walkedTo) }
        let response = try open(signed.answer, under: trusted, deviceID: deviceID, nonce: nonce, refreshProblem: problem)
        if trusted.root.version == 0 {
            // Still on the legacy root (no root version 1 linked to it): legacy rules, as before
            // the upgrade; the reason is kept for `ota-agent status` and the server.
            save { $0.problem = problem.map { "cannot move to the server's TUF root: \($0)" } }
            return TrustedAnswer(response: response, problem: nil)
        }
        save { state in
            state.verifiedAt = Timestamp.now()
            state.problem = problem
            state.problemAt = problem == nil ? nil : Timestamp.now()
        }
        return TrustedAnswer(response: response, releases: problem == nil ? trusted.targets : nil, problem: problem)
    }

    /// Checks the answer's signature and binding, and keeps the server's time.
    private func open(_ envelope: Envelope, under trusted: TrustedMetadata, deviceID: String, nonce: String,
                      refreshProblem: String?) throws -> DeviceAPI.CheckinResponse {
        let root = trusted.root
        func refused(_ reason: String) -> AnswerError {
            refuse(reason + (refreshProblem.map { " (the metadata beside it was refused too: \($0))" } ?? ""))
        }
        guard envelope.payloadType == DeviceAPI.answerPayloadType else { throw refused("its payloadType is '\(envelope.payloadType.prefix(60))'") }
        if root.version > 0 {
            guard let role = root.checkin else { throw refused("root version \(root.version) names no check-in key (\(RootMetadata.checkinField))") }
            guard MetadataEnvelope.validSigners(envelope, keysOf: role, in: root) >= role.threshold else {
                throw refused("it is not signed by the check-in key of root version \(root.version)")
            }
        }
        let binding: DeviceAPI.AnswerBinding
        let response: DeviceAPI.CheckinResponse
        do {
            binding = try StrictJSON.decode(DeviceAPI.AnswerBinding.self, from: envelope.payload, what: "answer")
            response = try StrictJSON.decode(DeviceAPI.CheckinResponse.self, from: envelope.payload, what: "answer")
        } catch { throw refused("its payload is malformed: \(error)") }
        guard binding.deviceID == deviceID else { throw refused("it is addressed to device '\(binding.deviceID.prefix(80))', not this one") }
        guard binding.nonce == nonce else { throw refused("it answers another request (its nonce is not the one sent): a replay") }
        if root.version > 0 {
            // The clock floor moves only to a time both clocks have reached: a device clock
            // reset to 1970 cannot revive expired metadata, and no server (not even one holding
            // the online key) can push the device's sense of time forward. The difference is
            // kept so that `ota-agent status` can show a wrong clock.
            let now = Timestamp.epochSeconds()
            save { state in
                state.serverTimeEpoch = max(state.serverTimeEpoch ?? 0, min(binding.issued, now))
                state.clockBehindServerSeconds = binding.issued - now
            }
        }
        return response
    }

    private func refuse(_ reason: String) -> AnswerError {
        save { state in
            state.problem = "refused the server's answer: \(reason)"
            state.problemAt = Timestamp.now()
        }
        return .refused(reason)
    }
}

struct TrustStoreError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
