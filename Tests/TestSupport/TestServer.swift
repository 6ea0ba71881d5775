import Foundation
import Testing
import OTAClient
import OTACore

/// A real `ota-server` process on 127.0.0.1 with a real SQLite file in a temporary folder,
/// with a signing key, a trust root and one admin-API token per role.
public final class TestServer: @unchecked Sendable {
    public let dir: TemporaryDirectory
    public let key: Ed25519PrivateKey
    public let trustPath: String
    public var dataPath: String { dir.file("data") }
    public private(set) var url = ""
    public private(set) var tokens: [AdminAPI.Role: String] = [:]
    private var process: Process?
    private var output: Pipe?
    private let extraArguments: [String]
    /// `--database URL` when the server runs on PostgreSQL (OTA_TEST_POSTGRES), else empty.
    /// Set it (then `restart()`) to move the server to another database.
    public var databaseArguments: [String]
    private let environment: [String: String]
    /// The port to listen on; 0 lets the kernel choose (a fixed one survives restarts, for a
    /// load balancer in front).
    public let port: Int

    /// With `tuf`, the keys of the server's TUF root (its release key is `key`).
    public let tuf: TUFKeys?

    /// `tuf: true` starts the server with a TUF root (release key `key`, online key
    /// `tuf.online`) instead of a legacy trust root.
    public init(pollInterval: Int = 1, arguments: [String] = [], tuf: Bool = false, rootAlsoSignedByReleaseKey: Bool = false,
                rootExpiresIn: Int64 = 365 * 86_400, environment: [String: String] = [:], database: TestDatabase = .automatic,
                port: Int = 0) throws {
        dir = TemporaryDirectory("ota-server")
        self.port = port
        self.environment = environment
        key = try Ed25519PrivateKey.generate()
        try KeyFiles.writePrivateKey(key, to: dir.file("release.key"))
        trustPath = dir.file("trust.json")
        var trustArguments: [String] = []
        if tuf {
            let keys = try TUFKeys(release: key)
            try KeyFiles.writePrivateKey(keys.online, to: dir.file("online.key"))
            try FileSystem.writeAtomically(try keys.signedRoot(keys.root(version: 1, expiresIn: rootExpiresIn), also: rootAlsoSignedByReleaseKey ? [key] : []),
                                           to: trustPath)
            trustArguments = ["--online-key", dir.file("online.key")]
            self.tuf = keys
        } else {
            try FileSystem.writeAtomically(try TrustRoot(keys: [key.publicKey], threshold: 1).encoded(), to: trustPath)
            self.tuf = nil
        }
        // With OTA_TEST_POSTGRES (scripts/postgres.sh), every server gets a new PostgreSQL database.
        let chosen: [String]
        switch database {
        case .automatic: chosen = try Self.newPostgresDatabase().map { ["--database", $0] } ?? []
        case .sqlite: chosen = []
        case .url(let url): chosen = ["--database", url]
        }
        databaseArguments = chosen
        // Tests register whole simulated fleets at once; the default limit is for the field.
        extraArguments = ["--poll-interval", String(pollInterval), "--registrations-per-minute", "1000000", "--failed-attempts-per-minute", "100000"] + trustArguments + arguments
        for role in AdminAPI.Role.allCases {
            let result = try run(Binaries.path("ota-server"), ["token", "create", "--data", dataPath, "--role", role.rawValue, "--name", "test-\(role.rawValue)"] + chosen)
            guard result.status == 0 else { throw TestFailure("token create failed: \(result)") }
            tokens[role] = result.stdout.trimmed
        }
        try start()
    }

    /// Another instance of `other`'s server: the same database, trust root, keys and tokens,
    /// a data folder of its own (several instances behind a load balancer).
    public init(peerOf other: TestServer, arguments: [String] = [], port: Int = 0) throws {
        dir = TemporaryDirectory("ota-server-peer")
        self.port = port
        environment = other.environment
        key = other.key
        trustPath = other.trustPath
        tuf = other.tuf
        tokens = other.tokens
        databaseArguments = other.databaseArguments
        extraArguments = other.extraArguments + arguments
        try start()
    }

    deinit { stop() }

    /// Runs SQL on the server's database with that database's own client (sqlite3, or psql on
    /// PostgreSQL): one line per row, columns separated by a space.
    @discardableResult
    public func sql(_ statement: String) throws -> ProcessResult {
        if let url = databaseArguments.last, url.hasPrefix("postgres") {
            return try run("/usr/bin/psql", ["-X", "-q", "-At", "-F", " ", "-v", "ON_ERROR_STOP=1", url, "-c", statement])
        }
        return try run("/usr/bin/sqlite3", ["-separator", " ", databaseArguments.last ?? dataPath + "/registry.sqlite", statement])
    }

    /// Records a migration this server does not know, as a newer server would have.
    public func addUnknownMigration(_ name: String) throws {
        let table = databaseArguments.isEmpty ? "grdb_migrations (identifier) VALUES ('\(name)')"
            : "schema_migrations (identifier, applied_at) VALUES ('\(name)', 'now')"
        let result = try sql("INSERT INTO \(table)")
        guard result.status == 0 else { throw TestFailure("cannot add a migration: \(result)") }
    }

    /// The database's own consistency check: "ok" when sound (PostgreSQL keeps itself
    /// consistent through crashes; its check is that it answers).
    public func integrityCheck() throws -> String {
        if databaseArguments.isEmpty { return try sql("PRAGMA integrity_check").stdout.trimmed }
        return try sql("SELECT 'ok'").stdout.trimmed
    }

    /// The PostgreSQL server the tests run against (`postgres://USER@HOST:PORT`), if any.
    public static var postgres: String? {
        ProcessInfo.processInfo.environment["OTA_TEST_POSTGRES"].flatMap { $0.isEmpty ? nil : $0 }
    }

    /// A new, empty database on `postgres`, as a URL; nil when the tests run on SQLite.
    public static func newPostgresDatabase() throws -> String? {
        guard let base = postgres, let hostPart = base.split(separator: "@").last else { return nil }
        let name = "ota_\(Hex.encode(SecureRandom.bytes(6)))"
        let host = hostPart.split(separator: ":").first.map(String.init) ?? "127.0.0.1"
        let port = hostPart.split(separator: ":").dropFirst().first.map(String.init) ?? "5432"
        let user = base.dropFirst("postgres://".count).split(separator: "@").first.map(String.init) ?? "postgres"
        let result = try run("/usr/bin/createdb", ["-h", host, "-p", port, "-U", user, name])
        guard result.status == 0 else { throw TestFailure("createdb \(name) failed: \(result)") }
        return "\(base)/\(name)"
    }

    public var logPath: String { dir.file("server.log") }

    /// Starts the server and waits for its "listening on" line.
    public func start() throws {
        let process = Process()
        let arguments = ["serve", "--data", dataPath, "--listen", "127.0.0.1:\(port)", "--trust", trustPath, "--log-level", "warning"] + extraArguments + databaseArguments
        if ProcessClock.startsThroughEnv(environment) {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = [Binaries.path("ota-server")] + arguments
        } else {
            process.executableURL = URL(fileURLWithPath: Binaries.path("ota-server"))
            process.arguments = arguments
        }
        if !environment.isEmpty { process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
        let pipe = Pipe()
        process.standardOutput = pipe
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        log.seekToEndOfFile()
        process.standardError = log
        try process.run()
        self.process = process
        output = pipe
        var buffer = Data()
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            let chunk = pipe.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            buffer.append(chunk)
            let text = String(decoding: buffer, as: UTF8.self)
            if let range = text.range(of: "listening on ") {
                url = String(text[range.upperBound...].prefix { $0 != "\n" })
                return
            }
        }
        throw TestFailure("ota-server did not start: \(String(decoding: buffer, as: UTF8.self)) \((try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "")")
    }

    /// SIGTERM: the server drains and flushes, and must be gone within `shutdownDeadline`; one
    /// that is not is killed and the test fails with the end of its log, instead of waiting
    /// without end.
    public func stop() {
        guard let process, process.isRunning else { return }
        process.terminate()
        let deadline = Date().addingTimeInterval(Self.shutdownDeadline)
        while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        if process.isRunning {
            Foundation.kill(process.processIdentifier, SIGKILL)
            let log = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" // No log yet: the message says so by being empty.
            Issue.record("ota-server did not exit within \(Int(Self.shutdownDeadline)) s of SIGTERM; the end of its log:\n\(log.suffix(4_000))")
        }
        process.waitUntilExit()
        self.process = nil
    }

    public static let shutdownDeadline: TimeInterval = 30

    /// SIGKILL: a crash, nothing flushed.
    public func kill() {
        guard let process, process.isRunning else { return }
        Foundation.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        self.process = nil
    }

    public func restart() throws {
        stop()
        try start()
    }

    public var isRunning: Bool { process?.isRunning ?? false }

    public func httpConfiguration(caFile: String? = nil) -> HTTPClientConfiguration {
        HTTPClientConfiguration(baseURL: url, caFile: caFile, allowInsecureHTTP: true)
    }

    public func admin(_ role: AdminAPI.Role = .admin, caFile: String? = nil) throws -> AdminClient {
        try AdminClient(httpConfiguration(caFile: caFile), token: tokens[role]!)
    }

    /// A raw request, for the cases typed clients cannot express (bad input, odd headers).
    public func request(_ method: String, _ path: String, token: String? = nil, headers: [String: String] = [:],
                        body: [UInt8]? = nil, contentType: String? = "application/json") throws -> HTTPResult {
        let client = try HTTPClient(httpConfiguration())
        var all = headers
        if let token { all["Authorization"] = "Bearer \(token)" }
        if body != nil, let contentType { all["Content-Type"] = contentType }
        return try client.send(method, path, headers: all, body: body.map { .bytes($0) } ?? .none)
    }

    /// A raw device-API request signed with `device`'s session, as the agent signs them.
    public func request(_ method: String, _ path: String, device: DeviceClient, headers: [String: String] = [:],
                        body: [UInt8]? = nil, contentType: String? = "application/json") throws -> HTTPResult {
        let signed = try device.signedHeaders(method, path, body: body ?? [])
        return try request(method, path, headers: headers.merging(signed) { _, signature in signature }, body: body, contentType: contentType)
    }

    public func request(_ method: String, _ path: String, role: AdminAPI.Role, json: String? = nil) throws -> HTTPResult {
        try request(method, path, token: tokens[role], body: json.map { Array($0.utf8) })
    }

    /// The value of one Prometheus counter from /metrics.
    public func metric(_ name: String) throws -> Double {
        let text = String(decoding: try request("GET", "/metrics").body, as: UTF8.self)
        for line in text.split(separator: "\n") where line.hasPrefix(name + " ") {
            return Double(line.split(separator: " ").last ?? "") ?? 0
        }
        return 0
    }

    // MARK: Fixtures

    /// Creates, signs and publishes a bundle from `files`; returns the bundle file's path.
    @discardableResult
    public func publish(name: String, version: String, files: [String: [UInt8]], compatible: [String] = ["test-hw"],
                        kind: String = "model", healthCommand: String? = nil, signer: Ed25519PrivateKey? = nil,
                        caFile: String? = nil, chunked: Bool = true, variants: [Manifest.Variant]? = nil) throws -> String {
        let source = dir.file("src-\(name)-\(version)-\(Hex.encode(SecureRandom.bytes(3)))")
        for (path, bytes) in files { try dir.write(String(source.dropFirst(dir.path.count + 1)) + "/" + path, bytes) }
        let output = dir.file("\(name)-\(version).otab")
        try BundleWriter.create(from: source, options: .init(name: try BundleName(name), version: try SemanticVersion(version), kind: try BundleKind(kind),
                                                             compatible: try compatible.map { try HardwareClass($0) }, healthCommand: healthCommand,
                                                             chunked: chunked, variants: variants),
                                key: signer ?? key, output: output)
        let result = try otactl(["publish", output, "--server", url, "--token", tokens[.publisher]!] + (caFile.map { ["--ca-file", $0] } ?? []))
        guard result.status == 0 else { throw TestFailure("publish failed: \(result)") }
        return output
    }

    public func enrollmentToken(maxUses: Int? = nil) throws -> String {
        guard let token = try admin(.operator).createEnrollmentToken(.init(maxUses: maxUses ?? 10_000, autoAccept: true)).token else {
            throw TestFailure("no token")
        }
        return token
    }

    /// Registers a device through the device API with a fresh key and returns a client that
    /// signs its requests with it.
    /// With `tags` (and no `enrollment`), registers with a token that gives those tags.
    public func registerDevice(_ id: String, hardware: String = "test-hw", tags: [String]? = nil, attributes: [String: String]? = nil,
                               enrollment: String? = nil, key: Ed25519PrivateKey? = nil) throws -> DeviceClient {
        let key = try key ?? Ed25519PrivateKey.generate()
        var enrollment = enrollment
        if let tags, enrollment == nil {
            enrollment = try admin(.operator).createEnrollmentToken(.init(tags: try tags.map { try Tag($0) }, autoAccept: true)).token
        }
        let deviceID = try DeviceID(id)
        let client = try DeviceClient(httpConfiguration(), credentials: .key(deviceID: deviceID, key: key))
        _ = try client.register(.init(enrollmentToken: try enrollment ?? enrollmentToken(), deviceID: deviceID, hardware: try HardwareClass(hardware),
                                      attributes: attributes, publicKey: Base64.encode(key.publicKey.raw),
                                      proof: try DeviceProof.sign(.register, deviceID: deviceID, key: key)))
        return client
    }

    public func deploy(_ name: String, _ version: String, target: AdminAPI.Target = .everyCompatibleDevice,
                       phases: [AdminAPI.Phase]? = nil, caFile: String? = nil) throws -> AdminAPI.Deployment {
        try admin(.operator, caFile: caFile).createDeployment(.init(bundleName: try BundleName(name), version: try SemanticVersion(version),
                                                                    target: target, phases: phases))
    }
}

public struct TestFailure: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Which database a `TestServer` keeps its registry in.
public enum TestDatabase: Sendable {
    /// A new PostgreSQL database with OTA_TEST_POSTGRES, else SQLite in the data folder.
    case automatic
    /// SQLite whatever the run (a test of moving to PostgreSQL).
    case sqlite
    /// This database.
    case url(String)
}

/// Polls `condition` until it holds or `timeout` passes.
public func eventually(timeout: Double = 20, _ what: String = "condition", _ condition: () throws -> Bool) throws {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if try condition() { return }
        Thread.sleep(forTimeInterval: 0.1)
    }
    throw TestFailure("timed out waiting for \(what)")
}

extension DeviceClient {
    /// The same device (key and session) talking to another instance of its server.
    public func withServer(_ server: TestServer) throws -> DeviceClient {
        let client = try DeviceClient(server.httpConfiguration(), credentials: credentials)
        client.session = session
        return client
    }
}
