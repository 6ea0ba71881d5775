import OTACore

extension TrustRepository {
    /// A check-in answer bound to the device and its nonce and signed with the check-in key,
    /// with the metadata the device lacks; nil with a legacy root (the plain answer is sent).
    func signedAnswer(_ plain: CheckinAnswerWriter.Plain, deviceID: DeviceID, nonce: String, report: DeviceAPI.TrustReport?,
                      issued: Timestamp) throws -> [UInt8]? {
        guard let signers = published.withLock({ $0?.answerSigners }) else { return nil }
        let metadata = try metadata(for: report).map { Array(try StrictJSON.encode($0)) }
        return try CheckinAnswerWriter.signed(plain, deviceID: deviceID, nonce: nonce, issued: issued, signers: signers, metadata: metadata)
    }

    /// Why devices would refuse to install `bundle`: with a TUF root, it must be released on
    /// some channel first (devices check their own channel). Nil with a legacy root.
    func releaseProblem(_ bundle: AdminAPI.Bundle) -> String? {
        guard let state = current else { return nil }
        let suffix = "/\(bundle.name)/\(bundle.version)"
        let released = state.targets?.signed.targets.contains { path, file in path.hasSuffix(suffix) && file.hashes["sha256"] == bundle.digest.hex } ?? false
        guard !released else { return nil }
        return "\(bundle.name) \(bundle.version) is not released on any channel, so devices would refuse it: release it first (otactl release add \(bundle.name) \(bundle.version) --channel stable --key RELEASE_KEY)"
    }
}
