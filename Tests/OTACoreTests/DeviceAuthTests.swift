import OTACore
import Testing

@Suite("Device proofs and request signatures")
struct DeviceAuthTests {
    @Test("A request signature verifies only for its method, path, body digest and key")
    func signatureCovers() throws {
        let key = SecureRandom.bytes(32)
        let body = Array(#"{"installed":[]}"#.utf8)
        let headers = RequestSignature.headers(method: "POST", path: "/api/v1/device/checkin", body: body, sessionID: "s1:dev:abc", key: key,
                                               created: 1_764_547_200)
        #expect(headers["Signature-Input"] == #"ota=("@method" "@path" "content-digest");created=1764547200;keyid="s1:dev:abc";alg="hmac-sha256""#)
        let received = try #require(RequestSignature.Received(signatureInput: headers["Signature-Input"], signature: headers["Signature"]))
        #expect(received.keyID == "s1:dev:abc" && received.created == 1_764_547_200)
        let digest = RequestSignature.contentDigest(body)
        #expect(headers["Content-Digest"] == digest)
        #expect(received.verifies(method: "POST", path: "/api/v1/device/checkin", contentDigest: digest, key: key))
        #expect(!received.verifies(method: "GET", path: "/api/v1/device/checkin", contentDigest: digest, key: key))
        #expect(!received.verifies(method: "POST", path: "/api/v1/device/events", contentDigest: digest, key: key))
        #expect(!received.verifies(method: "POST", path: "/api/v1/device/checkin", contentDigest: RequestSignature.contentDigest([1]), key: key))
        #expect(!received.verifies(method: "POST", path: "/api/v1/device/checkin", contentDigest: digest, key: SecureRandom.bytes(32)))
    }

    @Test("Signature headers in any other form are refused before any MAC is computed",
          arguments: [
            (#"ota=("@method" "@path");created=1;keyid="k";alg="hmac-sha256""#, "ota=:AAAA:"),
            (#"ota=("@method" "@path" "content-digest");created=x;keyid="k";alg="hmac-sha256""#, "ota=:AAAA:"),
            (#"ota=("@method" "@path" "content-digest");created=1;keyid="k";alg="ed25519""#, "ota=:AAAA:"),
            (#"sig=("@method" "@path" "content-digest");created=1;keyid="k";alg="hmac-sha256""#, "sig=:AAAA:"),
            (#"ota=("@method" "@path" "content-digest");created=1;keyid="";alg="hmac-sha256""#, "ota=:AAAA:"),
            (#"ota=("@method" "@path" "content-digest");created=1;keyid="k";alg="hmac-sha256""#, "ota=:c2hvcnQ=:"),
          ])
    func malformedSignatures(input: String, signature: String) {
        #expect(RequestSignature.Received(signatureInput: input, signature: signature) == nil)
    }

    @Test("A proof verifies only for its purpose, device, key and time window")
    func proofs() throws {
        let key = try Ed25519PrivateKey.generate()
        let now: Int64 = 1_764_547_200
        let proof = try DeviceProof.sign(.session, deviceID: "cam-1", key: key, created: now)
        try DeviceProof.check(proof, .session, deviceID: "cam-1", publicKey: key.publicKey, now: now + 10)
        #expect(throws: DeviceProof.Problem.badSignature) { try DeviceProof.check(proof, .register, deviceID: "cam-1", publicKey: key.publicKey, now: now) }
        #expect(throws: DeviceProof.Problem.badSignature) { try DeviceProof.check(proof, .session, deviceID: "cam-2", publicKey: key.publicKey, now: now) }
        let other = try Ed25519PrivateKey.generate()
        #expect(throws: DeviceProof.Problem.badSignature) { try DeviceProof.check(proof, .session, deviceID: "cam-1", publicKey: other.publicKey, now: now) }
        #expect(throws: DeviceProof.Problem.stale(-301)) { try DeviceProof.check(proof, .session, deviceID: "cam-1", publicKey: key.publicKey, now: now + 301) }
        var bad = proof
        bad.nonce = "NOT-HEX-NOT-HEX-NOT"
        #expect(throws: DeviceProof.Problem.self) { try DeviceProof.check(bad, .session, deviceID: "cam-1", publicKey: key.publicKey, now: now) }
    }
}
