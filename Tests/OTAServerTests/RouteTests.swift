import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import OTACore
@testable import OTAServer
import TestSupport
import Testing

/// The server's routes in process, through HummingbirdTesting's router: no server process, no
/// socket. Who may reach which handler, the route table against what is registered, and an
/// operator reading their own write at once.
@Suite("Routes, in process")
struct RouteTests {
    /// A server's parts on a fresh SQLite registry, with admin tokens of every role.
    struct Fixture {
        let dir = TemporaryDirectory("ota-routes")
        let services: ServerServices
        let tokens: [AdminAPI.Role: String]
        let releaseKey: Ed25519PrivateKey

        init() async throws {
            releaseKey = try Ed25519PrivateKey.generate()
            try FileSystem.writeAtomically(try TrustRoot(keys: [releaseKey.publicKey], threshold: 1).encoded(), to: dir.file("trust.json"))
            let configuration = ServerConfiguration(dataDirectory: dir.file("data"), trustRootPath: dir.file("trust.json"))
            services = try await ServerApplication.services(configuration, logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() },
                                                            clock: TestClock())
            var tokens: [AdminAPI.Role: String] = [:]
            for role in AdminAPI.Role.allCases {
                tokens[role] = try await services.tokens.createAdminToken(role: role, name: "test-\(role.rawValue)").secret
            }
            self.tokens = tokens
        }

        func test(_ body: @escaping @Sendable (any TestClientProtocol) async throws -> Void) async throws {
            let app = Application(router: ServerApplication.router(services))
            try await app.test(.router, body)
        }

        func bearer(_ role: AdminAPI.Role) -> HTTPFields { [.authorization: "Bearer \(tokens[role]!)"] }
    }

    @Test("Every route of the table is registered with its method, and nothing else is")
    func tableMatchesRouter() async throws {
        let fixture = try await Fixture()
        let router = Router(context: ServerRequestContext.self)
        ServerRoutes.register(on: router, fixture.services)
        let registered = Set(router.routes.map { "\($0.method.rawValue) \($0.path)" })
        // Hummingbird describes a parameter as {name}; the table writes :name.
        func described(_ path: String) -> String {
            "/" + path.split(separator: "/").map { $0.hasPrefix(":") ? "{\($0.dropFirst())}" : String($0) }.joined(separator: "/")
        }
        let table = Set(ServerRoutes.table.map { "\($0.method.rawValue) \(described($0.path))" })
        #expect(registered == table, "only registered: \(registered.subtracting(table)); only in the table: \(table.subtracting(registered))")
    }

    @Test("A device route is not reached with an admin token, nor an admin route with a device's headers",
          arguments: ["/api/v1/device/checkin", "/api/v1/device/events"])
    func deviceRoutesNeedADevice(path: String) async throws {
        let fixture = try await Fixture()
        try await fixture.test { client in
            try await client.execute(uri: path, method: .post, headers: fixture.bearer(.admin), body: ByteBuffer(string: "{}")) { response in
                #expect(response.status == .unauthorized)
                #expect(String(buffer: response.body).contains("the device token is not valid"))
            }
        }
    }

    @Test("An admin route refuses no token (401), a lesser role (403), and takes the role it needs", arguments: [
        ("/api/v1/deployments", HTTPRequest.Method.get, AdminAPI.Role.viewer),
        ("/api/v1/enrollment-tokens", .get, .operator),
        ("/api/v1/audit", .get, .admin),
    ])
    func adminRoles(path: String, method: HTTPRequest.Method, role: AdminAPI.Role) async throws {
        let fixture = try await Fixture()
        try await fixture.test { client in
            try await client.execute(uri: path, method: method) { #expect($0.status == .unauthorized) }
            for lesser in AdminAPI.Role.allCases where !lesser.allows(role) {
                try await client.execute(uri: path, method: method, headers: fixture.bearer(lesser)) { #expect($0.status == .forbidden) }
            }
            try await client.execute(uri: path, method: method, headers: fixture.bearer(role)) { #expect($0.status == .ok) }
        }
    }

    @Test("A path parameter that is not a valid name is a 400 naming what it should be, before any handler runs")
    func typedPathParameters() async throws {
        let fixture = try await Fixture()
        try await fixture.test { client in
            try await client.execute(uri: "/api/v1/devices/bad%20id", method: .get, headers: fixture.bearer(.viewer)) { response in
                #expect(response.status == .badRequest)
                #expect(String(buffer: response.body).contains("is not a valid device id"))
            }
            try await client.execute(uri: "/api/v1/deployments/..", method: .get, headers: fixture.bearer(.viewer)) {
                #expect($0.status == .badRequest || $0.status == .notFound)
            }
            try await client.execute(uri: "/api/v1/devices/bad%zzid", method: .get, headers: fixture.bearer(.viewer)) {
                #expect($0.status == .badRequest, "malformed percent-encoding is refused")
            }
        }
    }

    @Test("A path parameter is percent-decoded: a version with build metadata, escaped as clients escape '+', names the bundle")
    func percentDecodedParameters() async throws {
        let fixture = try await Fixture()
        try await fixture.test { client in
            try await client.execute(uri: "/api/v1/bundles/m/1.0.0%2Bbuild.7", method: .get, headers: fixture.bearer(.viewer)) { response in
                #expect(response.status == .notFound, "a valid version that is not published: \(String(buffer: response.body))")
                #expect(String(buffer: response.body).contains("1.0.0+build.7"))
            }
        }
    }

    @Test("An operator's write is in this instance's cache when the answer comes: a paused deployment stops being offered at once")
    func readYourWrites() async throws {
        let fixture = try await Fixture()
        let bundle = try TestBundle("digits", "1.0.0", files: ["model.onnx": [1, 2, 3]], signer: fixture.releaseKey)
        let blob = bundle.files["model.onnx"]!
        try await fixture.test { client in
            try await client.execute(uri: "/api/v1/content/\(SHA256Digest.of(blob).hex)", method: .put, headers: fixture.bearer(.publisher),
                                     body: ByteBuffer(bytes: blob)) { #expect($0.status == .created) }
            try await client.execute(uri: "/api/v1/bundles", method: .post, headers: fixture.bearer(.publisher),
                                     body: ByteBuffer(bytes: try bundle.envelope.encoded())) { #expect($0.status == .created) }
            let request = #"{"bundle_name":"digits","version":"1.0.0","target":{"all":true}}"#
            var id: DeploymentID?
            try await client.execute(uri: "/api/v1/deployments", method: .post, headers: fixture.bearer(.operator), body: ByteBuffer(string: request)) { response in
                #expect(response.status == .created)
                id = try StrictJSON.decode(AdminAPI.Deployment.self, from: Array(buffer: response.body), what: "deployment").id
            }
            let deployment = try #require(id)
            #expect(fixture.services.fleet.cache.state.withLock { $0.live.first { $0.plan.id == deployment }?.plan.status } == .active)
            try await client.execute(uri: "/api/v1/deployments/\(deployment)/pause", method: .post, headers: fixture.bearer(.operator)) {
                #expect($0.status == .ok)
            }
            #expect(fixture.services.fleet.cache.state.withLock { $0.live.first { $0.plan.id == deployment }?.plan.status } == .paused)
        }
    }
}
