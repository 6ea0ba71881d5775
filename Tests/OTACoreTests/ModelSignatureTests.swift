import Foundation
import OTACore
import TestSupport
import Testing

/// The model team's signature, made by the real OpenSSF `model_signing` tool over a real
/// folder, checked against a manifest of that folder as a bundle lists it.
@Suite("Model signatures (OpenSSF model-signing)")
struct ModelSignatureTests {
    let dir = TemporaryDirectory("ota-model-signing")
    var tool: ModelSigningTool { ModelSigningTool(dir) }
    static let files: [String: [UInt8]] = ["model.onnx": Array("weights".utf8), "labels.txt": Array("0\n1\n".utf8), "sub/tokenizer.bin": [0, 1, 2]]

    /// A model folder signed with a fresh key on `curve`; the signer's public PEM.
    func signedModel(_ name: String = "model", curve: String = "prime256v1", files: [String: [UInt8]] = files) throws -> (folder: String, signer: String) {
        for (path, bytes) in files { try dir.write("\(name)/\(path)", bytes) }
        let key = try tool.key("\(name)-key", curve: curve)
        try tool.sign(dir.file(name), with: key.privateKey)
        return (dir.file(name), key.publicPEM)
    }

    /// The manifest a bundle of `folder` lists (without variants), every file as it is now.
    func manifest(of folder: String, name: BundleName = "digits") throws -> Manifest {
        let entries = try BundleWriter.payloadFiles(in: folder).map { path in
            Manifest.FileEntry(path: path, size: FileSystem.fileSize(folder + "/" + path.value) ?? 0,
                               sha256: try SHA256Digest.ofFile(at: folder + "/" + path.value))
        }
        return Manifest(name: name, kind: .model, version: try SemanticVersion("1.0.0"), compatible: ["hw"], created: "2026-12-01T00:00:00Z", files: entries)
    }

    func check(_ folder: String, signers: [String], bundles: [BundleName] = ["digits"]) throws {
        let policy = try ModelSigningPolicy(signers: Dictionary(uniqueKeysWithValues: signers.enumerated().map { ("team-\($0.offset)", $0.element) }),
                                            bundles: bundles)
        let path = folder + "/" + ModelSignature.fileName
        try policy.check(try manifest(of: folder), signature: FileSystem.exists(path) ? try FileSystem.readFile(path) : nil)
    }

    func refusal(_ body: () throws -> Void) -> ModelSignatureError? {
        do { try body() } catch let error as ModelSignatureError { return error } catch { Issue.record("unexpected \(error)") }
        return nil
    }

    @Test("A signature by a named signer over exactly these files holds, on P-256, P-384 and P-521", arguments: ["prime256v1", "secp384r1", "secp521r1"])
    func goodSignature(curve: String) throws {
        let (folder, signer) = try signedModel(curve: curve)
        try check(folder, signers: [signer])
        // Among several signers, any one will do.
        try check(folder, signers: [try tool.key("other").publicPEM, signer])
    }

    @Test("A file changed after signing is refused, naming it")
    func changedFile() throws {
        let (folder, signer) = try signedModel()
        try dir.write("model/model.onnx", Array("poisoned".utf8))
        #expect(refusal { try check(folder, signers: [signer]) } == .changed("model.onnx"))
    }

    @Test("A file added after signing is refused, naming it")
    func addedFile() throws {
        let (folder, signer) = try signedModel()
        try dir.write("model/backdoor.py", Array("import os".utf8))
        #expect(refusal { try check(folder, signers: [signer]) } == .unsigned("backdoor.py"))
    }

    @Test("A signed file missing from the bundle is refused, naming it")
    func missingFile() throws {
        let (folder, signer) = try signedModel()
        try FileSystem.remove(folder + "/sub/tokenizer.bin")
        #expect(refusal { try check(folder, signers: [signer]) } == .missing("sub/tokenizer.bin"))
    }

    @Test("A signer the root does not name is refused")
    func unknownSigner() throws {
        let (folder, _) = try signedModel()
        #expect(refusal { try check(folder, signers: [try tool.key("stranger").publicPEM]) } == .untrusted)
    }

    @Test("A required signature that is absent is refused; a bundle the root does not name needs none")
    func absentSignature() throws {
        for (path, bytes) in Self.files { try dir.write("plain/\(path)", bytes) }
        let signer = try tool.key("team").publicPEM
        #expect(refusal { try check(dir.file("plain"), signers: [signer]) } == .absent("the bundle"))
        try check(dir.file("plain"), signers: [signer], bundles: ["another-model"])
    }

    @Test("A malformed or unsupported signature file is refused with the reason", arguments: [
        ("not json", "malformed"),
        (#"{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","verificationMaterial":{"publicKey":{"hint":"x"}}}"#, "no DSSE envelope"),
        (#"{"mediaType":"text/plain","verificationMaterial":{},"dsseEnvelope":{"payload":"","payloadType":"","signatures":[]}}"#, "not a Sigstore bundle"),
        (#"{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","verificationMaterial":{"certificate":{"rawBytes":"AA=="}},"dsseEnvelope":{"payload":"e30=","payloadType":"application/vnd.in-toto+json","signatures":[{"sig":"AA=="}]}}"#, "certificate or keyless"),
        (#"{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","verificationMaterial":{"publicKey":{}},"dsseEnvelope":{"payload":"e30=","payloadType":"application/json","signatures":[{"sig":"AA=="}]}}"#, "not an in-toto statement"),
        (#"{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","verificationMaterial":{"publicKey":{}},"dsseEnvelope":{"payload":"e30=","payloadType":"application/vnd.in-toto+json","signatures":[]}}"#, "exactly one"),
    ])
    func malformed(text: String, reason: String) throws {
        let (folder, signer) = try signedModel()
        try FileSystem.writeAtomically(Array(text.utf8), to: folder + "/" + ModelSignature.fileName)
        let error = refusal { try check(folder, signers: [signer]) }
        #expect(error.map { "\($0)".contains(reason) } == true, "\(String(describing: error))")
    }

    @Test("A signature whose signed statement was altered (a digest swapped) no longer verifies")
    func alteredStatement() throws {
        let (folder, signer) = try signedModel()
        let path = folder + "/" + ModelSignature.fileName
        var object = try #require(try JSONSerialization.jsonObject(with: Data(try FileSystem.readFile(path))) as? [String: Any])
        var envelope = try #require(object["dsseEnvelope"] as? [String: Any])
        let encoded = try #require(envelope["payload"] as? String)
        let payload = try #require(Data(base64Encoded: encoded))
        let changed = String(decoding: payload, as: UTF8.self).replacingOccurrences(of: "\"sha256\"", with: "\"sha256\" ")
        envelope["payload"] = Data(changed.utf8).base64EncodedString()
        object["dsseEnvelope"] = envelope
        try FileSystem.writeAtomically(Array(try JSONSerialization.data(withJSONObject: object)), to: path)
        #expect(refusal { try check(folder, signers: [signer]) } == .untrusted)
    }

    @Test("The root's policy refuses what it cannot hold: no signer, a key that is not ECDSA, a bundle named twice")
    func policyRules() throws {
        let pem = try tool.key("team").publicPEM
        #expect(throws: (any Error).self) { try ModelSigningPolicy(signers: [:], bundles: ["digits"]) }
        #expect(throws: (any Error).self) { try ModelSigningPolicy(signers: ["team": try Ed25519PrivateKey.generate().publicKey.pem], bundles: []) }
        #expect(throws: (any Error).self) { try ModelSigningPolicy(signers: ["team": pem], bundles: ["digits", "digits"]) }
        // A curve as long as P-256 but not it, and a file of two keys.
        let k1 = dir.file("k1.pem")
        _ = try run("/usr/bin/openssl", ["ecparam", "-name", "secp256k1", "-genkey", "-noout", "-out", k1])
        let k1Public = try run("/usr/bin/openssl", ["ec", "-in", k1, "-pubout"]).stdout
        #expect(throws: (any Error).self) { try ModelSigningPolicy(signers: ["team": k1Public], bundles: []) }
        #expect(throws: (any Error).self) { try ModelSigningPolicy(signers: ["team": pem + pem], bundles: []) }
        let policy = try ModelSigningPolicy(signers: ["team": pem], bundles: ["digits"])
        #expect(try StrictJSON.decode(ModelSigningPolicy.self, from: try StrictJSON.encode(policy), what: "policy") == policy)
    }
}
