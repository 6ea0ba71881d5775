import Foundation
import OTACore

/// A PostgreSQL server of a test's own (scripts/postgres.sh), for tests that stop and start
/// the database under a running ota-server: the shared one (OTA_TEST_POSTGRES) serves every
/// other test at the same time.
public final class TestPostgres: @unchecked Sendable {
    public static var script: String { DemoApp.repository + "/scripts/postgres.sh" }
    public let dir: String
    public private(set) var url = ""
    public private(set) var port = 0

    public init() throws {
        dir = "/tmp/ota-test-pg-\(Hex.encode(SecureRandom.bytes(4)))"
        try start()
    }

    deinit {
        stop()
        try? FileManager.default.removeItem(atPath: dir)
    }

    /// Starts it (again, on the same data and port, after `stop`).
    public func start() throws {
        let result = try run("/bin/bash", [Self.script, "start", dir] + (port > 0 ? [String(port)] : []))
        guard result.status == 0 else { throw TestFailure("postgres.sh start failed: \(result)") }
        url = result.stdout.trimmed
        port = Int(url.split(separator: ":").last ?? "") ?? 0
    }

    /// Stops it at once (`-m immediate`: like a crash of the database server).
    public func stop() {
        _ = try? run("/bin/bash", [Self.script, "stop", dir])
    }

    /// A new database on it, as a URL.
    public func newDatabase() throws -> String {
        let name = "ota_\(Hex.encode(SecureRandom.bytes(6)))"
        let result = try run("/usr/bin/createdb", ["-h", "127.0.0.1", "-p", String(port), "-U", "postgres", name])
        guard result.status == 0 else { throw TestFailure("createdb failed: \(result)") }
        return "\(url)/\(name)"
    }
}
