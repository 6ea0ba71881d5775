import Foundation
import OTACore
import TestSupport
import Testing

/// `otactl` as a user runs it: real processes, real files, real OpenSSL.
@Suite("otactl keys, trust roots and bundles")
struct BundleCommandTests {
    let dir = TemporaryDirectory("otactl")

    init() throws {
        try dir.write("model/model.onnx", (0..<4096).map { UInt8(truncatingIfNeeded: $0 * 7) })
        try dir.write("model/labels.txt", "cat\ndog\n")
    }

    @discardableResult
    func ctl(_ arguments: String...) throws -> ProcessResult { try otactl(arguments, directory: dir.path) }

    func makeKeyAndTrust(_ name: String = "release") throws {
        #expect(try ctl("keygen", "--out", "keys/\(name)").status == 0)
        #expect(try ctl("trust", "init", "--key", "keys/\(name).pub", "--out", "keys/trust.json").status == 0)
    }

    func create(_ key: String = "keys/release.key", output: String = "out.otab", extra: [String] = []) throws -> ProcessResult {
        try otactl(["bundle", "create", "model", "--name", "digits", "--version", "1.0.0", "--kind", "model",
                    "--compatible", "rpi4,jetson", "--key", key, "-o", output] + extra, directory: dir.path)
    }

    @Test("keygen writes a 0600 private key and a public key and prints the key id")
    func keygen() throws {
        let result = try ctl("keygen", "--out", "keys/a")
        #expect(result.status == 0)
        let keyID = result.stdout.trimmed
        let publicKey = try KeyFiles.loadPublicKey(dir.file("keys/a.pub"))
        #expect(keyID == publicKey.keyID)
        let mode = try FileManager.default.attributesOfItem(atPath: dir.file("keys/a.key"))[.posixPermissions] as? Int
        #expect(mode == 0o600)
        let again = try ctl("keygen", "--out", "keys/a")
        #expect(again.status == 1)
        #expect(again.stderr.contains("keys/a.key already exists; refusing to overwrite a key"))
    }

    @Test("A created bundle verifies with exit 0 and reports its signer")
    func createAndVerify() throws {
        try makeKeyAndTrust()
        let created = try create(extra: ["--metadata", "framework=onnx", "--metadata", "metrics.top1=0.912"])
        #expect(created.status == 0, "\(created)")
        let verify = try ctl("bundle", "verify", "out.otab", "--trust", "keys/trust.json")
        #expect(verify.status == 0, "\(verify)")
        #expect(verify.stdout.hasPrefix("OK out.otab: digits 1.0.0 (model), 2 files"))
        let json = try ctl("bundle", "verify", "out.otab", "--trust", "keys/trust.json", "--json")
        let object = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
        #expect(object?["valid"] as? Bool == true)
        let manifest = object?["manifest"] as? [String: Any]
        #expect((manifest?["metadata"] as? [String: Any])?["metrics"] as? [String: Double] == ["top1": 0.912])
    }

    @Test("Creating a bundle writes only the output file")
    func writesOnlyTheOutput() throws {
        try makeKeyAndTrust()
        let before = dir.listing()
        #expect(try create(output: "dist/x.otab").status == 1) // no such folder: a clear error, nothing written
        #expect(dir.listing() == before)
        try FileSystem.createDirectory(dir.file("dist"))
        #expect(try create(output: "dist/x.otab").status == 0)
        #expect(dir.listing() == (before + ["dist/x.otab"]).sorted())
    }

    @Test("A tampered payload byte makes verify exit 2 naming the file")
    func tamperedPayload() throws {
        try makeKeyAndTrust()
        try create()
        var bytes = try FileSystem.readFile(dir.file("out.otab"), limit: 1 << 24)
        let needle = Array("cat\ndog".utf8)
        let index = (0..<(bytes.count - needle.count)).first { Array(bytes[$0..<$0 + needle.count]) == needle }!
        bytes[index] = UInt8(ascii: "b")
        try FileSystem.writeAtomically(bytes, to: dir.file("out.otab"))
        let verify = try ctl("bundle", "verify", "out.otab", "--trust", "keys/trust.json")
        #expect(verify.status == 2)
        #expect(verify.stderr.contains("'labels.txt' does not match its SHA-256 in the signed manifest"))
    }

    @Test("A bundle signed by a key outside the trust root fails verification with exit 2")
    func untrustedSigner() throws {
        try makeKeyAndTrust()
        #expect(try ctl("keygen", "--out", "keys/stranger").status == 0)
        try create("keys/stranger.key")
        let verify = try ctl("bundle", "verify", "out.otab", "--trust", "keys/trust.json")
        #expect(verify.status == 2)
        #expect(verify.stderr.contains("which the trust root does not list"))
    }

    @Test("A 2-of-2 trust root needs a co-signature; bundle sign adds it")
    func cosigning() throws {
        #expect(try ctl("keygen", "--out", "keys/a").status == 0)
        #expect(try ctl("keygen", "--out", "keys/b").status == 0)
        #expect(try ctl("trust", "init", "--key", "keys/a.pub", "--key", "keys/b.pub", "--threshold", "2", "--out", "keys/trust.json").status == 0)
        try create("keys/a.key")
        let first = try ctl("bundle", "verify", "out.otab", "--trust", "keys/trust.json")
        #expect(first.status == 2)
        #expect(first.stderr.contains("1 valid signature from trusted keys, 2 required"))
        #expect(try ctl("bundle", "sign", "out.otab", "--key", "keys/b.key").status == 0)
        #expect(try ctl("bundle", "verify", "out.otab", "--trust", "keys/trust.json").status == 0)
    }

    @Test("inspect shows the manifest, files, metadata and unverified signatures")
    func inspect() throws {
        try makeKeyAndTrust()
        try create(extra: ["--metadata", "quantization=int8"])
        let text = try ctl("bundle", "inspect", "out.otab")
        #expect(text.status == 0)
        #expect(text.stdout.contains("name:       digits"))
        #expect(text.stdout.contains("compatible: rpi4, jetson"))
        #expect(text.stdout.contains("labels.txt") && text.stdout.contains("model.onnx"))
        #expect(text.stdout.contains("quantization  int8"))
        #expect(text.stdout.contains("(not verified)"))
        let json = try ctl("bundle", "inspect", "out.otab", "--json")
        let object = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
        #expect((object?["manifest"] as? [String: Any])?["version"] as? String == "1.0.0")
    }

    @Test("Symbolic links in the source folder are refused and no bundle is written")
    func refusesSymlinks() throws {
        try makeKeyAndTrust()
        symlink("/etc/shadow", dir.file("model/shadow"))
        let result = try create()
        #expect(result.status == 1)
        #expect(result.stderr.contains("'shadow' is a symbolic link; bundles carry regular files only"))
        #expect(!FileSystem.exists(dir.file("out.otab")))
    }

    @Test("Bad arguments get one clear sentence and the documented exit code")
    func badArguments() throws {
        try makeKeyAndTrust()
        let version = try otactl(["bundle", "create", "model", "--name", "digits", "--version", "1.0", "--kind", "model",
                                  "--compatible", "rpi4", "--key", "keys/release.key", "-o", "x.otab"], directory: dir.path)
        #expect(version.status == 64, "a bad value is a usage error")
        #expect(version.stderr.contains("'1.0' is not a semantic version"), "\(version.stderr)")
        let missing = try ctl("bundle", "create", "model", "--name", "digits")
        #expect(missing.status == 64)
        let noKey = try ctl("bundle", "verify", "nothing.otab", "--trust", "keys/trust.json")
        #expect(noKey.status == 2)
        #expect(noKey.stderr.contains("nothing.otab"))
        let badTrust = try ctl("bundle", "verify", "x.otab", "--trust", "keys/release.pub")
        #expect(badTrust.status == 1)
        #expect(badTrust.stderr.contains("trust root"))
    }

    @Test("--help documents the exit codes")
    func helpDocumentsExitCodes() throws {
        let help = try ctl("--help")
        #expect(help.stdout.contains("2   verification failed"))
        #expect(help.stdout.contains("64  invalid command-line usage"))
    }
}

@Suite("Interoperability with OpenSSL")
struct OpenSSLInteropTests {
    let dir = TemporaryDirectory("interop")

    @Test("A signature made by otactl verifies with openssl pkeyutl -verify -rawin over the PAE bytes")
    func opensslVerifiesOurSignature() throws {
        try dir.write("model/w.bin", [1, 2, 3])
        #expect(try otactl(["keygen", "--out", "k"], directory: dir.path).status == 0)
        #expect(try otactl(["bundle", "create", "model", "--name", "m", "--version", "1.0.0", "--kind", "model",
                            "--compatible", "hw", "--key", "k.key", "-o", "b.otab"], directory: dir.path).status == 0)
        let envelope = try BundleArchive.open(dir.file("b.otab")).envelope
        try dir.write("pae.bin", envelope.pae)
        try dir.write("sig.bin", envelope.signatures[0].sig)
        let result = try run("openssl", ["pkeyutl", "-verify", "-pubin", "-inkey", dir.file("k.pub"), "-rawin",
                                         "-in", dir.file("pae.bin"), "-sigfile", dir.file("sig.bin")])
        #expect(result.status == 0, "\(result)")
        #expect(result.stdout.contains("Signature Verified Successfully"))
        // And a changed byte does not verify.
        var pae = envelope.pae
        pae[pae.count - 2] ^= 1
        try dir.write("pae.bin", pae)
        let tampered = try run("openssl", ["pkeyutl", "-verify", "-pubin", "-inkey", dir.file("k.pub"), "-rawin",
                                           "-in", dir.file("pae.bin"), "-sigfile", dir.file("sig.bin")])
        #expect(tampered.status != 0)
    }

    @Test("A key from openssl genpkey signs a bundle that otactl bundle verify accepts")
    func opensslKeySignsBundles() throws {
        try dir.write("model/w.bin", [4, 5, 6])
        #expect(try run("openssl", ["genpkey", "-algorithm", "ed25519", "-out", dir.file("o.key")]).status == 0)
        #expect(try run("openssl", ["pkey", "-in", dir.file("o.key"), "-pubout", "-out", dir.file("o.pub")]).status == 0)
        #expect(try otactl(["trust", "init", "--key", "o.pub", "--out", "trust.json"], directory: dir.path).status == 0)
        let created = try otactl(["bundle", "create", "model", "--name", "m", "--version", "2.0.0-rc.1", "--kind", "model",
                                  "--compatible", "hw", "--key", "o.key", "-o", "b.otab"], directory: dir.path)
        #expect(created.status == 0, "\(created)")
        let verify = try otactl(["bundle", "verify", "b.otab", "--trust", "trust.json"], directory: dir.path)
        #expect(verify.status == 0, "\(verify)")
    }
}

@Suite("otactl output")
struct OutputTests {
    @Test("otactl prints for people only through say(), which escapes what devices and servers wrote")
    func noRawPrint() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let sources = root.appendingPathComponent("Sources/otactl").path
        var offenders: [String] = []
        for file in try FileManager.default.subpathsOfDirectory(atPath: sources) where file.hasSuffix(".swift") {
            let text = try String(contentsOfFile: sources + "/" + file, encoding: .utf8)
            for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                let code = line.trimmingCharacters(in: .whitespaces)
                guard !code.hasPrefix("//") else { continue }
                if code.range(of: #"(^|[^.\w])print\("#, options: .regularExpression) != nil { offenders.append("\(file):\(index + 1)") }
                // Standard output bypassing say() is for JSON and the screen clear of --watch only.
                if code.contains("Swift.print(") && !code.contains("TerminalText.escape") && !code.contains("decoding: data") && !code.contains("[2J") {
                    offenders.append("\(file):\(index + 1)")
                }
            }
        }
        #expect(offenders.isEmpty, "\(offenders)")
    }
}
