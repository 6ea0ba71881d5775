import Foundation
import OTAClient
import OTACore
import TestSupport
import Testing

/// Admin credentials stay where they belong: never in clear text to another host, not on the
/// command line if the operator does not want it there, not forever, and /metrics can be closed.
@Suite("Admin credentials", .tags(.database))
struct AdminCredentialTests {
    @Test("Plain http is allowed only to a loopback host as curl parses it, so the token never goes out in clear text",
          arguments: ["http://127.0.0.1@example.invalid/", "http://localhost.example.invalid/", "http://127.0.0.1.example.invalid/",
                      "http://example.invalid/?127.0.0.1", "http://[::2]/"])
    func loopbackIsParsedNotPrefixed(url: String) throws {
        let result = try otactl(["bundles", "list", "--server", url, "--token", "ota_adm_x"])
        #expect(result.status == 1 && result.stderr.contains("refusing plain http"), "\(url): \(result)")
    }

    @Test("The admin token may come from a file or the environment instead of the command line")
    func tokenFromFileOrEnvironment() throws {
        let server = try TestServer()
        let dir = TemporaryDirectory("token")
        let file = try dir.write("token", server.tokens[.viewer]! + "\n")
        #expect(try otactl(["bundles", "list", "--server", server.url, "--token-file", file]).status == 0)
        #expect(try otactl(["bundles", "list", "--server", server.url], environment: ["OTA_TOKEN_FILE": file]).status == 0)
        let missing = try otactl(["bundles", "list", "--server", server.url], environment: ["OTA_TOKEN": "", "OTA_TOKEN_FILE": dir.file("none")])
        #expect(missing.status == 1 && missing.stderr.contains("cannot read the token file"), "\(missing)")
    }

    @Test("An admin token with --expires-in stops working when it expires")
    func adminTokenExpires() throws {
        // The server's clock moves past the token's ten minutes; the test does not wait for them.
        let clock = try ProcessClock()
        let server = try TestServer(environment: clock.environment)
        let created = try run(Binaries.path("ota-server"), ["token", "create", "--data", server.dataPath, "--role", "viewer",
                                                            "--name", "short", "--expires-in", "10m"] + server.databaseArguments)
        #expect(created.status == 0, "\(created)")
        let token = created.stdout.trimmed
        #expect(try server.request("GET", "/api/v1/bundles", token: token).status == 200)
        try clock.advance(seconds: 601)
        #expect(try server.request("GET", "/api/v1/bundles", token: token).status == 401)
        let refused = try run(Binaries.path("ota-server"), ["token", "create", "--data", server.dataPath, "--role", "viewer", "--expires-in", "soon"] + server.databaseArguments)
        #expect(refused.status == 64)
    }

    @Test("With --metrics-need-token, /metrics answers only a viewer token")
    func metricsCanRequireAToken() throws {
        let server = try TestServer(arguments: ["--metrics-need-token"])
        #expect(try server.request("GET", "/metrics").status == 401)
        #expect(try server.request("GET", "/metrics", token: server.tokens[.viewer]).status == 200)
    }
}
