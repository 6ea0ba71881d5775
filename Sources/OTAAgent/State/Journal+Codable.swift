import OTACore

/// The journal on disk is one flat JSON object, as agents before the typed steps wrote it:
/// an agent upgraded in the middle of an update reads its predecessor's journal and
/// finishes the update, and one downgraded reads this one's. Decoding is where the file is
/// checked (it is input like any other): a field that is missing or malformed fails here.
extension Journal: Codable {
    enum CodingKeys: String, CodingKey {
        case name, kind, version, digest, envelope, step, slot, failure
        case deploymentID = "deployment_id", previousSlot = "previous_slot", previousVersion = "previous_version"
        case previousDigest = "previous_digest", startedAt = "started_at", corruptDownloads = "corrupt_downloads"
        case refusedDownloads = "refused_downloads", fetchedBytes = "fetched_bytes"
        case shadow, shadowID = "shadow_id", shadowStartedEpoch = "shadow_started_epoch", shadowCommandRan = "shadow_command_ran"
        case shadowOutcome = "shadow_outcome", variant
    }

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decode(BundleName.self, forKey: .name)
        kind = try c.decode(BundleKind.self, forKey: .kind)
        version = try c.decode(SemanticVersion.self, forKey: .version)
        digest = try c.decode(SHA256Digest.self, forKey: .digest)
        slot = try c.decode(SlotName.self, forKey: .slot)
        envelope = try c.decode(Envelope.self, forKey: .envelope)
        deploymentID = try c.decodeIfPresent(DeploymentID.self, forKey: .deploymentID)
        if let previousSlot = try c.decodeIfPresent(SlotName.self, forKey: .previousSlot) {
            previous = .init(version: try c.decodeIfPresent(SemanticVersion.self, forKey: .previousVersion),
                             digest: try c.decodeIfPresent(SHA256Digest.self, forKey: .previousDigest), slot: previousSlot)
        }
        startedAt = try c.decode(Timestamp.self, forKey: .startedAt)
        transfer = TransferCounts(fetchedBytes: try c.decodeIfPresent(UInt64.self, forKey: .fetchedBytes) ?? 0,
                                  corrupt: try c.decodeIfPresent(Int.self, forKey: .corruptDownloads) ?? 0,
                                  refused: try c.decodeIfPresent(Int.self, forKey: .refusedDownloads) ?? 0)
        shadowPolicy = try c.decodeIfPresent(ShadowPolicy.self, forKey: .shadow)
        variant = try c.decodeIfPresent(VariantName.self, forKey: .variant)
        let failure = try c.decodeIfPresent(String.self, forKey: .failure)
        switch try c.decode(Step.Name.self, forKey: .step) {
        case .verified: step = .verified
        case .downloading: step = .downloading
        case .downloaded: step = .downloaded
        case .staged: step = .staged
        case .activated: step = .activated
        case .awaitingReboot: step = .awaitingReboot
        case .trial: step = .trial
        case .committing: step = .committing
        case .rollingBack: step = .rollingBack(reason: failure ?? "rolled back")
        case .shadow:
            let outcome = try c.decodeIfPresent(DeviceAPI.ShadowOutcome.self, forKey: .shadowOutcome)
            let verdict = outcome.map { $0.passed ? ShadowVerdict.passed($0) : .failed($0, reason: failure ?? "stopped in shadow") }
            guard let id = try c.decodeIfPresent(String.self, forKey: .shadowID),
                  let started = try c.decodeIfPresent(Int64.self, forKey: .shadowStartedEpoch) else {
                // Without its id there is no report to trust: the phase fails (the candidate
                // never served, so nothing is lost but this attempt).
                step = .shadow(ShadowPhase(id: "", startedAt: startedAt, commandRan: false,
                                           verdict: .failed(.init(passed: false, report: nil, gates: []),
                                                            reason: "stopped in shadow: the update's journal has a shadow step without its id")))
                return
            }
            step = .shadow(ShadowPhase(id: id, startedAt: Timestamp(clamping: started),
                                       commandRan: try c.decodeIfPresent(Bool.self, forKey: .shadowCommandRan) ?? false, verdict: verdict))
        }
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(name, forKey: .name)
        try c.encode(kind, forKey: .kind)
        try c.encode(version, forKey: .version)
        try c.encode(digest, forKey: .digest)
        try c.encode(slot, forKey: .slot)
        try c.encode(envelope, forKey: .envelope)
        try c.encodeIfPresent(deploymentID, forKey: .deploymentID)
        try c.encodeIfPresent(previous?.slot, forKey: .previousSlot)
        try c.encodeIfPresent(previous?.version, forKey: .previousVersion)
        try c.encodeIfPresent(previous?.digest, forKey: .previousDigest)
        try c.encode(startedAt, forKey: .startedAt)
        if transfer.fetchedBytes > 0 { try c.encode(transfer.fetchedBytes, forKey: .fetchedBytes) }
        if transfer.corrupt > 0 { try c.encode(transfer.corrupt, forKey: .corruptDownloads) }
        if transfer.refused > 0 { try c.encode(transfer.refused, forKey: .refusedDownloads) }
        try c.encodeIfPresent(shadowPolicy, forKey: .shadow)
        try c.encodeIfPresent(variant, forKey: .variant)
        try c.encode(step.name, forKey: .step)
        switch step {
        case .rollingBack(let reason):
            try c.encode(reason, forKey: .failure)
        case .shadow(let phase):
            try c.encode(phase.id, forKey: .shadowID)
            try c.encode(phase.startedAt.secondsSinceEpoch, forKey: .shadowStartedEpoch)
            if phase.commandRan { try c.encode(true, forKey: .shadowCommandRan) }
            try c.encodeIfPresent(phase.verdict?.outcome, forKey: .shadowOutcome)
            if case .failed(_, let reason) = phase.verdict { try c.encode(reason, forKey: .failure) }
        default:
            break
        }
    }
}
