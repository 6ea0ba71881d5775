import Foundation
import OTAClient
import OTACore
import TestSupport
import Testing

@Suite("Admin API tokens and roles", .tags(.database))
struct AccessControlTests {
    @Test("Each role may do its own work and gets 403 beyond it")
    func rolesLimitActions() throws {
        let server = try TestServer()
        try server.publish(name: "m", version: "1.0.0", files: ["a.bin": [1]])
        let deployment = #"{"bundle_name":"m","version":"1.0.0","target":{"all":true}}"#
        // viewer: reads only
        #expect(try server.request("GET", "/api/v1/bundles", role: .viewer).status == 200)
        #expect(try server.request("POST", "/api/v1/deployments", role: .viewer, json: deployment).status == 403)
        #expect(try server.request("POST", "/api/v1/content/missing", role: .viewer, json: #"{"digests":[]}"#).status == 403)
        // publisher: publishing, not deployments
        #expect(try server.request("POST", "/api/v1/content/missing", role: .publisher, json: #"{"digests":[]}"#).status == 200)
        #expect(try server.request("POST", "/api/v1/deployments", role: .publisher, json: deployment).status == 403)
        // operator: deployments and enrollment, not the audit log
        #expect(try server.request("POST", "/api/v1/deployments", role: .operator, json: deployment).status == 201)
        #expect(try server.request("GET", "/api/v1/enrollment-tokens", role: .operator).status == 200)
        #expect(try server.request("GET", "/api/v1/enrollment-tokens", role: .viewer).status == 403)
        #expect(try server.request("GET", "/api/v1/audit", role: .operator).status == 403)
        // admin: everything
        #expect(try server.request("GET", "/api/v1/audit", role: .admin).status == 200)
        let refused = try server.request("POST", "/api/v1/deployments", role: .viewer, json: deployment)
        let body = try JSONDecoder().decode(APIErrorBody.self, from: Data(refused.body))
        #expect(body.error.code.rawValue == "forbidden")
        #expect(body.error.message.contains("needs the operator role"))
    }

    @Test("Missing, unknown, revoked and device tokens get 401 with a JSON error")
    func badTokens() throws {
        let server = try TestServer()
        let none = try server.request("GET", "/api/v1/bundles")
        #expect(none.status == 401)
        #expect(try JSONDecoder().decode(APIErrorBody.self, from: Data(none.body)).error.code.rawValue == "unauthorized")
        #expect(try server.request("GET", "/api/v1/bundles", token: "ota_adm_guess").status == 401)
        #expect(try server.request("GET", "/api/v1/bundles", headers: ["Authorization": "Basic YWRtaW46YWRtaW4="]).status == 401)
        let device = try server.registerDevice("d1")
        #expect(try server.request("GET", "/api/v1/bundles", token: device.api.token).status == 401)
        // An admin token is not a device token either.
        #expect(try server.request("POST", DeviceAPI.checkinPath, role: .admin, json: #"{"installed":[]}"#).status == 401)
        // Revoking through the command line takes effect at once.
        let list = try run(Binaries.path("ota-server"), ["token", "list", "--data", server.dataPath] + server.databaseArguments)
        let viewerID = try #require(list.stdout.split(separator: "\n").first { $0.contains("test-viewer") }?.split(separator: " ").first)
        #expect(try run(Binaries.path("ota-server"), ["token", "revoke", "--data", server.dataPath, String(viewerID)] + server.databaseArguments).status == 0)
        #expect(try server.request("GET", "/api/v1/bundles", role: .viewer).status == 401)
    }

    @Test("Every admin action is in the audit log with who did it")
    func auditLog() throws {
        let server = try TestServer()
        try server.publish(name: "m", version: "1.0.0", files: ["a.bin": [1]])
        let deployment = try server.deploy("m", "1.0.0")
        _ = try server.admin(.operator).control(deployment.id, .cancel, reason: "testing")
        let token = try server.admin(.operator).createEnrollmentToken(.init(name: "lab"))
        try server.admin(.operator).revokeEnrollmentToken(token.id)
        let entries = try server.admin(.admin).audit().entries
        let actions = entries.map(\.action.rawValue)
        for action in ["content.upload", "bundle.publish", "deployment.create", "deployment.cancel", "enrollment_token.create",
                       "enrollment_token.revoke", "token.create"] {
            #expect(actions.contains(action), "audit log lacks \(action)")
        }
        let cancel = try #require(entries.first { $0.action == .deploymentCancel })
        #expect(cancel.actor.contains("test-operator"))
        #expect(cancel.detail == "testing")
        #expect(cancel.target == deployment.id.rawValue)
    }
}

@Suite("Device registration", .tags(.database))
struct RegistrationTests {
    @Test("A device registers once with an enrollment token and its key; the token decides its tags")
    func registers() throws {
        let server = try TestServer()
        let enrollment = try server.admin(.operator).createEnrollmentToken(.init(maxUses: 5, tags: ["lab"], autoAccept: true)).token
        let key = try Ed25519PrivateKey.generate()
        let device = try server.registerDevice("cam-01", attributes: ["site": "berlin"], enrollment: enrollment, key: key)
        #expect(try device.checkin(.init(installed: [])).pollIntervalSeconds == 1)
        let detail = try server.admin().device("cam-01")
        #expect(detail.device.keyID == key.publicKey.keyID)
        #expect(detail.device.status == .accepted)
        #expect(detail.device.hardware == "test-hw")
        #expect(detail.device.tags == ["lab"])
        #expect(detail.device.attributes == ["site": "berlin"])
        let again = #expect(throws: HTTPClientError.self) { try server.registerDevice("cam-01", enrollment: enrollment) }
        #expect(again?.statusCode == 409)
    }

    @Test("Used-up, expired, revoked and unknown enrollment tokens are refused and register nothing")
    func refusesBadEnrollment() throws {
        let clock = try ProcessClock()
        let server = try TestServer(environment: clock.environment)
        let single = try server.enrollmentToken(maxUses: 1)
        _ = try server.registerDevice("a", enrollment: single)
        let usedUp = #expect(throws: HTTPClientError.self) { try server.registerDevice("b", enrollment: single) }
        #expect(usedUp?.statusCode == 401)
        #expect(usedUp?.description.contains("used up") == true)

        let expiring = try server.admin(.operator).createEnrollmentToken(.init(expiresInSeconds: 60))
        try clock.advance(seconds: 61)
        let expired = #expect(throws: HTTPClientError.self) { try server.registerDevice("c", enrollment: expiring.token) }
        #expect(expired?.description.contains("expired") == true)

        let revocable = try server.admin(.operator).createEnrollmentToken(.init())
        try server.admin(.operator).revokeEnrollmentToken(revocable.id)
        let revoked = #expect(throws: HTTPClientError.self) { try server.registerDevice("d", enrollment: revocable.token) }
        #expect(revoked?.description.contains("revoked") == true)

        #expect(throws: HTTPClientError.self) { try server.registerDevice("e", enrollment: "ota_enr_nonsense") }
        #expect(try server.admin().devices(.init()).devices.map(\.id) == ["a"])
    }

    @Test("Malformed registrations get a 400 and register nothing", arguments: [
        #"{"enrollment_token":"x","device_id":"../evil","hardware":"hw"}"#,
        #"{"enrollment_token":"x","device_id":"ok","hardware":"hw","admin":true}"#,
        #"{"enrollment_token":"x","device_id":"ok"}"#,
        #"{"enrollment_token":"x","device_id":"ok","hardware":"hw","tags":["<b>"]}"#,
        #"not json"#,
    ])
    func malformedRegistration(body: String) throws {
        let server = try TestServer()
        let token = try server.enrollmentToken()
        let result = try server.request("POST", DeviceAPI.registerPath, body: Array(body.replacing("\"x\"", with: "\"\(token)\"").utf8))
        #expect(result.status == 400, "\(String(decoding: result.body, as: UTF8.self))")
        #expect((try? JSONDecoder().decode(APIErrorBody.self, from: Data(result.body))) != nil)
        #expect(try server.admin().devices(.init()).devices.isEmpty)
    }
}
