import OTACore
import PropertyBased
import TestSupport
import Testing

/// The server writes check-in answers as bytes (`CheckinAnswerWriter`) and devices read them
/// with `CheckinAnswer`: what one writes, the other must read back exactly, signed or not.
@Suite("Check-in answers: written as bytes, read back whole")
struct CheckinAnswerWriterTests {
    static func assignment(_ index: Int, key: Ed25519PrivateKey) throws -> DeviceAPI.Assignment {
        let bundle = try TestBundle(BundleName(checked: "model-\(index)"), SemanticVersion(stringLiteral: "1.\(index).0"),
                                    files: ["w": [UInt8(index & 0xff)]], signer: key)
        return DeviceAPI.Assignment(deploymentID: DeploymentID(checked: "dep_\(index)"), name: bundle.manifest.name, version: bundle.manifest.version,
                                    digest: bundle.digest, envelope: bundle.envelope,
                                    shadow: index % 2 == 0 ? nil : ShadowPolicy(minSamples: 10, maxSeconds: 600, sampleShare: 0.5, gates: ShadowPolicy.defaultGates))
    }

    @Test("Any number of assignments, content hosts and a poll interval read back as written, plain and signed")
    func roundTrip() async throws {
        let key = try Ed25519PrivateKey.generate()
        let keys = try TUFKeys(release: key)
        let root = keys.root(version: 1)
        let hosts = Gen<Character?>.element(of: Array("abcdefghij.-")).map { $0 ?? "a" }.string(of: 1...20).map { "h" + $0 }.array(of: 0...4)
        await propertyCheck(count: 30, input: Gen.int(in: 0...6), hosts, Gen.int(in: 1...86_400)) { count, hosts, interval in
            do {
                let assignments = try (0..<count).map { try Self.assignment($0, key: key) }
                let writer = try CheckinAnswerWriter(pollIntervalSeconds: interval, contentHosts: hosts)
                let plain = writer.plain(try assignments.map(CheckinAnswerWriter.encode))
                let expected = DeviceAPI.CheckinResponse(pollIntervalSeconds: interval, assignments: assignments,
                                                         contentHosts: hosts.isEmpty ? nil : hosts.filter(ContentHost.isValid))
                guard case .unsigned(let read) = try CheckinAnswer(body: plain.bytes).form else { Issue.record("not read as plain"); return }
                #expect(read == expected)
                let nonce = String(repeating: "ab", count: 16)
                let signed = try CheckinAnswerWriter.signed(plain, deviceID: "dev-1", nonce: nonce, issued: "2026-12-01T00:00:00Z",
                                                            signers: [.init(keyid: keys.online.publicKey.tufKeyID, key: keys.online)], metadata: nil)
                guard case .signed(let envelope, _) = try CheckinAnswer(body: signed).form else { Issue.record("not read as signed"); return }
                let opened = try CheckinAnswer.open(envelope, under: root, deviceID: "dev-1", nonce: nonce)
                #expect(opened.response == expected)
                #expect(opened.issued == Timestamp("2026-12-01T00:00:00Z").secondsSinceEpoch)
                #expect(throws: CheckinAnswer.Refusal.self) { try CheckinAnswer.open(envelope, under: root, deviceID: "dev-2", nonce: nonce) }
            } catch { Issue.record("\(error)") }
        }
    }

    @Test("A device id or nonce with characters JSON must escape is written escaped, and read back the same")
    func escaping() throws {
        var bytes: [UInt8] = []
        CheckinAnswerWriter.appendString("a\"b\\c\u{1}\n", to: &bytes)
        #expect(String(decoding: bytes, as: UTF8.self) == #""a\"b\\c\u0001\u000a""#)
        #expect(try StrictJSON.decode(String.self, from: bytes, what: "string") == "a\"b\\c\u{1}\n")
    }
}
