import Foundation
import OTACore
import TestSupport
import Testing

@Suite("Bundle files")
struct BundleTests {
    let dir = TemporaryDirectory()
    let key: Ed25519PrivateKey
    let trust: TrustRoot

    init() throws {
        key = try Ed25519PrivateKey.generate()
        trust = try TrustRoot(keys: [key.publicKey], threshold: 1)
        try dir.write("src/model.onnx", (0..<5000).map { UInt8(truncatingIfNeeded: $0) })
        try dir.write("src/labels.txt", "0\n1\n2\n")
        try dir.write("src/selftest/check.sh", "#!/bin/sh\nexit 0\n")
    }

    func options(version: String = "1.0.0") throws -> BundleWriter.Options {
        .init(name: "digits", version: try SemanticVersion(version), kind: "model", compatible: ["rpi4"],
              metadata: .object(["framework": .string("onnx")]), healthCommand: "selftest/check.sh")
    }

    func makeBundle(_ name: String = "b.otab") throws -> String {
        let output = dir.file(name)
        try BundleWriter.create(from: dir.file("src"), options: try options(), key: key, output: output)
        return output
    }

    /// Byte offset of the first occurrence of `needle` in the file.
    func offset(of needle: [UInt8], in path: String) throws -> Int {
        let bytes = try FileSystem.readFile(path, limit: 1 << 24)
        for i in 0...(bytes.count - needle.count) where Array(bytes[i..<i + needle.count]) == needle { return i }
        Issue.record("needle not found")
        return 0
    }

    func flipByte(at index: Int, in path: String) throws {
        var bytes = try FileSystem.readFile(path, limit: 1 << 24)
        bytes[index] ^= 0x01
        try FileSystem.writeAtomically(bytes, to: path)
    }

    @Test("A created bundle verifies, lists every file with size and hash, and is a tar")
    func createAndVerify() throws {
        let path = try makeBundle()
        let archive = try BundleArchive.open(path)
        let verified = try archive.verify(trust: trust)
        #expect(verified.manifest.files.map(\.path.value) == ["labels.txt", "model.onnx", "selftest/check.sh"])
        #expect(verified.manifest.files[1].size == 5000)
        #expect(verified.manifest.files[1].sha256 == (try SHA256Digest.ofFile(at: dir.file("src/model.onnx"))))
        #expect(verified.signers == [key.publicKey.keyID])
        let listing = try run("tar", ["-tvf", path])
        #expect(listing.stdout.contains("bundle.dsse.json"))
        #expect(listing.stdout.contains("-rwxr-xr-x") && listing.stdout.contains("files/selftest/check.sh"))
    }

    @Test("One flipped payload byte is refused naming the file")
    func tamperedPayload() throws {
        let path = try makeBundle()
        try flipByte(at: try offset(of: Array("0\n1\n2".utf8), in: path), in: path)
        let message = errorText { _ = try BundleArchive.open(path).verify(trust: trust) }
        #expect(message == "'labels.txt' does not match its SHA-256 in the signed manifest (tampered or corrupt)")
    }

    @Test("A changed manifest byte is refused as a signature mismatch")
    func tamperedManifest() throws {
        let path = try makeBundle()
        let archive = try BundleArchive.open(path)
        var envelope = archive.envelope
        envelope.payload = Array(String(decoding: envelope.payload, as: UTF8.self).replacing("\"1.0.0\"", with: "\"9.0.0\"").utf8)
        let rewritten = try rewrite(path, envelope: envelope)
        let message = errorText { _ = try BundleArchive.open(rewritten).verify(trust: trust) }
        #expect(message?.contains("does not match the manifest (changed after signing?)") == true)
    }

    /// The same archive with another envelope (and intact payload).
    func rewrite(_ path: String, envelope: Envelope, extraFiles: [(String, [UInt8])] = [], dropping: String? = nil) throws -> String {
        let archive = try BundleArchive.open(path)
        var tar = RawTar()
        tar.file(BundleArchive.envelopeEntry, try envelope.encoded())
        for entry in archive.entries where entry.path.value != dropping {
            var data: [UInt8] = []
            try archive.forEachChunk(of: entry) { data += $0 }
            tar.file(BundleArchive.payloadPrefix + entry.path.value, data)
        }
        for (name, data) in extraFiles { tar.file(name, data) }
        tar.end()
        return try dir.write("rewritten-\(Hex.encode(SecureRandom.bytes(4))).otab", tar.bytes)
    }

    @Test("Only a trusted key's signature counts")
    func untrustedSigner() throws {
        let path = try makeBundle()
        let other = try TrustRoot(keys: [try Ed25519PrivateKey.generate().publicKey], threshold: 1)
        let message = errorText { _ = try BundleArchive.open(path).verify(trust: other) }
        #expect(message?.contains("which the trust root does not list") == true)
    }

    @Test("A 2-of-2 trust root refuses one signature and accepts after co-signing; the manifest is unchanged")
    func cosignMeetsThreshold() throws {
        let path = try makeBundle()
        let second = try Ed25519PrivateKey.generate()
        let root = try TrustRoot(keys: [key.publicKey, second.publicKey], threshold: 2)
        #expect(errorText { _ = try BundleArchive.open(path).verify(trust: root) }?.contains("1 valid signature from trusted keys, 2 required") == true)
        let before = try BundleArchive.open(path).envelope.payload
        try BundleWriter.cosign(path, key: second)
        let after = try BundleArchive.open(path)
        #expect(after.envelope.payload == before)
        #expect(after.envelope.signatures.count == 2)
        #expect(try after.verify(trust: root).signers.count == 2)
        // Signing again with the same key replaces its signature instead of adding one.
        try BundleWriter.cosign(path, key: second)
        #expect(try BundleArchive.open(path).envelope.signatures.count == 2)
    }

    @Test("Co-signing a corrupted bundle is refused and leaves it as it was")
    func cosignRefusesCorruptBundle() throws {
        let path = try makeBundle()
        try flipByte(at: try offset(of: Array("0\n1\n2".utf8), in: path), in: path)
        let before = try FileSystem.readFile(path, limit: 1 << 24)
        #expect(throws: BundleError.hashMismatch("labels.txt")) { try BundleWriter.cosign(path, key: try Ed25519PrivateKey.generate()) }
        #expect(try FileSystem.readFile(path, limit: 1 << 24) == before)
    }

    @Test("Files the manifest does not list, or missing files, are refused")
    func extraAndMissingFiles() throws {
        let path = try makeBundle()
        let envelope = try BundleArchive.open(path).envelope
        let extra = try rewrite(path, envelope: envelope, extraFiles: [("files/backdoor.sh", [1])])
        #expect(errorText { _ = try BundleArchive.open(extra).verify(trust: trust) } == "the bundle contains 'backdoor.sh', which the signed manifest does not list")
        let missing = try rewrite(path, envelope: envelope, dropping: "labels.txt")
        #expect(errorText { _ = try BundleArchive.open(missing).verify(trust: trust) } == "the manifest lists 'labels.txt' but the bundle does not contain it")
        let outside = try rewrite(path, envelope: envelope, extraFiles: [("etc/passwd", [1])])
        #expect(errorText { _ = try BundleArchive.open(outside) } == "not a bundle: entry 'etc/passwd' is outside 'files/'")
    }

    @Test("A payload entry whose size disagrees with the manifest is refused")
    func sizeDisagreement() throws {
        let path = try makeBundle()
        let archive = try BundleArchive.open(path)
        var tar = RawTar()
        tar.file(BundleArchive.envelopeEntry, try archive.envelope.encoded())
        for entry in archive.entries {
            var data: [UInt8] = []
            try archive.forEachChunk(of: entry) { data += $0 }
            if entry.path.value == "labels.txt" { data += [0x0a] }
            tar.file("files/" + entry.path.value, data)
        }
        tar.end()
        let bad = try dir.write("size.otab", tar.bytes)
        #expect(errorText { _ = try BundleArchive.open(bad).verify(trust: trust) } == "'labels.txt' is 7 bytes in the bundle but 6 bytes in the manifest")
    }

    @Test("The envelope must be the first entry")
    func envelopeFirst() throws {
        var tar = RawTar()
        tar.file("files/a", [1])
        tar.end()
        let path = try dir.write("first.otab", tar.bytes)
        #expect(errorText { _ = try BundleArchive.open(path) } == "not a bundle: the first entry is 'files/a', expected 'bundle.dsse.json'")
    }

    @Test("Symbolic links and FIFOs in the source folder are refused and nothing is written")
    func refusesSpecialSourceFiles() throws {
        symlink("/etc/passwd", dir.file("src/passwd"))
        let output = dir.file("out/x.otab")
        try FileSystem.createDirectory(dir.file("out"))
        #expect(errorText { try BundleWriter.create(from: dir.file("src"), options: try options(), key: key, output: output) }
                == "'passwd' is a symbolic link; bundles carry regular files only")
        unlink(dir.file("src/passwd"))
        mkfifo(dir.file("src/pipe"), 0o644)
        #expect(errorText { try BundleWriter.create(from: dir.file("src"), options: try options(), key: key, output: output) }?
                .contains("special file") == true)
        #expect(try FileSystem.list(dir.file("out")).isEmpty)
    }

    @Test("An invalid name cannot even be made; a missing health command is refused before anything is written")
    func refusesInvalidOptions() throws {
        #expect(BundleName(rawValue: "../x") == nil)
        let output = dir.file("x.otab")
        var bad = try options()
        bad.healthCommand = "nope.sh"
        #expect(errorText { try BundleWriter.create(from: dir.file("src"), options: bad, key: key, output: output) }?.contains("is not one of the bundle's files") == true)
        #expect(!FileSystem.exists(output))
    }
}
