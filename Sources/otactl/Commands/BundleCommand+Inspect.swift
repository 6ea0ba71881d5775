import ArgumentParser
import OTACore

extension BundleCommand {
    /// Where the root requires it, the model team's signature of every variant (or of the
    /// bundle): true when it was required and holds.
    static func checkModelSignatures(of bundle: String, _ manifest: Manifest, root: BundleTrust) throws -> Bool {
        guard let policy = root.modelSigning, policy.requires(manifest.name) else { return false }
        let archive = try BundleArchive.open(bundle)
        for variant in manifest.variants?.map(\.name) ?? [nil] {
            let selected = try manifest.selecting(variant)
            let file = try PayloadPath(variant.map { "\($0)/\(ModelSignature.fileName)" } ?? ModelSignature.fileName)
            let signature = try archive.contents(of: file, limit: ModelSignature.maximumSize)
            do { try policy.check(selected, signature: signature, variant: variant) } catch {
                throw Failure("\(bundle): \(variant.map { "variant \($0): " } ?? "")\(error)", exitCode: Failure.verification)
            }
        }
        return true
    }
}

extension BundleCommand {
    struct Inspect: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show a bundle's manifest and signatures (without verifying them).",
            discussion: "Use `otactl bundle verify` to check signatures and content."
        )

        @Argument(help: ArgumentHelp("Bundle file.", valueName: "file.otab"))
        var bundle: String

        @Flag(help: "Print the result as JSON.")
        var json = false

        func run() throws {
            let archive = try Failure.wrap("\(bundle)") { try BundleArchive.open(bundle) }
            let manifest = try Failure.wrap("\(bundle)") { try archive.unverifiedManifest() }
            let digest = SHA256Digest.of(archive.envelope.payload)
            let keyids = archive.envelope.signatures.map(\.keyid)
            if json {
                try Terminal.printJSON(BundleSummary(manifest: manifest, digest: digest, signers: keyids, path: bundle))
                return
            }
            say("name:       \(manifest.name)")
            say("version:    \(manifest.version)")
            say("kind:       \(manifest.kind)")
            say("compatible: \(manifest.compatible.joined(separator: ", "))")
            say("created:    \(manifest.created)")
            say("digest:     \(digest.hex)")
            say("size:       \(Terminal.formatBytes(manifest.totalSize)) in \(manifest.files.count) file\(manifest.files.count == 1 ? "" : "s")")
            if let health = manifest.health { say("health:     \(health.command) (timeout \(health.timeoutSeconds)s)") }
            for keyid in keyids { say("signature:  \(keyid) (not verified)") }
            printVariants(of: manifest)
            say("")
            Terminal.printTable(["PATH", "SIZE", "CHUNKS", "SHA256"], manifest.files.map {
                [$0.path.value, String($0.size), $0.chunks.map { String($0.count) } ?? "-", $0.sha256.hex]
            })
            if let metadata = manifest.metadata {
                say("")
                Terminal.printTable(["METADATA", "VALUE"], metadata.flattened().map { [$0.key, $0.value.displayText] })
            }
        }
    }
}

/// What `--json` prints for a bundle.
struct BundleSummary: Encodable {
    let path: String
    let valid: Bool?
    let digest: String
    let signatures: [String]
    let manifest: Manifest

    init(manifest: Manifest, digest: SHA256Digest, signers: [String], path: String, valid: Bool? = nil) {
        self.path = path
        self.valid = valid
        self.digest = digest.hex
        self.signatures = signers
        self.manifest = manifest
    }
}

/// The variants table of `bundle create`, `verify` and `inspect`: nothing for a bundle without.
func printVariants(of manifest: Manifest) {
    guard let variants = manifest.variants else { return }
    say("")
    Terminal.printTable(["VARIANT", "FILES", "SIZE", "REQUIRES"], variants.map { variant in
        let files = manifest.files(of: variant.name)
        return [variant.name.rawValue, String(files.count), Terminal.formatBytes(Manifest.totalSize(of: files)),
                variant.requires?.description ?? "any device"]
    })
}
