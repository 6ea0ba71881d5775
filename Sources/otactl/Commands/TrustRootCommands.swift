import ArgumentParser
import OTACore

extension TrustCommand {
    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write root version 1: root keys, release keys and the server's online key.",
            discussion: """
            Keep root and release private keys offline; only the online key's private half goes to ota-server (--online-key). --sign with a threshold of the root keys, or co-sign later with `otactl trust sign`. To move devices that hold a legacy trust.json, also --sign with a threshold of that file's keys: the legacy root then vouches for version 1.
            """
        )

        @Option(name: .customLong("root-key"), help: ArgumentHelp("A root public key (.pub). Repeat for more.", valueName: "file"))
        var rootKeys: [String]
        @Option(help: "How many root keys must sign a root version.") var rootThreshold = 1
        @Option(name: .customLong("release-key"), help: ArgumentHelp("A release public key: signs bundles and release metadata. Repeat for more.", valueName: "file"))
        var releaseKeys: [String]
        @Option(help: "How many release keys must sign a bundle and the release metadata.") var releaseThreshold = 1
        @Option(help: ArgumentHelp("The server's public key: snapshot, timestamp and check-in answers.", valueName: "file"))
        var onlineKey: String
        @Option(help: ArgumentHelp("How long the root is valid.", valueName: "duration")) var expires = Lifetime(seconds: 365 * 86400)
        @Option(name: .customLong("sign"), help: ArgumentHelp("A private key to sign with. Repeat for more.", valueName: "file"))
        var signingKeys: [String] = []
        @Option(help: ArgumentHelp("Where to write the root.", valueName: "file")) var out: String
        @OptionGroup(title: "Model signing") var modelSigning: ModelSigningOptions

        func validate() throws {
            guard !rootKeys.isEmpty, !releaseKeys.isEmpty else { throw ValidationError("give at least one --root-key and one --release-key") }
            guard (1...rootKeys.count).contains(rootThreshold) else { throw ValidationError("--root-threshold must be between 1 and \(rootKeys.count)") }
            guard (1...releaseKeys.count).contains(releaseThreshold) else { throw ValidationError("--release-threshold must be between 1 and \(releaseKeys.count)") }
        }

        func run() throws {
            let roots = try loadPublicKeys(rootKeys), releases = try loadPublicKeys(releaseKeys), online = try loadPublicKeys([onlineKey])
            guard Set(roots).count == roots.count, Set(releases).count == releases.count else { throw Failure("a key is given twice in one role") }
            guard Set(roots).isDisjoint(with: releases), Set(roots).isDisjoint(with: online), Set(releases).isDisjoint(with: online) else {
                throw Failure("root, release and online keys must be different keys: a key that is online or signs releases must not also sign roots")
            }
            func role(_ keys: [Ed25519PublicKey], _ threshold: Int) -> TUFRole { TUFRole(keyids: keys.map(\.tufKeyID).sorted(), threshold: threshold) }
            let all = (roots + releases + online).map(TUFKey.init)
            let root = RootMetadata(version: 1, expires: expires.expires, keys: Dictionary(all.map { ($0.keyID, $0) }, uniquingKeysWith: { a, _ in a }),
                                    roles: [.root: role(roots, rootThreshold), .targets: role(releases, releaseThreshold),
                                            .snapshot: role(online, 1), .timestamp: role(online, 1)],
                                    checkin: role(online, 1), modelSigning: try modelSigning.apply(to: nil))
            var file = try MetadataFile(root)
            try file.sign(with: try loadSigningKeys(signingKeys))
            try file.write(to: out)
            say("wrote \(out): root version 1, expires \(root.expires)")
            if root.modelSigning != nil { say(describe(root.modelSigning)) }
            printSignatureStatus(file, previous: nil)
        }
    }

    struct Next: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Prepare the next root version: add, remove or replace keys, change thresholds, extend the expiry.",
            discussion: """
            ROLE is root, release, online (snapshot, timestamp and check-in), snapshot, timestamp or checkin. The new version must be signed by a threshold of the current root keys AND of its own root keys. Removing a release key means bundles signed only by it are no longer installed anywhere.
              otactl trust next --from keys/root.json --remove release=keys/old.pub \\
                  --add release=keys/new.pub --sign keys/root.key --out keys/root-2.json
            """
        )

        @Option(help: ArgumentHelp("The current root file; without it, the server's newest, checked from --trust.", valueName: "file")) var from: String?
        @Option(help: ArgumentHelp("A root you hold (default: $OTA_TRUST), to check the server's chain from (without --from).", valueName: "file")) var trust: String?
        @Option(help: ArgumentHelp("Add a key to a role: ROLE=FILE.pub.", valueName: "role=file")) var add: [RoleAssignment] = []
        @Option(help: ArgumentHelp("Remove a key from a role: ROLE=FILE.pub or ROLE=KEYID.", valueName: "role=key")) var remove: [RoleAssignment] = []
        @Option(help: ArgumentHelp("Set a role's threshold: ROLE=N.", valueName: "role=n")) var threshold: [RoleAssignment] = []
        @Option(help: ArgumentHelp("How long the new version is valid.", valueName: "duration")) var expires = Lifetime(seconds: 365 * 86400)
        @Option(name: .customLong("sign"), help: ArgumentHelp("A private key to sign with. Repeat for more.", valueName: "file"))
        var signingKeys: [String] = []
        @Option(help: ArgumentHelp("Where to write the new version.", valueName: "file")) var out: String
        @OptionGroup var server: ServerOptions
        @OptionGroup(title: "Model signing") var modelSigning: ModelSigningOptions

        func run() throws {
            let current = try currentRoot()
            var root = current.signed
            root.version += 1
            root.expires = expires.expires
            // Additions first, then removals: replacing a key never passes through a role with
            // too few keys, and no threshold changes unless --threshold says so.
            for change in add {
                let key = try loadPublicKeys([change.value])[0]
                root.keys[key.tufKeyID] = TUFKey(key)
                for name in change.role.roles {
                    var role = root[roleNamed: name] ?? TUFRole(keyids: [], threshold: 1)
                    if !role.keyids.contains(key.tufKeyID) { role.keyids.append(key.tufKeyID) }
                    role.keyids.sort()
                    root[roleNamed: name] = role
                }
            }
            for change in remove {
                let keyid = FileSystem.exists(change.value) ? try loadPublicKeys([change.value])[0].tufKeyID : change.value
                for name in change.role.roles {
                    guard var role = root[roleNamed: name], role.keyids.contains(keyid) else {
                        throw Failure("role \(name) has no key \(keyid.prefix(16))")
                    }
                    role.keyids.removeAll { $0 == keyid }
                    root[roleNamed: name] = role
                }
            }
            for change in threshold {
                guard let value = Int(change.value), value >= 1 else { throw Failure("threshold \(change.value) is not a number above 0") }
                for name in change.role.roles {
                    guard var role = root[roleNamed: name] else { throw Failure("the root has no role \(name)") }
                    role.threshold = value
                    root[roleNamed: name] = role
                }
            }
            let used = Set(root.namedRoles.flatMap(\.1.keyids))
            root.keys = root.keys.filter { used.contains($0.key) }
            for (name, role) in root.namedRoles {
                guard !role.keyids.isEmpty else { throw Failure("role \(name) would have no keys left: add one before removing the last") }
                guard role.threshold <= role.keyids.count else {
                    throw Failure("role \(name) would need \(role.threshold) signatures but have \(role.keyids.count) keys: add a key, or lower it with --threshold")
                }
            }
            root.modelSigning = try modelSigning.apply(to: root.modelSigning)
            printRoleChanges(from: current.signed, to: root)
            if root.modelSigning != current.signed.modelSigning { say(describe(root.modelSigning)) }
            var file = try MetadataFile(root)
            try file.sign(with: try loadSigningKeys(signingKeys))
            try file.write(to: out)
            say("wrote \(out): root version \(root.version), expires \(root.expires)")
            printSignatureStatus(file, previous: current.signed)
        }

        func currentRoot() throws -> MetadataFile<RootMetadata> {
            if let from { return try MetadataFile.read(from) }
            let verified = try VerifiedServerTrust.load(try server.client(), trustedRoot: trust)
            return try MetadataFile(bytes: verified.rootBytes, source: "the server's root")
        }
    }

    struct Sign: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Co-sign a root or release metadata file in place (offline).",
            discussion: "otactl trust sign keys/root-2.json --key /media/usb/root2.key"
        )
        @Argument(help: ArgumentHelp("The metadata file.", valueName: "file")) var path: String
        @Option(name: .customLong("key"), help: ArgumentHelp("A private key to sign with. Repeat for more.", valueName: "file")) var keys: [String]

        func validate() throws { guard !keys.isEmpty else { throw ValidationError("give at least one --key") } }

        func run() throws {
            let bytes = try Failure.wrap("cannot read \(path)") { try FileSystem.readFile(path, limit: MetadataEnvelope.maximumSize) }
            var envelope = try Failure.wrap(path) { try StrictJSON.decode(Envelope.self, from: bytes, what: "envelope") }
            guard envelope.payloadType == MetadataEnvelope.payloadType else { throw Failure("\(path) is not TUF metadata") }
            for key in try loadSigningKeys(keys) { try envelope.signTUF(with: key) }
            try Failure.wrap("cannot write \(path)") { try FileSystem.writeAtomically(try envelope.encoded() + [0x0a], to: path) }
            say("signed \(path): \(envelope.signatures.count) signature\(envelope.signatures.count == 1 ? "" : "s")")
        }
    }

    struct Publish: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Publish the next root version to the server, which checks the chain before it serves it to devices.")
        @Argument(help: ArgumentHelp("The root file.", valueName: "root.json")) var path: String
        @OptionGroup var server: ServerOptions

        func run() throws {
            let file = try MetadataFile<RootMetadata>.read(path)
            let client = try server.client()
            let answer = try Failure.remote { try client.publishRoot(try file.bytes) }
            say("published root version \(answer.version): devices move to it at their next check-in")
            if let warning = answer.warning { Terminal.log.warning("\(warning)") }
        }
    }
}

/// What a new root version changes, role by role, so that nothing is signed unseen.
func printRoleChanges(from old: RootMetadata, to new: RootMetadata) {
    for (name, role) in new.namedRoles {
        let before = old[roleNamed: name] ?? TUFRole(keyids: [], threshold: 1)
        let added = role.keyids.filter { !before.keyids.contains($0) }, removed = before.keyids.filter { !role.keyids.contains($0) }
        guard !added.isEmpty || !removed.isEmpty || role.threshold != before.threshold else { continue }
        var parts: [String] = []
        if !added.isEmpty { parts.append("adds \(added.map { String($0.prefix(16)) }.joined(separator: ", "))") }
        if !removed.isEmpty { parts.append("removes \(removed.map { String($0.prefix(16)) }.joined(separator: ", "))") }
        if role.threshold != before.threshold { parts.append("threshold \(before.threshold) → \(role.threshold)") }
        say("\(name): \(parts.joined(separator: "; ")) (now \(role.threshold) of \(role.keyids.count))")
    }
}

/// Says which thresholds a root file meets: its own, and its predecessor's.
func printSignatureStatus(_ file: MetadataFile<RootMetadata>, previous: RootMetadata?) {
    let own = file.signed.role(.root)
    let signedOwn = file.validSigners(of: own, in: file.signed).count
    var lines = ["signatures: \(signedOwn) of the \(own.threshold) required from its own root keys"]
    if let previous {
        let old = previous.role(.root)
        lines.append("\(file.validSigners(of: old, in: previous).count) of the \(old.threshold) required from version \(previous.version)'s root keys")
    }
    say(lines.joined(separator: "; "))
}
