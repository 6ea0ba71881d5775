import OTACore

extension TrustRepository {
    /// A check-in answer bound to the device and its nonce and signed with the check-in key,
    /// with the metadata the device lacks; nil with a legacy root (the plain answer is sent).
    /// `plain` is the fleet's answer object; its fields are spliced after the binding, so the
    /// hot path builds no intermediate values.
    func signedAnswer(_ plain: [UInt8], deviceID: String, nonce: String, report: DeviceAPI.TrustReport?) throws -> [UInt8]? {
        guard !isLegacy, plain.first == UInt8(ascii: "{"), plain.count > 2 else { return nil }
        let binding = Array(try StrictJSON.encode(DeviceAPI.AnswerBinding(deviceID: deviceID, nonce: nonce, issued: Timestamp.epochSeconds())))
        let payload = binding.dropLast() + [UInt8(ascii: ",")] + plain.dropFirst()
        guard let envelope = try signAnswer(Array(payload)) else { return nil }
        return Array(try StrictJSON.encode(DeviceAPI.SignedCheckinResponse(answer: envelope, metadata: metadata(for: report))))
    }
}

extension TrustRepository {
    /// Why devices would refuse to install `bundle`: with a TUF root, it must be released on
    /// some channel first (devices check their own channel). Nil with a legacy root.
    func releaseProblem(_ bundle: AdminAPI.Bundle) -> String? {
        guard let state = current else { return nil }
        let suffix = "/\(bundle.name)/\(bundle.version)"
        let released = state.targets?.signed.targets.contains { path, file in path.hasSuffix(suffix) && file.hashes["sha256"] == bundle.digest } ?? false
        guard !released else { return nil }
        return "\(bundle.name) \(bundle.version) is not released on any channel, so devices would refuse it: release it first (otactl release add \(bundle.name) \(bundle.version) --channel stable --key RELEASE_KEY)"
    }
}

extension TrustRepository {
    /// Set when the current release metadata no longer verifies under the newest root (its
    /// release keys were rotated): devices install nothing new until it is signed again.
    func releaseWarning() -> String? {
        guard let state = current, let targets = state.targets else { return nil }
        guard (try? MetadataEnvelope.open(TargetsMetadata.self, targets.bytes, verifiedBy: state.root)) == nil else { return nil }
        return "the release metadata (version \(targets.signed.version)) is not signed by the release keys of root version \(state.root.version): devices install nothing new until you sign it again (otactl release renew --key NEW_RELEASE_KEY)"
    }
}
