import Foundation
import OTACore

/// A device: an `ota-agent` config and state folder, run as a real process against a
/// `TestServer`.
public final class TestAgent: @unchecked Sendable {
    public let server: TestServer
    public let id: String
    public let dir: TemporaryDirectory
    public var configPath: String { dir.file("agent.json") }
    public var statePath: String { dir.file("state") }
    public var config: [String: Any]
    /// Things that must live as long as the device, such as a proxy in front of its server.
    public var attachments: [AnyObject] = []
    /// The device's time of day, when the test moves it (`ota-agent` runs on it).
    public var clock: ProcessClock?

    public init(_ server: TestServer, id: String, hardware: String = "test-hw", extra: [String: Any] = [:], enrollment: String? = nil) throws {
        self.server = server
        self.id = id
        dir = TemporaryDirectory("ota-agent-\(id)")
        config = [
            "server_url": server.url, "device_id": id, "hardware": hardware, "enrollment_token": try enrollment ?? server.enrollmentToken(),
            "trust_root": server.trustPath, "state_dir": dir.file("state"), "allow_insecure_http": true,
            "health_command": ["/bin/sh", "-c", "exit 0"],
        ]
        for (key, value) in extra { config[key] = value }
        try writeConfig()
    }

    public func writeConfig() throws {
        try FileSystem.writeAtomically(Array(try JSONSerialization.data(withJSONObject: config, options: [.prettyPrinted, .sortedKeys])), to: configPath)
    }

    /// `ota-agent once`, optionally crashing at a step.
    @discardableResult
    public func once(crashAt step: String? = nil) throws -> ProcessResult {
        var environment = clock?.environment ?? [:]
        if let step { environment["OTA_AGENT_CRASH_AT"] = step }
        return try run(Binaries.path("ota-agent"), ["once", "--config", configPath], environment: environment)
    }

    public func status() throws -> [String: Any] {
        let result = try run(Binaries.path("ota-agent"), ["status", "--config", configPath, "--json"], environment: clock?.environment ?? [:])
        return (try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]) ?? [:]
    }

    /// Where `current/NAME` points, as a slot name, or nil.
    public func currentSlot(_ name: String) -> String? {
        FileSystem.readSymlink(statePath + "/current/" + name).map { FileSystem.basename(of: $0) }
    }

    /// Throws unless `current/NAME` names a slot whose files all match `files` exactly.
    public func checkCurrentSlot(_ name: String, holds files: [String: [UInt8]]) throws {
        guard let slot = currentSlot(name) else { throw TestFailure("current/\(name) does not exist") }
        let folder = statePath + "/slots/\(name)/\(slot)"
        let present = try Self.files(under: folder)
        guard present == files.keys.sorted() else { throw TestFailure("slot \(slot) holds \(present), expected \(files.keys.sorted())") }
        for (path, bytes) in files where try FileSystem.readFile(folder + "/" + path, limit: 1 << 28) != bytes {
            throw TestFailure("slot \(slot): \(path) differs from the bundle")
        }
    }

    static func files(under folder: String, prefix: String = "") throws -> [String] {
        var out: [String] = []
        for name in try FileSystem.list(folder) {
            let path = folder + "/" + name
            if FileSystem.kind(of: path) == .directory { out += try files(under: path, prefix: prefix + name + "/") } else { out.append(prefix + name) }
        }
        return out.sorted()
    }

    public var journalExists: Bool { !((try? FileSystem.list(statePath + "/journal")) ?? []).isEmpty }
}
