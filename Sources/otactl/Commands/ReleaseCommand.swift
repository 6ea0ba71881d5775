import ArgumentParser
import OTACore

/// Release metadata (TUF targets, signed offline by the release keys): which bundles may run,
/// per channel. Publishing a bundle only stores it; releasing it lets devices install it.
struct ReleaseCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "release",
        abstract: "Release bundles to channels (signed release metadata), renew and publish it.",
        discussion: """
        Each change writes the next version of the release metadata, valid for --expires (30d by default), signed with --key, and publishes it; with --out it writes a file instead, for co-signing offline (otactl trust sign FILE --key ...) and `otactl release publish FILE`. What the server sends (its root chain, release metadata, bundle envelopes) is verified from a root you hold (--trust or $OTA_TRUST) before anything is signed.
          export OTA_TRUST=keys/trust.json   # the root that checks the server
          otactl release add digits 1.2.0 --channel stable --key keys/release.key
          otactl release renew --key keys/release.key
        Devices install only bundles released on their channel (agent config `channel`, default stable) in unexpired release metadata: renew it before it expires.
        """,
        subcommands: [Add.self, Remove.self, Renew.self, Publish.self, Show.self]
    )

    /// Where the current version comes from, who signs the next, and where it goes.
    struct Edit: ParsableArguments {
        @Option(help: ArgumentHelp("Start from this file instead of the server's current release metadata.", valueName: "file"))
        var from: String?
        @Option(help: ArgumentHelp("How long the new version is valid.", valueName: "duration"))
        var expires = Lifetime(seconds: 30 * 86400)
        @Option(name: .customLong("key"), help: ArgumentHelp("A release private key to sign with. Repeat for more.", valueName: "file"))
        var keys: [String] = []
        @Option(help: ArgumentHelp("Write the new version here instead of publishing it.", valueName: "file"))
        var out: String?
        @Option(help: ArgumentHelp("A root you hold (default: $OTA_TRUST, e.g. keys/trust.json): what the server sends is checked from it before anything is signed.", valueName: "file"))
        var trust: String?
        @Option(help: ArgumentHelp("""
            Build on the server's release metadata even though it is older than a version seen from this server before, or expired; the reason goes into the audit log.
            """, valueName: "reason"))
        var allowOlder: String?

        func validate() throws {
            guard out != nil || !keys.isEmpty else { throw ValidationError("give --key to sign and publish, or --out to write a file for co-signing") }
            if let allowOlder, allowOlder.trimmed.isEmpty || allowOlder.utf8.count > 1000 {
                throw ValidationError("--allow-older needs a reason of 1 to 1000 bytes, for the audit log")
            }
        }

        /// The current targets (verified, when they come from the server, and no older than
        /// any version seen from it), or an empty version 0 when nothing was released yet.
        func current(_ server: ServerOptions) throws -> TargetsMetadata {
            if let from { return try MetadataFile<TargetsMetadata>.read(from).signed }
            let verified = try VerifiedServerTrust.load(try server.client(), trustedRoot: trust)
            let url = try server.url()
            guard let targets = verified.targets else {
                // A server that has none, where this tool saw some: a registry restored from
                // before any release, or one that lost them, would have withdrawn releases
                // signed again from scratch.
                try verified.seen.checkNone(from: url, allowOlder: allowOlder)
                return TargetsMetadata(version: 1, expires: expires.expires, targets: [:]).withVersion(0)
            }
            try verified.seen.check(targets, from: url, allowOlder: allowOlder)
            try verified.seen.record(targets.version, from: url)
            return targets
        }

        func finish(_ targets: TargetsMetadata, _ server: ServerOptions, summary: String) throws {
            var next = targets
            next.version += 1
            next.expires = expires.expires
            var file = try MetadataFile(next)
            try file.sign(with: try loadSigningKeys(keys))
            if let out {
                try file.write(to: out)
                return say("wrote \(out): release metadata version \(next.version), expires \(next.expires) (\(summary))")
            }
            let client = try server.client()
            let answer = try Failure.remote { try client.publishRelease(try file.bytes, reason: allowOlder.map { "built on older or expired release metadata: \($0)" }) }
            if from == nil, let path = VerifiedServerTrust.trustRootPath(trust) {
                try SeenReleases(trustRoot: path).record(answer.version, from: try server.url(), replacing: allowOlder != nil)
            }
            say("published release metadata version \(answer.version), expires \(next.expires): \(summary)")
        }
    }

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Release a published bundle on a channel.",
            discussion: "otactl release add digits 1.2.0 --channel stable --key keys/release.key --trust keys/trust.json\notactl release add --bundle digits-1.2.0.otab --channel beta --trust keys/trust.json --out release.json"
        )
        @Argument(help: "Bundle name (looked up on the server).") var name: BundleName?
        @Argument(help: "Version.") var version: SemanticVersion?
        @Option(help: ArgumentHelp("Take the bundle from this file instead of the server.", valueName: "file.otab")) var bundle: String?
        @Option(help: "The channel devices follow (agent config `channel`).") var channel = Release.defaultChannel
        @OptionGroup var edit: Edit
        @OptionGroup var server: ServerOptions

        func validate() throws {
            guard bundle != nil || (name != nil && version != nil) else { throw ValidationError("give NAME VERSION of a published bundle, or --bundle FILE.otab") }
        }

        func run() throws {
            let (bundleName, bundleVersion, target) = try releasedTarget()
            var targets = try edit.current(server)
            let path = Release.targetPath(channel: channel, name: bundleName, version: bundleVersion)
            if let listed = targets.targets[path], listed != target {
                throw Failure("\(path) is already released with another digest (\(listed.hashes["sha256"]?.prefix(12) ?? "?")): remove it first")
            }
            targets.targets[path] = target
            try edit.finish(targets, server, summary: "released \(bundleName) \(bundleVersion) on \(channel)")
        }

        func releasedTarget() throws -> (BundleName, SemanticVersion, TUFTargetFile) {
            if let bundle {
                let archive = try Failure.wrap("cannot read \(bundle)") { try BundleArchive.open(bundle) }
                let manifest = try Failure.wrap(bundle) { try archive.unverifiedManifest() }
                return (manifest.name, manifest.version,
                        TUFTargetFile(length: archive.envelope.payload.count, hashes: ["sha256": SHA256Digest.of(archive.envelope.payload).hex]))
            }
            let client = try server.client()
            let verified = try VerifiedServerTrust.load(client, trustedRoot: edit.trust)
            return (name!, version!, try verified.target(client, name: name!, version: version!))
        }
    }

    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Withdraw a release: devices on the channel no longer install it (a device running it keeps it).")
        @Argument(help: "Bundle name.") var name: BundleName
        @Argument(help: "Version.") var version: SemanticVersion
        @Option(help: "The channel.") var channel = Release.defaultChannel
        @OptionGroup var edit: Edit
        @OptionGroup var server: ServerOptions

        func run() throws {
            var targets = try edit.current(server)
            let path = Release.targetPath(channel: channel, name: name, version: version)
            guard targets.targets.removeValue(forKey: path) != nil else { throw Failure("\(name) \(version) is not released on \(channel)") }
            try edit.finish(targets, server, summary: "withdrew \(name) \(version) from \(channel)")
        }
    }

    struct Renew: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write the same releases as a new version with a new expiry (run it well before the old one expires).")
        @OptionGroup var edit: Edit
        @OptionGroup var server: ServerOptions

        func run() throws {
            let targets = try edit.current(server)
            try edit.finish(targets, server, summary: "renewed \(targets.targets.count) release\(targets.targets.count == 1 ? "" : "s")")
        }
    }

    struct Publish: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Publish a release metadata file (after co-signing it).")
        @Argument(help: ArgumentHelp("The release metadata file.", valueName: "file")) var path: String
        @OptionGroup var server: ServerOptions

        func run() throws {
            let file = try MetadataFile<TargetsMetadata>.read(path)
            let client = try server.client()
            let answer = try Failure.remote { try client.publishRelease(try file.bytes) }
            say("published release metadata version \(answer.version), expires \(file.signed.expires)")
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List what is released, per channel (the server's, or a file's).")
        @Argument(help: ArgumentHelp("A release metadata file; without it, the server's.", valueName: "file")) var path: String?
        @OptionGroup var server: ServerOptions
        @Flag(help: "Print the result as JSON.") var json = false

        func run() throws {
            let targets: TargetsMetadata
            if let path { targets = try MetadataFile<TargetsMetadata>.read(path).signed } else {
                let client = try server.client()
                guard let bytes = try Failure.remote({ try client.releaseMetadata() }) else {
                    if json { return try Terminal.printJSON(AdminAPI.TrustSummary(rootVersion: 0, rootExpires: nil, roots: [], targetsVersion: nil, targetsExpires: nil, snapshotVersion: nil, timestampVersion: nil, timestampExpires: nil, releases: [], staleDevices: 0).releases) }
                    return say("nothing is released yet: otactl release add NAME VERSION --key keys/release.key")
                }
                targets = try MetadataFile<TargetsMetadata>(bytes: bytes, source: "the server's release metadata").signed
            }
            let releases = AdminAPI.ReleasedBundle.list(targets)
            if json { return try Terminal.printJSON(releases) }
            say("release metadata version \(targets.version), expires \(targets.expires)\(targets.isExpired(at: Timestamp.epochSeconds()) ? " (EXPIRED)" : "")")
            Terminal.printTable(["CHANNEL", "NAME", "VERSION", "DIGEST"], releases.map { [$0.channel.rawValue, $0.name.rawValue, $0.version, $0.digest.short] })
        }
    }
}

extension TargetsMetadata {
    func withVersion(_ version: Int) -> TargetsMetadata {
        var copy = self
        copy.version = version
        return copy
    }
}
