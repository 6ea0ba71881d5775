import Foundation
import OTAClient
import OTACore
import TestSupport
import Testing

@Suite("Hostile input gets a 4xx with a JSON error and changes nothing", .tags(.database))
struct BadInputTests {
    func errorCode(_ result: HTTPResult) -> String? {
        (try? JSONDecoder().decode(APIErrorBody.self, from: Data(result.body)))?.error.code.rawValue
    }

    static let refusedRequestCases = [
        ("POST", "/api/v1/deployments", "{", "invalid_json"),
        ("POST", "/api/v1/deployments", #"{"bundle_name":"m","version":"1.0.0","target":{"all":true},"sudo":true}"#, "invalid_json"),
        ("POST", "/api/v1/deployments", #"{"bundle_name":"m","version":"1.0.0","target":{"all":true,"tag":"x"}}"#, "bad_request"),
        ("POST", "/api/v1/deployments", #"{"bundle_name":"m","version":"1.0.0","target":{"all":true},"phases":[{"percent":50}]}"#, "bad_request"),
        ("POST", "/api/v1/deployments", #"{"bundle_name":"m","version":1,"target":{"all":true}}"#, "invalid_json"),
        ("POST", "/api/v1/enrollment-tokens", #"{"max_uses":0}"#, "bad_request"),
        ("POST", "/api/v1/enrollment-tokens", #"{"tags":["a b"]}"#, "bad_request"),
        ("POST", "/api/v1/content/missing", #"{"digests":["xyz"]}"#, "bad_request"),
        ("POST", "/api/v1/bundles", #"{"payloadType":"x","payload":"!!","signatures":[]}"#, "invalid_envelope"),
        ("PATCH", "/api/v1/devices/d1", #"{"tags":["../x"]}"#, "bad_request"),
        ("GET", "/api/v1/devices?limit=0", nil, "bad_request"),
        ("GET", "/api/v1/devices?trust=fresh", nil, "bad_request"),
        ("GET", "/api/v1/devices?hardware=%3Cscript%3E", nil, "bad_request"),
        ("GET", "/api/v1/no/such/thing", nil, "not_found"),
        ("POST", "/api/v1/deployments", #"{"bundle_name":"m","version":"1.0.0","target":{"all":true},"gates":["agreemnt>=1"]}"#, "bad_request"),
        ("POST", "/api/v1/deployments", #"{"bundle_name":"m","version":"1.0.0","target":{"all":true},"gates":["latency_p95<=1.2x"]}"#, "bad_request"),
        ("POST", "/api/v1/deployments", #"{"bundle_name":"m","version":"1.0.0","target":{"all":true},"gates":["agreement>=0.9"]}"#, "bad_request"),
        ("POST", "/api/v1/deployments", #"{"bundle_name":"m","version":"1.0.0","target":{"all":true},"gates":["errors<=0","errors<=0"]}"#, "bad_request"),
        ("POST", "/api/v1/deployments", #"{"bundle_name":"m","version":"1.0.0","target":{"all":true},"shadow":{"min_samples":0}}"#, "bad_request"),
        ("POST", "/api/v1/deployments", #"{"bundle_name":"m","version":"1.0.0","target":{"all":true},"shadow":{"max_s":1}}"#, "bad_request"),
        ("POST", "/api/v1/deployments", #"{"bundle_name":"m","version":"1.0.0","target":{"all":true},"gates":["errors<=0"],"gate_min_devices":0}"#, "bad_request"),
    ] as [(String, String, String?, String)]
    // One server for every case of a table, each case against the state the one before left,
    // which a refused request does not change: a server start costs more CPU than the cases
    // together, and the suites beside this one need it.
    @Test("Malformed JSON, unknown fields, wrong types and wrong media types are refused")
    func refusedRequests() throws {
        let server = try TestServer()
        try server.publish(name: "m", version: "1.0.0", files: ["a": [1]])
        _ = try server.registerDevice("d1")
        let before = try snapshot(server)
        for (method, path, body, code) in Self.refusedRequestCases {
            let result = try server.request(method, path, role: .admin, json: body)
            let shown = "\(method) \(path) \(body ?? ""): \(result.status) \(String(decoding: result.body, as: UTF8.self))"
            #expect((400..<500).contains(result.status), "\(shown)")
            #expect(errorCode(result) == code, "\(shown)")
            #expect(try snapshot(server) == before, "\(shown)")
        }
    }

    /// What the API shows of the registry's state.
    func snapshot(_ server: TestServer) throws -> String {
        let admin = try server.admin()
        return "\(try admin.deployments().count) \(try admin.enrollmentTokens().count) \(try admin.devices(.init()).devices.map(\.tags)) \(try admin.bundles().count)"
    }

    @Test("A check-in may carry fields this server does not know (newer agents), but not wrong values")
    func checkinIsForwardCompatible() throws {
        let server = try TestServer()
        let device = try server.registerDevice("d1")
        let newer = try server.request("POST", DeviceAPI.checkinPath, device: device,
                                       body: Array(#"{"installed":[],"uptime_s":42,"battery":{"level":0.5}}"#.utf8))
        #expect(newer.status == 200)
        let wrongType = try server.request("POST", DeviceAPI.checkinPath, device: device, body: Array(#"{"installed":{}}"#.utf8))
        #expect(wrongType.status == 400)
    }

    @Test("A body over the limit is refused with 413")
    func oversizeBody() throws {
        let server = try TestServer()
        let huge = "{\"digests\":[" + String(repeating: "\"\(String(repeating: "a", count: 64))\",", count: 20_000) + "\"x\"]}"
        let result = try server.request("POST", "/api/v1/content/missing", role: .publisher, json: huge)
        #expect(result.status == 413)
        #expect(errorCode(result) == "too_large")
        let checkin = try server.registerDevice("d")
        let big = try server.request("POST", DeviceAPI.checkinPath, device: checkin,
                                     body: Array(("{\"installed\":[],\"attributes\":{\"k\":\"" + String(repeating: "x", count: 300_000) + "\"}}").utf8))
        #expect(big.status == 413)
    }

    @Test("A method a path does not have gets 405 naming the allowed ones; unknown paths and missing records stay 404")
    func methodNotAllowed() throws {
        let server = try TestServer()
        let device = try server.registerDevice("d")
        let checkin = try server.request("DELETE", DeviceAPI.checkinPath, device: device)
        #expect(checkin.status == 405)
        #expect(errorCode(checkin) == "method_not_allowed")
        #expect(checkin.headers["allow"] == "POST")
        let content = try server.request("PUT", "/api/v1/device/content/" + String(repeating: "a", count: 64), device: device)
        #expect(content.status == 405)
        #expect(content.headers["allow"] == "GET, HEAD")
        // `content/missing` (POST) shadows `content/{digest}` (PUT) for this one name.
        let shadowed = try server.request("PUT", "/api/v1/content/missing", role: .publisher)
        #expect(shadowed.status == 405 && shadowed.headers["allow"] == "POST")
        let health = try server.request("POST", "/healthz")
        #expect(health.status == 405 && health.headers["allow"] == "GET")
        let unknown = try server.request("GET", "/api/v1/no-such-thing", role: .admin)
        #expect(unknown.status == 404 && errorCode(unknown) == "not_found")
        let missing = try server.request("GET", "/api/v1/devices/nobody", role: .admin)
        #expect(missing.status == 404 && errorCode(missing) == "not_found")
        #expect(try server.admin().devices(.init()).devices.map(\.id) == ["d"])
    }

    @Test("A non-JSON content type is refused with 415")
    func wrongMediaType() throws {
        let server = try TestServer()
        let result = try server.request("POST", "/api/v1/enrollment-tokens", token: server.tokens[.operator], body: Array("{}".utf8),
                                        contentType: "text/plain")
        #expect(result.status == 415)
        #expect(try server.admin().enrollmentTokens().isEmpty)
    }

    static let badDeviceMessageCases = [
        (DeviceAPI.checkinPath, #"{"installed":[{"name":"m","version":"x","digest":"00","state":"committed"}]}"#),
        (DeviceAPI.checkinPath, #"{"installed":[{"name":"m","version":"1.0.0","digest":"\#(String(repeating: "a", count: 64))","state":"hacked"}]}"#),
        (DeviceAPI.eventsPath, #"{"events":[{"bundle_name":"m","version":"1","state":"exploded","detail":"","at":"2026-01-01T00:00:00Z"}]}"#),
        (DeviceAPI.eventsPath, #"{"events":[{"bundle_name":"../m","version":"1","state":"failed","detail":"","at":"2026-01-01T00:00:00Z"}]}"#),
        (DeviceAPI.eventsPath, #"{"events":[{"bundle_name":"m","version":"1","state":"failed","detail":"","at":"yesterday"}]}"#),
        (DeviceAPI.checkinPath, #"{"installed":[],"nonce":"abc"}"#),
        (DeviceAPI.checkinPath, #"{"installed":[],"nonce":"\#(String(repeating: "z", count: 32))"}"#),
        (DeviceAPI.checkinPath, #"{"installed":[],"trust":{"root_version":1,"channel":"Stable!"}}"#),
        (DeviceAPI.checkinPath, #"{"installed":[],"trust":{"root_version":-1,"channel":"stable"}}"#),
        (DeviceAPI.checkinPath, #"{"installed":[],"trust":{"root_version":1,"channel":"stable","targets_expires":"0000-01-01T00:00:00Z"}}"#),
        (DeviceAPI.checkinPath, #"{"installed":[],"trust":{"root_version":1,"channel":"stable","problem":"\#(String(repeating: "x", count: 3000))"}}"#),
    ]
    @Test("Bad check-ins and events are refused and record nothing")
    func badDeviceMessages() throws {
        let server = try TestServer()
        let device = try server.registerDevice("d1")
        for (path, body) in Self.badDeviceMessageCases {
            let result = try server.request("POST", path, device: device, body: Array(body.utf8))
            let shown = "\(path) \(body.prefix(200)): \(result.status) \(String(decoding: result.body, as: UTF8.self))"
            #expect(result.status == 400, "\(shown)")
            #expect(errorCode(result) != nil, "\(shown)")
            let detail = try server.admin().device("d1")
            #expect(detail.events.isEmpty && detail.device.installed.isEmpty && detail.device.state == .idle && detail.device.trust == nil, "\(shown)")
        }
    }

    static let badTrustMetadataCases = [
        (AdminAPI.trustRootPath, "not json", "untrusted"),
        (AdminAPI.trustRootPath, #"{"payloadType":"application/vnd.tuf+json","payload":"e30=","signatures":[]}"#, "untrusted"),
        (AdminAPI.trustTargetsPath, #"{"payloadType":"application/vnd.tuf+json","payload":"e30=","signatures":[]}"#, "untrusted"),
        (AdminAPI.trustTargetsPath, #"{"payloadType":"text/plain","payload":"e30=","signatures":[]}"#, "untrusted"),
    ]
    @Test("Bad trust metadata is refused with a reason and changes nothing")
    func badTrustMetadata() throws {
        let server = try TestServer(tuf: true)
        // A legacy server has no metadata to change: 409 with what to do.
        let legacy = try TestServer()
        let before = try server.admin().trustSummary()
        for (path, body, code) in Self.badTrustMetadataCases {
            let result = try server.request("POST", path, role: .admin, json: body)
            let shown = "\(path) \(body): \(result.status) \(String(decoding: result.body, as: UTF8.self))"
            #expect(result.status == 400, "\(shown)")
            #expect(errorCode(result) == code, "\(shown)")
            #expect(try server.admin().trustSummary() == before, "\(shown)")
            let refused = try legacy.request("POST", path, role: .admin, json: body)
            #expect(refused.status == 409 && errorCode(refused) == "legacy_trust_root", "\(shown)")
        }
    }
}

@Suite("Durability: restarts, crashes and migrations", .tags(.database))
struct DurabilityTests {
    @Test("A restart keeps bundles, devices, deployments, tokens and device credentials")
    func restartKeepsData() throws {
        let server = try TestServer()
        try server.publish(name: "m", version: "1.0.0", files: ["a": [1, 2]])
        let deployment = try server.deploy("m", "1.0.0")
        let device = try server.registerDevice("d1")
        _ = try device.checkin(.init(installed: []))
        try device.report([.init(deploymentID: deployment.id, bundleName: "m", version: "1.0.0", state: .succeeded, detail: "ok")])
        try server.restart()
        let admin = try server.admin()
        #expect(try admin.bundles().map(\.name) == ["m"])
        #expect(try admin.deployment(deployment.id).counts.succeeded == 1)
        #expect(try admin.device("d1").events.count == 1)
        // The device's key still works against the new process (a new session).
        let fresh = try DeviceClient(server.httpConfiguration(), credentials: device.credentials)
        #expect(try fresh.checkin(.init(installed: [])).pollIntervalSeconds == 1)
    }

    @Test("A SIGTERM flushes batched check-ins before exit")
    func gracefulShutdownFlushes() throws {
        let server = try TestServer(arguments: [])
        let device = try server.registerDevice("d1")
        _ = try device.checkin(.init(installed: [.init(name: "m", version: "3.0.0", digest: SHA256Digest(hex: String(repeating: "c", count: 64))!)]))
        server.stop()
        try server.start()
        #expect(try server.admin().device("d1").device.installed.map(\.version) == ["3.0.0"])
    }

    @Test("The server refuses a database that has a migration it does not know")
    func unknownMigration() throws {
        let server = try TestServer()
        server.stop()
        try server.addUnknownMigration("9999_from_the_future")
        let result = try run(Binaries.path("ota-server"), ["serve", "--data", server.dataPath, "--listen", "127.0.0.1:0", "--trust", server.trustPath]
                             + server.databaseArguments)
        #expect(result.status == 1)
        #expect(result.stderr.contains("9999_from_the_future"))
        #expect(result.stderr.contains("this ota-server does not know"))
    }

    @Test("kill -9 during a large upload: the database is intact, nothing partial is visible, and the upload can be redone")
    func crashDuringUpload() throws {
        let server = try TestServer()
        let size = 64 << 20
        let path = server.dir.file("big.bin")
        let file = try File.open(path, .create(permissions: 0o644))
        let chunk = (0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        for index in 0..<(size >> 20) {
            var block = chunk
            block[0] = UInt8(index)
            try file.write(block)
        }
        file.close()
        let digest = try SHA256Digest.ofFile(at: path)
        // A slow upload (curl at 16 MiB/s), killed with the server after about a second.
        let upload = Process()
        upload.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
        upload.arguments = ["-s", "-o", "/dev/null", "--limit-rate", "16M", "-X", "PUT", "-H", "Authorization: Bearer \(server.tokens[.publisher]!)",
                            "-H", "Content-Type: application/octet-stream", "--data-binary", "@\(path)", "\(server.url)/api/v1/content/\(digest.hex)"]
        try upload.run()
        try eventually(timeout: 10, "upload in progress") {
            ((try? FileSystem.list(server.dataPath + "/uploads")) ?? []).contains { (FileSystem.fileSize(server.dataPath + "/uploads/" + $0) ?? 0) > 4 << 20 }
        }
        server.kill()
        upload.waitUntilExit()
        #expect(try server.integrityCheck() == "ok")
        try server.start()
        #expect(try server.admin(.publisher).missing([digest]) == [digest])
        #expect(try FileSystem.list(server.dataPath + "/uploads").isEmpty)
        #expect(!FileSystem.exists(server.dataPath + "/content/\(digest.hex.prefix(2))/\(digest.hex)"))
        let redone = try server.admin(.publisher).upload(digest, file: path, offset: 0, length: UInt64(size))
        #expect(redone.created && redone.size == UInt64(size))
        #expect(try server.admin(.publisher).missing([digest]).isEmpty)
    }

    @Test("kill -9 under check-in load: the database is intact and the server starts again")
    func crashUnderCheckinLoad() throws {
        let server = try TestServer()
        try server.publish(name: "m", version: "1.0.0", files: ["a": [1]])
        let deployment = try server.deploy("m", "1.0.0")
        let enrollment = try server.enrollmentToken()
        let tokens = try (0..<20).map { try server.registerDevice("load-\($0)", enrollment: enrollment).credentials }
        let configuration = server.httpConfiguration()
        let load = LoadWorkers(count: 4) { worker, n in
            let device = try DeviceClient(configuration, credentials: tokens[(worker + 4 * n) % tokens.count])
            _ = try device.checkin(.init(installed: []))
            try device.report([.init(deploymentID: deployment.id, bundleName: "m", version: "1.0.0", state: .downloading, detail: "")])
        }
        // Killed with writes under way: after enough rounds that check-ins are being saved.
        try load.waitForRounds(40)
        server.kill()
        try load.stop()
        #expect(try server.integrityCheck() == "ok")
        try server.start()
        let status = try server.admin().deployment(deployment.id)
        let recount = try server.sql("SELECT count(*) FROM deployment_devices WHERE deployment_id = '\(deployment.id)'")
        #expect(status.counts.total == Int(recount.stdout.trimmed))
    }
}
