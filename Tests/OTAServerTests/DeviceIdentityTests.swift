import Foundation
import OTAClient
import OTACore
import TestSupport
import Testing

/// Devices are keys, and an attacker holding one device's config cannot become more devices,
/// other devices, or a device that chooses its own standing. Real server processes.
@Suite("Device identity and enrollment", .tags(.database))
struct DeviceIdentityTests {
    func register(_ server: TestServer, _ id: String, hardware: String = "test-hw", token: String?, key: Ed25519PrivateKey? = nil,
                  extraJSON: String = "") throws -> HTTPResult {
        let key = try key ?? Ed25519PrivateKey.generate()
        let proof = try DeviceProof.sign(.register, deviceID: DeviceID(checked: id), key: key)
        let tokenField = token.map { #""enrollment_token": "\#($0)", "# } ?? ""
        let body = #"{\#(tokenField)"device_id": "\#(id)", "hardware": "\#(hardware)", "public_key": "\#(Base64.encode(key.publicKey.raw))", "proof": {"created": \#(proof.created), "nonce": "\#(proof.nonce)", "signature": "\#(proof.signature)"}\#(extraJSON)}"#
        return try server.request("POST", DeviceAPI.registerPath, body: Array(body.utf8))
    }

    func code(_ result: HTTPResult) -> String? { (try? JSONDecoder().decode(APIErrorBody.self, from: Data(result.body)))?.error.code.rawValue }

    @Test("An enrollment token serves only its uses, and it, not the device, decides hardware, id prefix, tags and acceptance")
    func tokenDecides() throws {
        let server = try TestServer()
        let token = try #require(try server.admin(.operator).createEnrollmentToken(.init(
            maxUses: 2, tags: ["lab"], group: "line-1", hardware: "test-hw", idPrefix: "cam-")).token)
        #expect(try register(server, "other-1", token: token).status == 403)
        #expect(try register(server, "cam-9", hardware: "evil-hw", token: token).status == 403)
        let choosingTags = try register(server, "cam-8", token: token, extraJSON: #", "tags": ["canary"]"#)
        #expect(choosingTags.status == 400, "a device named its own tags: \(choosingTags)")
        let first = try register(server, "cam-1", token: token)
        #expect(first.status == 201 && String(decoding: first.body, as: UTF8.self).contains(#""status":"pending""#), "\(first)")
        #expect(try register(server, "cam-2", token: token).status == 201)
        let third = try register(server, "cam-3", token: token)
        #expect(third.status == 401 && String(decoding: third.body, as: UTF8.self).contains("used up"))
        let detail = try server.admin().device("cam-1").device
        #expect(detail.tags == ["lab"] && detail.group == "line-1" && detail.status == .pending)
        #expect(try server.admin().devices({ var q = AdminClient.DeviceQuery(); q.status = .pending; return q }()).devices.map(\.id) == ["cam-1", "cam-2"])
    }

    @Test("A pending device gets no session, assignment or content until an operator accepts it; a rejected one loses its session")
    func pendingWaitsForAcceptance() throws {
        let server = try TestServer()
        try server.publish(name: "m", version: "1.0.0", files: ["w": [1]])
        _ = try server.deploy("m", "1.0.0")
        let token = try #require(try server.admin(.operator).createEnrollmentToken(.init()).token)
        let device = try server.registerDevice("cam-1", enrollment: token)
        #expect(throws: HTTPClientError.self) { try device.checkin(.init(installed: [])) }
        do { _ = try device.openSession() } catch let HTTPClientError.status(status, code, _, _) {
            #expect(status == 403 && code == .devicePending)
        }
        #expect(try server.admin(.operator).setDeviceStatus("cam-1", .accept).status == .accepted)
        #expect(try device.checkin(.init(installed: [])).assignments.count == 1)
        _ = try server.admin(.operator).setDeviceStatus("cam-1", .reject)
        #expect(throws: HTTPClientError.self) { try device.checkin(.init(installed: [])) }
    }

    @Test("Forged, replayed, tampered, misdirected and stale requests are refused")
    func forgedRequestsRefused() throws {
        let server = try TestServer()
        let key = try Ed25519PrivateKey.generate()
        let device = try server.registerDevice("cam-1", key: key)
        let session = try device.openSession()
        let body = Array(#"{"installed":[]}"#.utf8)
        func send(_ path: String, _ body: [UInt8], _ headers: [String: String]) throws -> HTTPResult {
            try server.request("POST", path, headers: headers, body: body)
        }
        let signed = RequestSignature.headers(method: "POST", path: DeviceAPI.checkinPath, body: body, sessionID: session.id, key: session.key)
        #expect(try send(DeviceAPI.checkinPath, body, signed).status == 200)
        // The same signature over another body, another path, or without the digest.
        #expect(try send(DeviceAPI.checkinPath, Array(#"{"installed":[],"attributes":{"x":"y"}}"#.utf8), signed).status == 401)
        #expect(try send(DeviceAPI.eventsPath, body, signed).status == 401)
        #expect(try send(DeviceAPI.checkinPath, body, signed.filter { $0.key != "Content-Digest" }).status == 401)
        // A session key the device does not have, a session id forged for another device.
        let wrongKey = RequestSignature.headers(method: "POST", path: DeviceAPI.checkinPath, body: body, sessionID: session.id,
                                                key: SecureRandom.bytes(32))
        #expect(try send(DeviceAPI.checkinPath, body, wrongKey).status == 401)
        let other = try server.registerDevice("cam-2")
        _ = other
        let forgedID = session.id.replacingOccurrences(of: "s1:cam-1:", with: "s1:cam-2:")
        let forged = RequestSignature.headers(method: "POST", path: DeviceAPI.checkinPath, body: body, sessionID: forgedID, key: session.key)
        #expect(try send(DeviceAPI.checkinPath, body, forged).status == 401)
        // Signed long ago (a captured request replayed outside the window).
        let stale = RequestSignature.headers(method: "POST", path: DeviceAPI.checkinPath, body: body, sessionID: session.id, key: session.key,
                                             created: Timestamp.epochSeconds() - 600)
        let staleResult = try send(DeviceAPI.checkinPath, body, stale)
        #expect(staleResult.status == 401 && String(decoding: staleResult.body, as: UTF8.self).contains("check the device's clock"))
        // A session proof replayed, and one made for another purpose.
        let proof = try DeviceProof.sign(.session, deviceID: "cam-1", key: key)
        let request = try JSONEncoder().encode(DeviceAPI.SessionRequest(deviceID: "cam-1", proof: proof))
        #expect(try server.request("POST", DeviceAPI.sessionPath, body: Array(request)).status == 201)
        #expect(try server.request("POST", DeviceAPI.sessionPath, body: Array(request)).status == 401)
        let registerProof = try DeviceProof.sign(.register, deviceID: "cam-1", key: key)
        let misused = try JSONEncoder().encode(DeviceAPI.SessionRequest(deviceID: "cam-1", proof: registerProof))
        #expect(try server.request("POST", DeviceAPI.sessionPath, body: Array(misused)).status == 401)
        // A bearer token is no credential for a device with a key.
        #expect(try server.request("POST", DeviceAPI.checkinPath, token: "ota_dev_" + Hex.encode(SecureRandom.bytes(16)), body: body).status == 401)
    }

    @Test("A device's reports count only for itself: another device's session cannot be used or made")
    func reportsAreAttributable() throws {
        let server = try TestServer()
        try server.publish(name: "m", version: "1.0.0", files: ["w": [1]])
        let deployment = try server.deploy("m", "1.0.0")
        let victim = try server.registerDevice("victim")
        let attacker = try server.registerDevice("attacker")
        _ = try victim.checkin(.init(installed: []))
        _ = try attacker.checkin(.init(installed: []))
        try attacker.report([.init(deploymentID: deployment.id, bundleName: "m", version: "1.0.0", state: .failed, detail: "fake")])
        #expect(try server.admin().device("victim").events.isEmpty)
        #expect(try server.admin().device("attacker").events.count == 1)
        // The attacker cannot open the victim's session with its own key.
        let proof = try DeviceProof.sign(.session, deviceID: "victim", key: try Ed25519PrivateKey.generate())
        let request = try JSONEncoder().encode(DeviceAPI.SessionRequest(deviceID: "victim", proof: proof))
        #expect(try server.request("POST", DeviceAPI.sessionPath, body: Array(request)).status == 401)
    }

    @Test("A final outcome is written once: later contradicting reports stay in the history but change no count")
    func outcomesWrittenOnce() throws {
        let server = try TestServer()
        try server.publish(name: "m", version: "1.0.0", files: ["w": [1]])
        let deployment = try server.deploy("m", "1.0.0")
        let device = try server.registerDevice("cam-1")
        _ = try device.checkin(.init(installed: []))
        try device.report([.init(deploymentID: deployment.id, bundleName: "m", version: "1.0.0", state: .failed, detail: "really failed")])
        try device.report([.init(deploymentID: deployment.id, bundleName: "m", version: "1.0.0", state: .succeeded, detail: "fake success")])
        let counts = try server.admin().deployment(deployment.id).counts
        #expect(counts.failed == 1 && counts.succeeded == 0)
        #expect(try server.admin().device("cam-1").events.count == 2)
    }

    @Test("A pre-authorised device registers without a token and is accepted; another key under its id is refused")
    func preauthorisedDevices() throws {
        let server = try TestServer()
        let key = try Ed25519PrivateKey.generate()
        let dir = TemporaryDirectory("factory")
        let csv = try dir.write("factory.csv", "device_id,public_key,hardware,tags,group\nline-7,\(Base64.encode(key.publicKey.raw)),test-hw,lab;line,floor-2\n")
        let imported = try otactl(["devices", "import", csv, "--server", server.url, "--token", server.tokens[.operator]!])
        #expect(imported.status == 0 && imported.stdout.contains("pre-authorised 1 device"), "\(imported)")
        #expect(try register(server, "line-7", token: nil).status == 401, "a stranger's key was taken for a pre-authorised id")
        #expect(try register(server, "line-7", hardware: "other-hw", token: nil, key: key).status == 403)
        #expect(try register(server, "line-7", token: nil, key: key).status == 201)
        let device = try server.admin().device("line-7").device
        #expect(device.status == .accepted && device.tags == ["lab", "line"] && device.group == "floor-2")
        let broken = try dir.write("broken.csv", "device_id,public_key,hardware\nx-1,not-a-key,test-hw\n")
        let refused = try otactl(["devices", "import", broken, "--server", server.url, "--token", server.tokens[.operator]!])
        #expect(refused.status == 4 && refused.stderr.contains("public_key must be the base64"), "\(refused)")
    }

    @Test("otactl imports a factory list of agents and DDI devices, prints each DDI token once, and refuses a bad line before sending anything")
    func importsDDIDevices() throws {
        let server = try TestServer()
        let key = try Ed25519PrivateKey.generate()
        let dir = TemporaryDirectory("factory")
        let csv = try dir.write("factory.csv", """
            device_id,public_key,hardware,tags,group,protocol
            line-8,\(Base64.encode(key.publicKey.raw)),test-hw,,,
            gw-8,,gw-board,site-7,north,ddi

            """)
        let imported = try otactl(["devices", "import", csv, "--server", server.url, "--token", server.tokens[.operator]!, "--json"])
        #expect(imported.status == 0, "\(imported)")
        let answer = try StrictJSON.decode(AdminAPI.DeviceImportResponse.self, from: Array(imported.stdout.utf8), what: "import")
        let token = try #require(answer.ddiTokens?.first)
        #expect(answer.imported == 2 && answer.ddiTokens?.count == 1 && token.deviceID == "gw-8" && token.token.hasPrefix("ota_ddi_"))
        let gateway = try server.admin().device("gw-8").device
        #expect(gateway.protocol == .ddi && gateway.status == .accepted && gateway.tags == ["site-7"] && gateway.group == "north")
        #expect(try DDITestClient(server: server, id: "gw-8", token: token.token).send("GET", "").status == 200)

        let plain = try dir.write("more.csv", "device_id,public_key,hardware,tags,group,protocol\ngw-9,,gw-board,,,ddi\n")
        let printed = try otactl(["devices", "import", plain, "--server", server.url, "--token", server.tokens[.operator]!])
        #expect(printed.status == 0 && printed.stdout.contains("added 1 DDI device") && printed.stdout.contains("gw-9 ota_ddi_"), "\(printed)")

        for (line, says) in [("gw-10,\(Base64.encode(key.publicKey.raw)),gw-board,,,ddi", "a DDI device has no public_key"),
                             ("gw-10,,gw-board,,,hawkbit", "protocol must be agent or ddi"),
                             ("cam-10,,test-hw,,,", "needs its public_key")] {
            let bad = try dir.write("bad.csv", "device_id,public_key,hardware,tags,group,protocol\n\(line)\n")
            let refused = try otactl(["devices", "import", bad, "--server", server.url, "--token", server.tokens[.operator]!])
            #expect(refused.status != 0 && refused.stderr.contains("line 2") && refused.stderr.contains(says), "\(refused)")
        }
        #expect(try server.admin().devices(.init()).devices.map(\.id).sorted() == ["gw-8", "gw-9"], "line-8 is pre-authorised: a device once it registers")
    }

    @Test("Re-provisioning moves a device to a new key: its history stays, the old key stops working")
    func reprovisioningKeepsHistory() throws {
        let server = try TestServer()
        try server.publish(name: "m", version: "1.0.0", files: ["w": [1]])
        let deployment = try server.deploy("m", "1.0.0")
        let old = try server.registerDevice("cam-1")
        _ = try old.checkin(.init(installed: []))
        try old.report([.init(deploymentID: deployment.id, bundleName: "m", version: "1.0.0", state: .succeeded, detail: "ok")])
        let newKey = try Ed25519PrivateKey.generate()
        let dir = TemporaryDirectory("rekey")
        try KeyFiles.writePublicKey(newKey.publicKey, to: dir.file("new.pub"))
        let rekeyed = try otactl(["devices", "rekey", "cam-1", "--public-key", dir.file("new.pub"), "--server", server.url,
                                  "--token", server.tokens[.operator]!])
        #expect(rekeyed.status == 0, "\(rekeyed)")
        #expect(throws: HTTPClientError.self) { try old.checkin(.init(installed: [])) }
        let new = try DeviceClient(server.httpConfiguration(), credentials: .key(deviceID: "cam-1", key: newKey))
        _ = try new.checkin(.init(installed: []))
        let detail = try server.admin().device("cam-1")
        #expect(detail.events.count == 1 && detail.device.keyID == newKey.publicKey.keyID)
        #expect(try server.admin().deployment(deployment.id).counts.succeeded == 1)
    }

    @Test("Registrations beyond --registrations-per-minute get 429 with Retry-After")
    func registrationIsRateLimited() throws {
        let server = try TestServer(arguments: ["--registrations-per-minute", "3"])
        let token = try server.enrollmentToken()
        for index in 0..<3 { #expect(try register(server, "dev-\(index)", token: token).status == 201) }
        let limited = try register(server, "dev-3", token: token)
        #expect(limited.status == 429 && limited.headers["retry-after"] == "60", "\(limited)")
    }

    @Test("An attacker with one device's enrollment token gets one device, and its fake reports neither pause nor advance a staged rollout")
    func fakeReportsCannotSteerARollout() throws {
        let server = try TestServer()
        try server.publish(name: "m", version: "1.0.0", files: ["w": [1]])
        let canaries = try (1...3).map { try server.registerDevice("canary-\($0)") }
        let deployment = try server.admin(.operator).createDeployment(.init(
            bundleName: "m", version: "1.0.0", target: .everyCompatibleDevice,
            phases: [.devices(["canary-1", "canary-2", "canary-3"]), .percent(100)],
            autoAdvance: true, soakSeconds: 0, successRatio: 1.0, failureThresholdCount: 2))
        for canary in canaries { _ = try canary.checkin(.init(installed: [])) }
        // The attacker's one token: a second device is refused.
        let token = try #require(try server.admin(.operator).createEnrollmentToken(.init(autoAccept: true)).token)
        let attacker = try server.registerDevice("evil-1", enrollment: token)
        #expect(throws: HTTPClientError.self) { _ = try server.registerDevice("evil-2", enrollment: token) }
        _ = try attacker.checkin(.init(installed: []))
        // Failures over and over: one device, one outcome, below the threshold of two.
        for _ in 0..<20 {
            try attacker.report([.init(deploymentID: deployment.id, bundleName: "m", version: "1.0.0", state: .failed, detail: "fake")])
        }
        var status = try server.admin().deployment(deployment.id)
        #expect(status.status == .active && status.counts.failed <= 1, "\(status.status) \(status.counts)")
        // Successes cannot be claimed for the canaries, so the phase does not advance.
        try attacker.report([.init(deploymentID: deployment.id, bundleName: "m", version: "1.0.0", state: .succeeded, detail: "fake")])
        status = try server.admin().deployment(deployment.id)
        #expect(status.currentPhase == 0 && status.counts.succeeded == 0, "\(status.currentPhase) \(status.counts)")
    }

    @Test("Extreme signed times are refused, not overflowed: the server stays up")
    func extremeTimesRefused() throws {
        let server = try TestServer()
        let headers = ["Signature-Input": #"ota=("@method" "@path" "content-digest");created=-9223372036854775808;keyid="s1:x";alg="hmac-sha256""#,
                       "Signature": "ota=:" + Base64.encode(SecureRandom.bytes(32)) + ":", "Content-Digest": RequestSignature.contentDigest([UInt8]())]
        #expect(try server.request("POST", DeviceAPI.checkinPath, headers: headers, body: Array("{}".utf8)).status == 401)
        let key = try Ed25519PrivateKey.generate()
        let proof = try DeviceProof.sign(.register, deviceID: "cam-1", key: key, created: Int64.max)
        let body = try JSONEncoder().encode(DeviceAPI.RegisterRequest(enrollmentToken: try server.enrollmentToken(), deviceID: "cam-1",
                                                                       hardware: "test-hw", publicKey: Base64.encode(key.publicKey.raw), proof: proof))
        #expect(try server.request("POST", DeviceAPI.registerPath, body: Array(body)).status == 401)
        #expect(try server.request("GET", "/healthz").status == 200)
    }

    @Test("A pre-authorised id cannot be taken with an enrollment token; a session from before a reject stays dead after re-acceptance")
    func idsAndSessionsStayBound() throws {
        let server = try TestServer()
        let key = try Ed25519PrivateKey.generate()
        _ = try server.admin(.operator).importDevices([.init(deviceID: "line-1", publicKey: Base64.encode(key.publicKey.raw), hardware: "test-hw")])
        #expect(try register(server, "line-1", token: try server.enrollmentToken()).status == 409)
        let device = try server.registerDevice("cam-1")
        let old = try device.openSession()
        _ = try server.admin(.operator).setDeviceStatus("cam-1", .reject)
        _ = try server.admin(.operator).setDeviceStatus("cam-1", .accept)
        let body = Array(#"{"installed":[]}"#.utf8)
        let stale = RequestSignature.headers(method: "POST", path: DeviceAPI.checkinPath, body: body, sessionID: old.id, key: old.key)
        #expect(try server.request("POST", DeviceAPI.checkinPath, headers: stale, body: body).status == 401)
        device.session = nil
        #expect(try device.checkin(.init(installed: [])).pollIntervalSeconds == 1)
    }
}
