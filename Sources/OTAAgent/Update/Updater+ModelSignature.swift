import OTACore

/// Step 3½: where this device's trust root requires it (`x-ota-model-signing`), the model
/// team's own signature over the model folder, checked before anything is staged. The files'
/// digests are pinned by the release-signed manifest and were checked as they arrived, so the
/// check needs only the signature file and the manifest: no model file is read again.
extension Updater {
    /// False when the signature file must be fetched again (removed, or damaged on the disk).
    func checkModelSignature() throws -> Bool {
        guard let policy = try agent.trust.bundleTrust().modelSigning, policy.requires(journal.name) else { return true }
        let manifest = try manifest
        var signature: [UInt8]?
        if let entry = ModelSigningPolicy.signatureFile(of: manifest) {
            guard entry.size <= UInt64(ModelSignature.maximumSize) else {
                throw UpdateProblem.modelSignature(.malformed("it is larger than \(ModelSignature.maximumSize) bytes"))
            }
            // Fetched for this update, or (unchanged since the live version) taken from the live
            // slot, as staging takes it: the download step does not copy a file it reuses.
            let fetched = layout.download(entry.sha256)
            let source = FileSystem.exists(fetched) ? fetched : agent.reusableFiles(for: journal.name)[entry.sha256]
            guard let source, let bytes = try? FileSystem.readRegularFile(source, limit: ModelSignature.maximumSize),
                  SHA256Digest.of(bytes) == entry.sha256 else {
                // Gone or damaged: fetched again (a damaged download is removed first).
                if FileSystem.exists(fetched) { try FileSystem.remove(fetched) }
                return false
            }
            signature = bytes
        }
        do { try policy.check(manifest, signature: signature, variant: journal.variant) } catch { throw UpdateProblem.modelSignature(error) }
        log.info("\(label): the model team's signature covers every file")
        return true
    }
}
