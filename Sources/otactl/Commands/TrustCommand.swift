import ArgumentParser
import OTACore

struct TrustCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "trust",
        abstract: "Create, rotate, sign and publish the trust root (TUF root metadata).",
        discussion: """
        The root names the keys of every role: root keys (offline, sign the root itself), release keys (offline, sign bundles and release metadata), and the server's online key (snapshot and timestamp metadata, check-in answers). Give the root to ota-server (--trust) and to every agent (trust_root).
          for key in root release online; do otactl keygen --out keys/$key; done
          otactl trust create --root-key keys/root.pub \\
              --release-key keys/release.pub --online-key keys/online.pub \\
              --sign keys/root.key --out keys/root.json
        Rotating a key: prepare the next version, co-sign it with a threshold of the current root keys and of the new ones, and publish it; devices follow the chain.
          otactl trust next --from keys/root.json \\
              --remove release=keys/release.pub --add release=keys/release2.pub \\
              --sign keys/root.key --out keys/root-2.json
          otactl trust publish keys/root-2.json
        """,
        subcommands: [Create.self, Next.self, Sign.self, Publish.self, Show.self, Check.self, Init.self]
    )

    struct Init: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a legacy trust root: bundle keys and a threshold, no roles, no release metadata.",
            discussion: """
            Kept for existing fleets. A device with a legacy trust root moves to a TUF root by itself when the server publishes a root version 1 co-signed by a threshold of these keys (otactl trust create ... --sign keys/release.key). Prefer `otactl trust create`. Example: otactl trust init --key keys/a.pub --key keys/b.pub --threshold 2 --out keys/trust.json
            """
        )

        @Option(name: .customLong("key"), help: ArgumentHelp("A public key file (.pub). Repeat for more keys.", valueName: "file"))
        var keys: [String]

        @Option(help: "How many distinct listed keys must sign a bundle.")
        var threshold: Int = 1

        @Option(name: .long, help: ArgumentHelp("Where to write the trust root.", valueName: "file"))
        var out: String

        func validate() throws {
            guard !keys.isEmpty else { throw ValidationError("give at least one --key") }
            guard threshold >= 1, threshold <= keys.count else {
                throw ValidationError("--threshold must be between 1 and the number of keys (\(keys.count))")
            }
        }

        func run() throws {
            let publicKeys = try loadPublicKeys(keys)
            guard Set(publicKeys).count == publicKeys.count else { throw Failure("the same key is given twice with --key") }
            let root = try Failure.wrap("") { try TrustRoot(keys: publicKeys, threshold: threshold) }
            try Failure.wrap("cannot write \(out)") {
                try FileSystem.createDirectory(FileSystem.parent(of: out))
                try FileSystem.writeAtomically(try root.encoded(), to: out)
            }
            say("wrote \(out): \(publicKeys.count) key\(publicKeys.count == 1 ? "" : "s"), threshold \(threshold)")
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show a trust root file (roles, keys, expiry, signatures), or the server's chain.",
            discussion: "otactl trust show keys/root.json\notactl trust show --server http://127.0.0.1:8080"
        )

        @Argument(help: ArgumentHelp("The trust root file; without it, the server's.", valueName: "root.json"))
        var path: String?

        @OptionGroup var server: ServerOptions

        @Flag(help: "Print the result as JSON.")
        var json = false

        func run() throws {
            guard let path else { return try showServer() }
            let bytes = try Failure.wrap("cannot read \(path)") { try FileSystem.readFile(path, limit: MetadataEnvelope.maximumSize) }
            let anchor = try Failure.wrap("", exitCode: Failure.verification) { try TrustAnchor.parse(bytes, source: path) }
            switch anchor {
            case .legacy(let root):
                if json {
                    struct Output: Encodable { let format = "legacy"; let threshold: Int; let keyids: [String] }
                    return try Terminal.printJSON(Output(threshold: root.threshold, keyids: root.keys.map(\.keyid)))
                }
                say("legacy trust root (no roles, no release metadata): threshold \(root.threshold) of \(root.keys.count)")
                for key in root.keys { say("key: \(key.keyid)") }
            case .tuf(let root, _):
                let file = try MetadataFile<RootMetadata>(bytes: bytes, source: path)
                if json { return try Terminal.printJSON(file.signed) }
                say("root version \(root.version), expires \(root.expires)\(root.isExpired(at: Timestamp.epochSeconds()) ? " (EXPIRED)" : "")")
                for (name, role) in root.namedRoles {
                    say("\(name): \(role.threshold) of \(role.keyids.count): \(role.keyids.map { String($0.prefix(16)) }.joined(separator: ", "))")
                }
                if root.modelSigning != nil { say(describe(root.modelSigning)) }
                say("signed by \(file.validSigners(of: root.role(.root), in: root).count) of its root keys (threshold \(root.role(.root).threshold))")
            }
        }

        func showServer() throws {
            let client = try server.client()
            let summary = try Failure.remote { try client.trustSummary() }
            if json { return try Terminal.printJSON(summary) }
            guard summary.rootVersion > 0 else { return say("the server runs with a legacy trust root: no root chain, no release metadata") }
            say("root:      version \(summary.rootVersion), expires \(summary.rootExpires?.rfc3339 ?? "?") (chain: \(summary.roots.map(String.init).joined(separator: " → ")))")
            say("release:   \(summary.targetsVersion.map { "version \($0), expires \(summary.targetsExpires?.rfc3339 ?? "?")" } ?? "none published (otactl release add)")")
            say("snapshot:  \(summary.snapshotVersion.map { "version \($0)" } ?? "none")")
            say("timestamp: \(summary.timestampVersion.map { "version \($0), expires \(summary.timestampExpires?.rfc3339 ?? "?")" } ?? "none")")
            say("devices with stale trust: \(summary.staleDevices)")
        }
    }

    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Decide, as a device would, whether a TUF repository verifies against a trusted root.",
            discussion: """
            --trusted holds root.json (and any timestamp.json, snapshot.json, targets.json trusted before); --remote holds N.root.json for newer roots, timestamp.json, snapshot.json and targets.json. Nothing is written. Exits 0 when the refresh succeeds, 2 when it does not.
            """
        )

        @Option(help: ArgumentHelp("Folder of trusted metadata.", valueName: "dir")) var trusted: String
        @Option(help: ArgumentHelp("Folder of repository metadata.", valueName: "dir")) var remote: String
        @Option(help: ArgumentHelp("Print the releases of this channel.", valueName: "name")) var channel: Channel?
        @Flag(help: "Print the result as JSON.") var json = false

        func run() throws {
            struct Output: Encodable {
                let ok: Bool
                var error: String?
                var rootVersion: Int?
                var targetsVersion: Int?
                var releases: [AdminAPI.ReleasedBundle]?
                enum CodingKeys: String, CodingKey { case ok, error, rootVersion = "root_version", targetsVersion = "targets_version", releases }
            }
            let local = MetadataFolder(trusted)
            var output = Output(ok: true)
            do {
                guard let rootBytes = local.load(.root) else { throw TUFError.missing(.root, "\(trusted)/root.json is missing") }
                var metadata = try TrustedMetadata(trustedRoot: rootBytes, now: Timestamp.epochSeconds())
                let scratch = ScratchMetadataStore(Dictionary(uniqueKeysWithValues: [TUFRoleName.timestamp, .snapshot, .targets].compactMap { role in
                    local.load(role).map { (role, $0) }
                }))
                try MetadataRefresh.run(&metadata, from: MetadataFolder(remote), store: scratch)
                output.rootVersion = metadata.root.version
                output.targetsVersion = metadata.targets?.version
                if let targets = metadata.targets {
                    output.releases = AdminAPI.ReleasedBundle.list(targets).filter { channel == nil || $0.channel == channel }
                }
            } catch {
                output = Output(ok: false, error: String(describing: error))
            }
            if json { try Terminal.printJSON(output) } else if output.ok {
                say("OK: root version \(output.rootVersion ?? 0), release metadata version \(output.targetsVersion ?? 0)")
                for release in output.releases ?? [] { say("released: \(release.channel) \(release.name) \(release.version) \(release.digest.short)") }
            }
            if !output.ok {
                if !json { Terminal.printError(output.error ?? "") }
                throw ExitCode(Failure.verification)
            }
        }
    }
}
