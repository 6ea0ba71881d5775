import ArgumentParser
import Foundation
import OTACore

struct BundleCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bundle",
        abstract: "Create, co-sign, verify and inspect bundle files (.otab).",
        subcommands: [Create.self, Sign.self, Verify.self, Inspect.self]
    )

    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Build and sign a bundle from every file under a folder.",
            discussion: """
            Every regular file under DIR becomes a payload file, at its path relative to DIR. Symbolic links and special files are refused. The manifest lists each file's size and SHA-256 and is signed with --key; add more signatures with `otactl bundle sign`.

            Files larger than 1 MiB are also listed with their content-defined chunks (16-256 KiB, 64 KiB on average): a device then fetches only the chunks of a new model it does not already hold, and the server stores each chunk once across versions. --no-chunks lists whole files only (for devices older than chunking, which refuse the field).

            Variants: --variants FILE builds one bundle holding several builds of the payload, each in DIR's folder of its name; each device installs the first build whose requirements it meets, and only that build's files. FILE has one line per build, best first: the name, then what a device must report, in the language of `deployments create --where` (a name alone fits any device; '#' starts a comment):

              int8   cpu.features contains neon
              fp32   cpu.arch = x86_64

            A bundle with variants is manifest schema 2: agents older than variants refuse it, and the server offers it only to agents that announce variants.

            Metadata: --metadata framework=onnx --metadata metrics.top1=0.912 gives {"framework": "onnx", "metrics": {"top1": 0.912}}. Values that read as JSON numbers, booleans, arrays or objects are kept as such; anything else is a string.
            """
        )

        @Argument(help: ArgumentHelp("Folder holding the payload.", valueName: "dir"))
        var directory: String

        // Parsed by `transform`, so that a bad value's error says what is wrong with it.
        @Option(help: "Bundle name: letters, digits, '.', '_', '-' (e.g. face-detector).", transform: { try BundleName($0) })
        var name: BundleName

        @Option(help: "Semantic version (e.g. 1.4.0 or 2.0.0-rc.1); devices only move forward.", transform: { try SemanticVersion($0) })
        var version: SemanticVersion

        @Option(help: "model, firmware, or the name of an install handler on the devices.", transform: { try BundleKind($0) })
        var kind: BundleKind

        @Option(help: ArgumentHelp("Hardware classes that may install it, comma-separated.", valueName: "hw[,hw...]"))
        var compatible: String

        @Option(help: ArgumentHelp("Private key to sign with.", valueName: "file.key"))
        var key: String

        @Option(name: .customLong("metadata"), help: ArgumentHelp("Free-form metadata; repeatable.", valueName: "key=value"))
        var metadata: [String] = []

        @Option(help: ArgumentHelp("A payload file the device may run as the bundle's own health self-test.", valueName: "path"))
        var healthCommand: String?

        @Option(help: "Seconds the health self-test may take.")
        var healthTimeout: Int = 60

        @Option(name: .shortAndLong, help: ArgumentHelp("Bundle file to write.", valueName: "file.otab"))
        var output: String

        @Flag(help: "List whole files only, without content-defined chunks.")
        var noChunks = false

        @Option(help: ArgumentHelp("A trust root whose model-signing policy the bundle must meet: the model team's model.sig in DIR (in each variant's folder) is checked against it.", valueName: "root.json"))
        var trust: String?

        @Option(help: ArgumentHelp("Builds of the payload, one per folder of DIR, best first (see below).", valueName: "file"))
        var variants: String?

        @Flag(help: "Print the result as JSON.")
        var json = false

        func run() throws {
            let hardware = try compatible.split(separator: ",").map { text in
                try Failure.wrap("--compatible") { try HardwareClass(String(text).trimmingCharacters(in: .whitespaces)) }
            }
            let metadataValue = try MetadataParser.parse(metadata)
            let variantList = try variants.map { file in
                try Failure.wrap("--variants \(file)") {
                    try VariantsFile.parse(try FileSystem.readText(file, limit: VariantsFile.maximumSize))
                }
            }
            let signingKey = try Failure.wrap("cannot load signing key \(key)") { try KeyFiles.loadPrivateKey(key) }
            let options = BundleWriter.Options(name: name, version: version, kind: kind, compatible: hardware,
                                               metadata: metadataValue, healthCommand: healthCommand,
                                               healthTimeoutSeconds: healthTimeout, chunked: !noChunks, variants: variantList)
            let progress = ProgressBar("writing \(FileSystem.basename(of: output))")
            let (envelope, manifest) = try Failure.wrap("cannot create the bundle") {
                try BundleWriter.create(from: directory, options: options, key: signingKey, output: output, progress: progress.update)
            }
            progress.finish()
            if let trust {
                let root = try Failure.wrap("") { try TrustAnchor.load(from: trust).bundleTrust }
                do {
                    if try BundleCommand.checkModelSignatures(of: output, manifest, root: root) { say("the model team's signature covers every file") }
                } catch {
                    // A bundle that would be refused everywhere is not left behind.
                    _ = try? FileSystem.remove(output)
                    throw error
                }
            }
            if !noChunks, !manifest.files.contains(where: { $0.chunks != nil }),
               manifest.files.contains(where: { $0.size > ChunkingParameters.chunkedFileThreshold }) {
                Terminal.log.notice("the chunk lists would not fit in one envelope (\(Envelope.maximumSize) bytes); the files are listed whole, so devices fetch them whole")
            }
            let digest = SHA256Digest.of(envelope.payload)
            if json {
                try Terminal.printJSON(BundleSummary(manifest: manifest, digest: digest, signers: envelope.signatures.map(\.keyid), path: output))
            } else {
                say("created \(output): \(manifest.name) \(manifest.version) (\(manifest.kind)), \(manifest.files.count) file\(manifest.files.count == 1 ? "" : "s"), \(Terminal.formatBytes(manifest.totalSize))")
                say("digest \(digest.hex)")
                say("signed by \(signingKey.publicKey.keyID)")
                printVariants(of: manifest)
            }
        }
    }

    struct Sign: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Co-sign a bundle: add a signature, leaving the manifest unchanged.",
            discussion: "The payload is checked against the manifest before signing. Signing again with the same key replaces that key's signature."
        )

        @Argument(help: ArgumentHelp("Bundle file to co-sign (rewritten in place).", valueName: "file.otab"))
        var bundle: String

        @Option(help: ArgumentHelp("Private key to sign with.", valueName: "file.key"))
        var key: String

        func run() throws {
            let signingKey = try Failure.wrap("cannot load signing key \(key)") { try KeyFiles.loadPrivateKey(key) }
            let envelope = try Failure.wrap("cannot sign \(bundle)") { try BundleWriter.cosign(bundle, key: signingKey) }
            say("signed \(bundle) with \(signingKey.publicKey.keyID) (\(envelope.signatures.count) signature\(envelope.signatures.count == 1 ? "" : "s"))")
        }
    }

    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Verify a bundle's signatures and every payload byte.",
            discussion: "Exits 0 only when the trust root's threshold is met and every file's size and SHA-256 match the signed manifest; exits 2 otherwise."
        )

        @Argument(help: ArgumentHelp("Bundle file.", valueName: "file.otab"))
        var bundle: String

        @Option(help: ArgumentHelp("Trust root: its release keys must sign the bundle (a TUF root or a legacy trust root).", valueName: "trust.json"))
        var trust: String

        @Flag(help: "Print the result as JSON.")
        var json = false

        func run() throws {
            let root = try Failure.wrap("") { try TrustAnchor.load(from: trust).bundleTrust }
            let progress = ProgressBar("verifying \(FileSystem.basename(of: bundle))")
            let verified: VerifiedManifest
            do {
                let archive = try BundleArchive.open(bundle)
                verified = try archive.verify(trust: root, progress: progress.update)
                progress.finish()
            } catch {
                progress.finish()
                if json {
                    struct Invalid: Encodable { let valid = false; let error: String }
                    try Terminal.printJSON(Invalid(error: String(describing: error)))
                }
                throw Failure("\(bundle): \(error)", exitCode: Failure.verification)
            }
            let manifest = verified.manifest
            let modelSigned = try BundleCommand.checkModelSignatures(of: bundle, manifest, root: root)
            if json {
                try Terminal.printJSON(BundleSummary(manifest: manifest, digest: verified.digest, signers: verified.signers, path: bundle, valid: true))
            } else {
                say("OK \(bundle): \(manifest.name) \(manifest.version) (\(manifest.kind)), \(manifest.files.count) file\(manifest.files.count == 1 ? "" : "s"), \(Terminal.formatBytes(manifest.totalSize))")
                printVariants(of: manifest)
                if modelSigned { say("the model team's signature covers every file" + (manifest.variants == nil ? "" : " of every variant")) }
                say("signed by \(verified.signers.count) trusted key\(verified.signers.count == 1 ? "" : "s") (threshold \(root.threshold)): \(verified.signers.joined(separator: ", "))")
            }
        }
    }

}
