import Foundation
import Synchronization
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import OTACore
@testable import OTAServer
import TestSupport
import Testing

/// The import of a factory list that mixes agents (with their keys) and DDI devices (with
/// tokens made at import), through the router in process.
@Suite("Importing a device list, in process")
struct DeviceImportRouteTests {
    typealias Fixture = RouteTests.Fixture

    static func agentKey() throws -> String { Base64.encode(try Ed25519PrivateKey.generate().publicKey.raw) }

    static func post(_ client: any TestClientProtocol, _ fixture: Fixture, _ json: String,
                     _ check: @escaping @Sendable (TestResponse) throws -> Void) async throws {
        try await client.execute(uri: "/api/v1/devices/import", method: .post, headers: fixture.bearer(.operator),
                                 body: ByteBuffer(string: json)) { try check($0) }
    }

    static func deviceCount(_ fixture: Fixture) async throws -> Int {
        try await fixture.services.db.read { db in
            (try await db.value(Int.self, "SELECT COUNT(*) FROM devices") ?? 0) + (try await db.value(Int.self, "SELECT COUNT(*) FROM preauthorized_devices") ?? 0)
        }
    }

    @Test("A list with agents and DDI devices pre-authorises the agents and answers each DDI device's token once; the token opens its own controller only")
    func mixedList() async throws {
        let fixture = try await Fixture()
        let json = """
            {"devices": [{"device_id": "cam-1", "public_key": "\(try Self.agentKey())", "hardware": "pi4"},
                         {"device_id": "gw-1", "protocol": "ddi", "hardware": "gw-board", "tags": ["site-7"]},
                         {"device_id": "gw-2", "protocol": "ddi", "hardware": "gw-board", "group": "north"}]}
            """
        try await fixture.test { client in
            let answer = Mutex<AdminAPI.DeviceImportResponse?>(nil)
            try await Self.post(client, fixture, json) { response in
                #expect(response.status == .created)
                #expect(response.headers[.cacheControl] == "no-store", "tokens shown once are not cached on the way")
                let decoded = try StrictJSON.decode(AdminAPI.DeviceImportResponse.self, from: Array(buffer: response.body), what: "import")
                answer.withLock { $0 = decoded }
            }
            let tokens = try #require(answer.withLock { $0 }?.ddiTokens)
            #expect(answer.withLock { $0 }?.imported == 3)
            #expect(tokens.map(\.deviceID) == ["gw-1", "gw-2"])
            #expect(Set(tokens.map(\.token)).count == 2)
            try await client.execute(uri: "/default/controller/v1/gw-1", method: .get,
                                     headers: [.authorization: "TargetToken \(tokens[0].token)"]) { #expect($0.status == .ok) }
            try await client.execute(uri: "/default/controller/v1/gw-2", method: .get,
                                     headers: [.authorization: "TargetToken \(tokens[0].token)"]) { #expect($0.status == .unauthorized) }
        }
        let stored = try await fixture.services.db.read { db in
            try await db.rows("SELECT id, protocol, status, group_name FROM devices ORDER BY id").map { row in
                "\(try row.string("id")) \(try row.string("protocol")) \(try row.string("status")) \((try? row.string("group_name")) ?? "-")"
            }
        }
        #expect(stored == ["gw-1 ddi accepted -", "gw-2 ddi accepted north"])
        let tags = try await fixture.services.db.read { db in try await db.value(String.self, "SELECT tag FROM device_tags WHERE device_id = 'gw-1'") }
        #expect(tags == "site-7")
        // Each DDI device is in the audit log, as with add-ddi, and no token is.
        let audit = try await fixture.services.db.read { db in
            try await db.rows("SELECT action, target, detail FROM audit_log ORDER BY id").map { "\(try $0.string("action")) \(try $0.string("target")) \((try? $0.string("detail")) ?? "")" }
        }
        #expect(audit.filter { $0.hasPrefix("device.add_ddi") }.count == 2)
        #expect(audit.contains { $0.hasPrefix("device.import 3 devices (2 on DDI)") })
        #expect(!audit.joined().contains("ota_ddi_"))
    }

    @Test("A bad line refuses the whole list with a 400 or 409 naming it, and nothing is imported", arguments: [
        (#"{"device_id": "gw-1", "protocol": "ddi", "public_key": "KEY", "hardware": "gw-board"}"#, 400, "no public_key"),
        (#"{"device_id": "cam-2", "hardware": "pi4"}"#, 400, "needs its public_key"),
        (#"{"device_id": "gw-1", "protocol": "swupdate", "hardware": "gw-board"}"#, 400, "protocol"),
        (#"{"device_id": "gw-1", "protocol": "ddi", "hardware": "gw-board", "token": "mine"}"#, 400, "token"),
        (#"{"device_id": "taken", "protocol": "ddi", "hardware": "gw-board"}"#, 409, "already exists"),
        (#"{"device_id": "cam-1", "protocol": "ddi", "hardware": "gw-board"}"#, 400, "listed twice"),
        (#"{"device_id": "gw-1", "protocol": "ddi", "hardware": "gw-board", "tags": [TAGS]}"#, 400, "at most 64 tags"),
    ])
    func badLine(line: String, status: Int, says: String) async throws {
        let fixture = try await Fixture()
        let key = try Self.agentKey()
        try await fixture.test { client in
            try await Self.post(client, fixture, #"{"devices": [{"device_id": "taken", "protocol": "ddi", "hardware": "gw-board"}]}"#) {
                #expect($0.status == .created)
            }
        }
        let before = try await Self.deviceCount(fixture)
        let json = """
            {"devices": [{"device_id": "cam-1", "public_key": "\(key)", "hardware": "pi4"},
                         \(line.replacingOccurrences(of: "KEY", with: key).replacingOccurrences(of: "TAGS", with: (0...64).map { "\"t\($0)\"" }.joined(separator: ",")))]}
            """
        try await fixture.test { client in
            try await Self.post(client, fixture, json) { response in
                #expect(response.status.code == status)
                let body = String(buffer: response.body)
                #expect(body.contains(says), "\(body)")
                #expect(!body.contains("ota_ddi_"), "no token in a refusal")
            }
        }
        #expect(try await Self.deviceCount(fixture) == before)
    }

    @Test("More than 10,000 DDI devices in one list are refused before anything is written")
    func tooManyDDIDevices() async throws {
        let fixture = try await Fixture()
        let lines = (0...10_000).map { #"{"device_id": "gw-\#($0)", "protocol": "ddi", "hardware": "gw-board"}"# }.joined(separator: ",")
        try await fixture.test { client in
            try await client.execute(uri: "/api/v1/devices/import", method: .post, headers: fixture.bearer(.operator),
                                     body: ByteBuffer(string: #"{"devices": [\#(lines)]}"#)) { response in
                #expect(response.status == .badRequest)
                #expect(String(buffer: response.body).contains("at most 10000 DDI devices"))
            }
        }
        #expect(try await Self.deviceCount(fixture) == 0)
    }

    @Test("An agent id already pre-authorised cannot come back as a DDI device, by import or by add-ddi")
    func agentThenDDI() async throws {
        let fixture = try await Fixture()
        try await fixture.test { client in
            try await Self.post(client, fixture, #"{"devices": [{"device_id": "cam-1", "public_key": "\#(try Self.agentKey())", "hardware": "pi4"}]}"#) {
                #expect($0.status == .created)
            }
            try await Self.post(client, fixture, #"{"devices": [{"device_id": "cam-1", "protocol": "ddi", "hardware": "pi4"}]}"#) { response in
                #expect(response.status == .conflict)
                #expect(String(buffer: response.body).contains("pre-authorised as an agent"))
            }
            // Nor through add-ddi: the waiting key would take the DDI device's place once it is deleted.
            try await client.execute(uri: "/api/v1/devices/ddi", method: .post, headers: fixture.bearer(.operator),
                                     body: ByteBuffer(string: #"{"device_id": "cam-1", "hardware": "pi4"}"#)) { response in
                #expect(response.status == .conflict)
            }
        }
        #expect(try await fixture.services.db.read { db in try await db.value(Int.self, "SELECT COUNT(*) FROM devices") } == 0)
    }
}
