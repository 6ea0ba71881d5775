/// The keys a bundle envelope must be signed by, and how many distinct ones: from a legacy
/// trust root, or from the targets (release) role of a TUF root.
public struct BundleTrust: Equatable, Sendable {
    /// By bundle key id (SHA-256 of the raw public key), as bundle envelopes name keys.
    public let keys: [String: Ed25519PublicKey]
    public let threshold: Int
    /// The model teams' signatures some bundles need beside the release signature (a TUF
    /// root's `x-ota-model-signing`).
    public let modelSigning: ModelSigningPolicy?

    public init(keys: [Ed25519PublicKey], threshold: Int, modelSigning: ModelSigningPolicy? = nil) {
        self.keys = Dictionary(keys.map { ($0.keyID, $0) }, uniquingKeysWith: { first, _ in first })
        self.threshold = threshold
        self.modelSigning = modelSigning
    }

    /// Checks an envelope: the payload type, then at least `threshold` distinct trusted keys
    /// with a valid signature over the exact payload, then the manifest itself. Signatures by
    /// unknown keys are ignored; several signatures by one key count once.
    public func verify(_ envelope: Envelope) throws(TrustError) -> VerifiedManifest {
        guard envelope.payloadType == Envelope.manifestPayloadType else {
            throw .wrongPayloadType(PayloadPath.printable(String(envelope.payloadType.prefix(100))))
        }
        guard !keys.isEmpty else { throw .invalidRoot("the trust root lists no release keys") }
        let message = envelope.pae
        var valid: [String] = []
        var invalid: [String] = []
        var untrusted: [String] = []
        for signature in envelope.signatures where !valid.contains(signature.keyid) {
            guard let key = keys[signature.keyid] else {
                untrusted.append(signature.keyid)
                continue
            }
            if key.isValidSignature(signature.sig, for: message) { valid.append(signature.keyid) } else { invalid.append(signature.keyid) }
        }
        invalid.removeAll { valid.contains($0) }
        guard valid.count >= threshold else {
            throw .thresholdNotMet(valid: valid, required: threshold, invalid: invalid, untrusted: untrusted)
        }
        let manifest: Manifest
        do { manifest = try Manifest.decode(envelope.payload) } catch { throw .invalidManifest(String(describing: error)) }
        return VerifiedManifest(manifest: manifest, manifestBytes: envelope.payload, signers: valid.sorted())
    }
}
