import Foundation
import OTACore
import TestSupport
import Testing

/// `otactl trust` and `otactl release` as an operator runs them: offline files, and a real
/// server whose answers are checked before anything is signed.
@Suite("otactl trust roots, rotations and releases")
struct TrustCommandTests {
    let dir = TemporaryDirectory("otactl-trust")

    @discardableResult
    func ctl(_ arguments: String..., environment: [String: String] = [:]) throws -> ProcessResult {
        try otactl(arguments, environment: environment, directory: dir.path)
    }

    func keys(_ names: String...) throws {
        for name in names { #expect(try ctl("keygen", "--out", "keys/\(name)").status == 0) }
    }

    func root(_ path: String) throws -> RootMetadata {
        guard case .tuf(let root, _) = try TrustAnchor.load(from: dir.file(path)) else { throw TestFailure("\(path) is not a TUF root") }
        return root
    }

    @Test("trust create writes a TUF root that python-tuf's format and our checks accept, signed by its root key")
    func create() throws {
        try keys("root", "release", "online")
        let result = try ctl("trust", "create", "--root-key", "keys/root.pub", "--release-key", "keys/release.pub", "--online-key", "keys/online.pub",
                             "--sign", "keys/root.key", "--out", "keys/trust.json")
        #expect(result.status == 0, "\(result)")
        #expect(result.stdout.contains("signatures: 1 of the 1 required from its own root keys"))
        let trusted = try root("keys/trust.json")
        let online = try KeyFiles.loadPublicKey(dir.file("keys/online.pub")).tufKeyID
        #expect(trusted.version == 1 && trusted.checkin?.keyids == [online])
        let shown = try ctl("trust", "show", "keys/trust.json")
        #expect(shown.stdout.contains("root version 1") && shown.stdout.contains("targets: 1 of 1"), "\(shown)")
        // One key in two roles is refused: an online key must never sign roots.
        let same = try ctl("trust", "create", "--root-key", "keys/root.pub", "--release-key", "keys/release.pub", "--online-key", "keys/root.pub", "--out", "x.json")
        #expect(same.status != 0 && same.stderr.contains("must be different keys"))
    }

    @Test("trust next replaces a key without lowering a threshold, and refuses a role it would leave unsatisfiable")
    func nextKeepsThresholds() throws {
        try keys("root", "a", "b", "c", "online")
        #expect(try ctl("trust", "create", "--root-key", "keys/root.pub", "--release-key", "keys/a.pub", "--release-key", "keys/b.pub",
                        "--release-threshold", "2", "--online-key", "keys/online.pub", "--sign", "keys/root.key", "--out", "v1.json").status == 0)
        let replaced = try ctl("trust", "next", "--from", "v1.json", "--add", "release=keys/c.pub", "--remove", "release=keys/a.pub",
                               "--sign", "keys/root.key", "--out", "v2.json")
        #expect(replaced.status == 0, "\(replaced)")
        #expect(replaced.stdout.contains("targets: adds") && replaced.stdout.contains("(now 2 of 2)"), "\(replaced.stdout)")
        let next = try root("v2.json")
        #expect(next.version == 2 && next.role(.targets).threshold == 2 && next.role(.targets).keyids.count == 2)
        // v2 links to v1: signed by v1's root key and its own (the same key here).
        var chain = try TrustedMetadata(trustedRoot: try FileSystem.readFile(dir.file("v1.json"), limit: 1 << 20), now: Timestamp.epochSeconds())
        try chain.updateRoot(try FileSystem.readFile(dir.file("v2.json"), limit: 1 << 20))
        let tooFew = try ctl("trust", "next", "--from", "v2.json", "--remove", "release=keys/b.pub", "--out", "v3.json")
        #expect(tooFew.status != 0 && tooFew.stderr.contains("role targets would need 2 signatures but have 1 keys"), "\(tooFew)")
        let lowered = try ctl("trust", "next", "--from", "v2.json", "--remove", "release=keys/b.pub", "--threshold", "release=1", "--out", "v3.json")
        #expect(lowered.status == 0 && lowered.stdout.contains("threshold 2 → 1"), "\(lowered)")
        #expect(try ctl("trust", "next", "--from", "v2.json", "--threshold", "nonsense=1", "--out", "v4.json").status == 64)
    }

    @Test("otactl release checks what the server sends from a root the operator holds before it signs")
    func releaseVerifiesTheServer() throws {
        let server = try TestServer(tuf: true)
        try FileSystem.writeAtomically(try FileSystem.readFile(server.trustPath, limit: 1 << 20), to: dir.file("trust.json"))
        try KeyFiles.writePrivateKey(server.key, to: dir.file("release.key"))
        try server.publish(name: "digits", version: "1.0.0", files: ["model.onnx": [1, 2, 3]])
        let environment = ["OTA_SERVER": server.url, "OTA_TOKEN": server.tokens[.admin]!]
        let added = try ctl("release", "add", "digits", "1.0.0", "--channel", "stable", "--key", "release.key", "--trust", "trust.json", environment: environment)
        #expect(added.status == 0, "\(added)")
        #expect(try server.admin().trustSummary().releases.map(\.name) == ["digits"])
        // Without a root to check from, nothing is signed.
        let unchecked = try ctl("release", "renew", "--key", "release.key", environment: environment)
        #expect(unchecked.status != 0 && unchecked.stderr.contains("give --trust"), "\(unchecked)")
        // A root that is not the server's: its chain and releases do not verify, nothing is signed.
        try keys("root", "release2", "online")
        #expect(try ctl("trust", "create", "--root-key", "keys/root.pub", "--release-key", "keys/release2.pub", "--online-key", "keys/online.pub",
                        "--sign", "keys/root.key", "--out", "other.json").status == 0)
        let foreign = try ctl("release", "renew", "--key", "release.key", "--trust", "other.json", environment: environment)
        #expect(foreign.status == 2 && foreign.stderr.contains("not signed by the release keys"), "\(foreign)")
        #expect(try server.admin().trustSummary().targetsVersion == 1)
        let shown = try ctl("release", "show", environment: environment)
        #expect(shown.stdout.contains("stable") && shown.stdout.contains("digits"), "\(shown)")
    }

    @Test("otactl release refuses to build on release metadata older than it saw from the server, or expired, unless told why")
    func releaseRefusesStaleGround() throws {
        let server = try TestServer(tuf: true)
        try FileSystem.writeAtomically(try FileSystem.readFile(server.trustPath, limit: 1 << 20), to: dir.file("trust.json"))
        try KeyFiles.writePrivateKey(server.key, to: dir.file("release.key"))
        try server.publish(name: "digits", version: "1.0.0", files: ["model.onnx": [1, 2, 3]])
        let environment = ["OTA_SERVER": server.url, "OTA_TOKEN": server.tokens[.admin]!, "OTA_TRUST": dir.file("trust.json")]
        #expect(try ctl("release", "add", "digits", "1.0.0", "--key", "release.key", environment: environment).status == 0)
        let seen = dir.file("trust.seen.json")
        #expect(try FileSystem.readText(seen).contains("\"targets_version\" : 1"), "remembered beside the trust root")
        // The server goes back (restored from an old backup, or compromised): it offers version
        // 1 while this operator saw version 5 from it.
        try FileSystem.writeAtomically(Array(#"{"servers": {"\#(server.url)": {"targets_version": 5, "seen_at": "2026-12-01T00:00:00Z"}}}"#.utf8), to: seen)
        let refused = try ctl("release", "remove", "digits", "1.0.0", "--key", "release.key", environment: environment)
        #expect(refused.status == 2, "\(refused)")
        #expect(refused.stderr.contains("older than version 5 this tool saw from it") && refused.stderr.contains("--allow-older"), "\(refused.stderr)")
        #expect(try server.admin().trustSummary().targetsVersion == 1, "nothing was signed or published")
        // Told why, it goes on, and the reason is in the audit log.
        let allowed = try ctl("release", "remove", "digits", "1.0.0", "--key", "release.key", "--allow-older", "restored from the 12-01 backup",
                              environment: environment)
        #expect(allowed.status == 0, "\(allowed)")
        #expect(try server.admin().audit().entries.contains { $0.detail.contains("restored from the 12-01 backup") })
        // Expired release metadata on the server is refused the same way.
        try server.release([("digits", "1.0.0", "stable")], expiresIn: 2)
        try eventually(timeout: 10, "the release metadata expires") {
            Timestamp.epochSeconds() >= (try server.admin().trustSummary().targetsExpires?.secondsSinceEpoch ?? .max)
        }
        let expired = try ctl("release", "renew", "--key", "release.key", environment: environment)
        #expect(expired.status == 2 && expired.stderr.contains("expired at"), "\(expired)")
        #expect(try ctl("release", "renew", "--key", "release.key", "--allow-older", "it lapsed over the holidays", environment: environment).status == 0)
    }

    @Test("otactl release refuses to start release metadata over on a server it saw releases from, unless told why")
    func releaseRefusesAServerThatLostItsReleases() throws {
        let server = try TestServer(tuf: true)
        try FileSystem.writeAtomically(try FileSystem.readFile(server.trustPath, limit: 1 << 20), to: dir.file("trust.json"))
        try KeyFiles.writePrivateKey(server.key, to: dir.file("release.key"))
        try server.publish(name: "digits", version: "1.0.0", files: ["model.onnx": [1, 2, 3]])
        let environment = ["OTA_SERVER": server.url, "OTA_TOKEN": server.tokens[.admin]!, "OTA_TRUST": dir.file("trust.json")]
        // This server has no release metadata, but this operator saw version 3 from it: a
        // registry restored from before any release, or one that lost them.
        try FileSystem.writeAtomically(Array(#"{"servers": {"\#(server.url)": {"targets_version": 3, "seen_at": "2026-12-01T00:00:00Z"}}}"#.utf8),
                                       to: dir.file("trust.seen.json"))
        let refused = try ctl("release", "add", "digits", "1.0.0", "--key", "release.key", environment: environment)
        #expect(refused.status == 2, "\(refused)")
        #expect(refused.stderr.contains("has no release metadata, but this tool saw version 3") && refused.stderr.contains("--allow-older"), "\(refused.stderr)")
        #expect(try server.admin().trustSummary().targetsVersion == nil, "nothing was signed or published")
        let allowed = try ctl("release", "add", "digits", "1.0.0", "--key", "release.key", "--allow-older", "registry rebuilt after the disk failure",
                              environment: environment)
        #expect(allowed.status == 0, "\(allowed)")
        #expect(try server.admin().audit().entries.contains { $0.detail.contains("registry rebuilt after the disk failure") })
    }
}
