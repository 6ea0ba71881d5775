import Foundation
import OTACore
import TestSupport
import Testing

@Suite("Hashes, keys and signatures")
struct CryptoTests {
    @Test("SHA-256 matches the FIPS 180-2 test vector, in memory and streamed from a file")
    func sha256KnownVector() throws {
        let expected = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        #expect(SHA256Digest.of(Array("abc".utf8)).hex == expected)
        let dir = TemporaryDirectory()
        let path = try dir.write("abc.txt", "abc")
        #expect(try SHA256Digest.ofFile(at: path).hex == expected)
    }

    @Test("Streams a multi-megabyte file to the same digest as hashing it in memory")
    func sha256StreamsLargeFiles() throws {
        let dir = TemporaryDirectory()
        let bytes = (0..<(3 << 20) + 17).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let path = try dir.write("big.bin", bytes)
        #expect(try SHA256Digest.ofFile(at: path) == SHA256Digest.of(bytes))
    }

    @Test("Digests parse only as 64 lowercase hex characters")
    func digestParsing() {
        #expect(SHA256Digest(hex: String(repeating: "a", count: 64)) != nil)
        #expect(SHA256Digest(hex: String(repeating: "A", count: 64)) == nil)
        #expect(SHA256Digest(hex: String(repeating: "a", count: 63)) == nil)
        #expect(SHA256Digest(hex: String(repeating: "g", count: 64)) == nil)
    }

    @Test("Ed25519 signatures verify, and fail for another message or another key")
    func signAndVerify() throws {
        let key = try Ed25519PrivateKey.generate()
        let other = try Ed25519PrivateKey.generate()
        let message = Array("hello".utf8)
        let signature = try key.sign(message)
        #expect(signature.count == 64)
        #expect(key.publicKey.isValidSignature(signature, for: message))
        #expect(!key.publicKey.isValidSignature(signature, for: Array("hellO".utf8)))
        #expect(!other.publicKey.isValidSignature(signature, for: message))
        var flipped = signature
        flipped[10] ^= 1
        #expect(!key.publicKey.isValidSignature(flipped, for: message))
    }

    @Test("The key id is the hex SHA-256 of the raw 32-byte public key")
    func keyID() throws {
        let key = try Ed25519PrivateKey.generate()
        #expect(key.publicKey.raw.count == 32)
        #expect(key.publicKey.keyID == SHA256Digest.of(key.publicKey.raw).hex)
    }

    @Test("Private keys are written as PKCS#8 PEM with mode 0600 and never overwritten")
    func privateKeyFiles() throws {
        let dir = TemporaryDirectory()
        let key = try Ed25519PrivateKey.generate()
        let path = dir.file("k.key")
        try KeyFiles.writePrivateKey(key, to: path)
        let text = try FileSystem.readText(path)
        // The PKCS#8 PEM header, spelled in two parts so that secret scanners do not take this test for a key.
        #expect(text.hasPrefix("-----BEGIN " + "PRIVATE KEY-----"))
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
        let reloaded = try KeyFiles.loadPrivateKey(path)
        #expect(reloaded.publicKey == key.publicKey)
        #expect(throws: FileError.self) { try KeyFiles.writePrivateKey(try Ed25519PrivateKey.generate(), to: path) }
        #expect(try KeyFiles.loadPrivateKey(path).publicKey == key.publicKey)
    }

    @Test("Public keys round-trip through SPKI PEM")
    func publicKeyPEM() throws {
        let key = try Ed25519PrivateKey.generate().publicKey
        #expect(key.pem.hasPrefix("-----BEGIN PUBLIC KEY-----"))
        #expect(try Ed25519PublicKey(pem: key.pem) == key)
    }

    @Test("Non-PEM and non-Ed25519 keys are refused with a clear message")
    func rejectsOtherKeys() throws {
        #expect(errorText { _ = try Ed25519PublicKey(pem: "hello", source: "x.pub") } == "x.pub is not a PEM-encoded key")
        let rsa = try run("openssl", ["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:1024"])
        #expect(rsa.status == 0)
        #expect(errorText { _ = try Ed25519PrivateKey(pem: rsa.stdout, source: "rsa.key") } == "rsa.key is not an Ed25519 key (only Ed25519 is supported)")
    }
}

@Suite("DSSE envelopes and trust roots")
struct EnvelopeTests {
    @Test("PAE matches the DSSE specification's example")
    func paeMatchesSpec() {
        let pae = Envelope.pae(payloadType: "http://example.com/HelloWorld", payload: Array("hello world".utf8))
        #expect(String(decoding: pae, as: UTF8.self) == "DSSEv1 29 http://example.com/HelloWorld 11 hello world")
    }

    @Test("Envelopes round-trip through JSON with base64 payload and signatures")
    func envelopeRoundTrip() throws {
        let key = try Ed25519PrivateKey.generate()
        var envelope = Envelope(payloadType: Envelope.manifestPayloadType, payload: Array("{}".utf8))
        try envelope.sign(with: key)
        let decoded = try Envelope.decode(try envelope.encoded())
        #expect(decoded == envelope)
        let json = String(decoding: try envelope.encoded(), as: UTF8.self)
        #expect(json.contains("\"payload\":\"e30=\""))
    }

    @Test("Malformed envelopes are refused naming the problem")
    func rejectsMalformedEnvelopes() {
        func problem(_ json: String) -> String? { errorText { _ = try Envelope.decode(Array(json.utf8)) } }
        #expect(problem("{not json") == "envelope: malformed JSON")
        #expect(problem(#"{"payloadType":"t","signatures":[]}"#) == "envelope: missing field 'payload'")
        #expect(problem(#"{"payloadType":"t","payload":"%%%","signatures":[]}"#) == "envelope: field 'payload': is not valid base64")
        #expect(problem(#"{"payloadType":"t","payload":"","signatures":[],"extra":1}"#) == "envelope: unknown field 'extra'")
        #expect(problem(#"{"payloadType":"t","payload":"","signatures":[{"keyid":"a"}]}"#) == "envelope: missing field 'signatures[0].sig'")
    }

    func manifestEnvelope(signedBy keys: [Ed25519PrivateKey]) throws -> Envelope {
        let manifest = Manifest(name: "m", kind: "model", version: try SemanticVersion("1.0.0"), compatible: ["hw"],
                                created: "2026-11-29T02:00:00Z",
                                files: [.init(path: try PayloadPath("a"), size: 1, sha256: SHA256Digest.of([1]))])
        var envelope = Envelope(payloadType: Envelope.manifestPayloadType, payload: try manifest.encoded())
        for key in keys { try envelope.sign(with: key) }
        return envelope
    }

    @Test("A threshold of 2 needs two distinct trusted keys; unknown keys are ignored")
    func thresholdCountsDistinctTrustedKeys() throws {
        let a = try Ed25519PrivateKey.generate(), b = try Ed25519PrivateKey.generate(), stranger = try Ed25519PrivateKey.generate()
        let root = try TrustRoot(keys: [a.publicKey, b.publicKey], threshold: 2)
        let both = try root.verify(try manifestEnvelope(signedBy: [stranger, a, b]))
        #expect(both.signers == [a.publicKey.keyID, b.publicKey.keyID].sorted())

        // The same key's signature twice counts once.
        var twice = try manifestEnvelope(signedBy: [a])
        twice.signatures.append(twice.signatures[0])
        #expect(throws: TrustError.self) { try root.verify(twice) }
        let message = errorText { _ = try root.verify(try manifestEnvelope(signedBy: [a, stranger])) }
        #expect(message?.contains("1 valid signature from trusted keys, 2 required") == true)
        #expect(message?.contains("which the trust root does not list") == true)
    }

    @Test("A signature by an untrusted key alone is refused")
    func untrustedKeyRefused() throws {
        let trusted = try Ed25519PrivateKey.generate(), stranger = try Ed25519PrivateKey.generate()
        let root = try TrustRoot(keys: [trusted.publicKey], threshold: 1)
        let message = errorText { _ = try root.verify(try manifestEnvelope(signedBy: [stranger])) }
        #expect(message?.contains("signed by key \(stranger.publicKey.keyID.prefix(16)), which the trust root does not list") == true)
    }

    @Test("A manifest changed after signing is refused")
    func tamperedManifestRefused() throws {
        let key = try Ed25519PrivateKey.generate()
        let root = try TrustRoot(keys: [key.publicKey], threshold: 1)
        var envelope = try manifestEnvelope(signedBy: [key])
        envelope.payload = Array(String(decoding: envelope.payload, as: UTF8.self).replacing("1.0.0", with: "9.0.0").utf8)
        let message = errorText { _ = try root.verify(envelope) }
        #expect(message?.contains("does not match the manifest (changed after signing?)") == true)
    }

    @Test("A wrong payloadType is refused before any signature is checked")
    func wrongPayloadType() throws {
        let key = try Ed25519PrivateKey.generate()
        let root = try TrustRoot(keys: [key.publicKey], threshold: 1)
        var envelope = try manifestEnvelope(signedBy: [])
        envelope.payloadType = "application/json"
        try envelope.sign(with: key)
        #expect(errorText { _ = try root.verify(envelope) } == "envelope payloadType is 'application/json', expected 'application/vnd.ota.manifest.v1+json'")
    }

    @Test("Trust roots with a mismatched key id, a duplicate key or a bad threshold are refused")
    func invalidTrustRoots() throws {
        let dir = TemporaryDirectory()
        let key = try Ed25519PrivateKey.generate().publicKey
        #expect(throws: TrustError.self) { _ = try TrustRoot(keys: [key], threshold: 2) }
        #expect(throws: TrustError.self) { _ = try TrustRoot(keys: [key, key], threshold: 1) }
        var root = try TrustRoot(keys: [key], threshold: 1)
        root.keys[0].keyid = String(repeating: "0", count: 64)
        let path = try dir.write("trust.json", try root.encoded())
        #expect(errorText { _ = try TrustRoot.load(from: path) }?.contains("does not match its public key") == true)
        try dir.write("bad.json", "{\"version\":1,\"threshold\":1}")
        #expect(errorText { _ = try TrustRoot.load(from: dir.file("bad.json")) }?.contains("missing field 'keys'") == true)
    }
}
