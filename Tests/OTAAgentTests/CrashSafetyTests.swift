import Foundation
import OTAClient
import OTACore
import TestSupport
import Testing

/// Power cuts at every step: the agent is killed (exit 99, no cleanup) right after a journal
/// step, started again, and must end committed or rolled back with the server told.
@Suite("Crash safety at every journal step")
struct CrashSafetyTests {
    static let v1 = ["model.onnx": (0..<200_000).map { UInt8(truncatingIfNeeded: $0 &* 3) }, "labels.txt": Array("0\n1\n".utf8)]
    static let v2 = ["model.onnx": (0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 5) }, "labels.txt": Array("0\n1\n".utf8)]

    static let commitSteps = ["verified", "downloading", "download-midway", "downloaded", "staged", "activated", "reloaded",
                              "trial", "committing", "committed"]
    static let rollbackSteps = ["trial", "rolling-back", "rolled-back"]

    /// A device on v1, then v2 deployed; healthy or not.
    func prepare(healthy: Bool) throws -> (TestServer, TestAgent) {
        let server = try TestServer()
        try server.publish(name: "digits", version: "1.0.0", files: Self.v1)
        _ = try server.deploy("digits", "1.0.0")
        let health = healthy ? "exit 0" : #"[ "$OTA_BUNDLE_VERSION" != "2.0.0" ] || { echo "accuracy too low"; exit 1; }"#
        let agent = try TestAgent(server, id: "cam-1", extra: [
            "health_command": ["/bin/sh", "-c", health],
            "reload_command": ["/bin/sh", "-c", "test -d \"$OTA_CURRENT_DIR\" || test \"$OTA_BUNDLE_VERSION\" = none"],
            "max_download_bytes_per_s": 1 << 20,
        ])
        #expect(try agent.once().status == 0)
        try server.publish(name: "digits", version: "2.0.0", files: Self.v2)
        _ = try server.deploy("digits", "2.0.0")
        return (server, agent)
    }

    /// What must hold whenever the agent is not running: `current` names a complete slot.
    func checkCurrentIsComplete(_ agent: TestAgent) throws {
        do { try agent.checkCurrentSlot("digits", holds: Self.v1) } catch {
            try agent.checkCurrentSlot("digits", holds: Self.v2)
        }
    }

    @Test("A crash at any step of a healthy update ends committed, reported, without downloading again from zero",
          arguments: commitSteps)
    func crashDuringHealthyUpdate(step: String) throws {
        let (server, agent) = try prepare(healthy: true)
        let crashed = try agent.once(crashAt: step)
        #expect(crashed.status == 99, "crash hook at \(step) did not fire: \(crashed)")
        try checkCurrentIsComplete(agent)
        let partial = FileSystem.fileSize(agent.statePath + "/downloads/\(SHA256Digest.of(Self.v2["model.onnx"]!).hex).part") ?? 0
        let sentBefore = try server.metric("ota_content_bytes_sent_total")
        let result = try agent.once()
        #expect(result.status == 0, "\(step): \(result)")
        try agent.checkCurrentSlot("digits", holds: Self.v2)
        #expect(!agent.journalExists)
        try eventually("\(step): the server learns the outcome") {
            try server.admin().device("cam-1").device.installed.map(\.version) == ["2.0.0"]
                && (try server.admin().device("cam-1").events.first?.state == .succeeded)
        }
        let sentAfterRestart = try server.metric("ota_content_bytes_sent_total") - sentBefore
        #expect(sentAfterRestart <= Double(UInt64(Self.v2["model.onnx"]!.count) - partial), "\(step): sent \(sentAfterRestart) after restart")
        if ["downloaded", "staged", "activated", "reloaded", "trial", "committing", "committed"].contains(step) {
            #expect(sentAfterRestart == 0, "\(step): nothing should be downloaded again")
        }
    }

    @Test("A crash at any step of an unhealthy update ends rolled back to the old version, reported", arguments: rollbackSteps)
    func crashDuringRollback(step: String) throws {
        let (server, agent) = try prepare(healthy: false)
        let crashed = try agent.once(crashAt: step)
        #expect(crashed.status == 99, "crash hook at \(step) did not fire: \(crashed)")
        try checkCurrentIsComplete(agent)
        _ = try agent.once()
        try agent.checkCurrentSlot("digits", holds: Self.v1)
        #expect(!agent.journalExists)
        try eventually("\(step): the server learns of the rollback") {
            let device = try server.admin().device("cam-1")
            return device.device.installed.map(\.version) == ["1.0.0"] && device.events.contains { $0.state == .rolledBack && $0.version == "2.0.0" }
        }
        // And it is not tried again.
        #expect(try agent.once().status == 0)
        try agent.checkCurrentSlot("digits", holds: Self.v1)
    }

    @Test("A crash during the very first install leaves no current link until the slot is complete")
    func crashDuringFirstInstall() throws {
        let server = try TestServer()
        try server.publish(name: "digits", version: "1.0.0", files: Self.v1)
        _ = try server.deploy("digits", "1.0.0")
        let agent = try TestAgent(server, id: "cam-1", extra: ["max_download_bytes_per_s": 1 << 20])
        for step in ["download-midway", "staged"] {
            #expect(try agent.once(crashAt: step).status == 99)
            #expect(agent.currentSlot("digits") == nil)
        }
        #expect(try agent.once().status == 0)
        try agent.checkCurrentSlot("digits", holds: Self.v1)
    }
}

@Suite("Install handlers for other kinds")
struct HandlerTests {
    /// A handler script that logs its calls and asks for a reboot on the first activate.
    func handler(in dir: TemporaryDirectory, healthy: Bool = true) throws -> String {
        let log = dir.file("handler.log")
        let script = """
        #!/bin/sh
        echo "$1 $OTA_BUNDLE_VERSION ${2:+dir}" >> \(log)
        case "$1" in
          install) test -f "$2/fw.img" || { echo "no image"; exit 1; } ;;
          activate) if [ ! -f \(dir.file("rebooted")) ]; then touch \(dir.file("rebooted")); exit 10; fi ;;
          commit|rollback) ;;
          *) exit 2 ;;
        esac
        """
        let path = try dir.write("handler.sh", script)
        try FileSystem.setPermissions(path, 0o755)
        return path
    }

    @Test("A firmware handler that asks for a reboot: the agent journals it and finishes the trial after the restart")
    func firmwareWithReboot() throws {
        let server = try TestServer()
        try server.publish(name: "fw", version: "5.0.0", files: ["fw.img": [1, 2, 3, 4]], kind: "firmware")
        _ = try server.deploy("fw", "5.0.0")
        let scratch = TemporaryDirectory("handler")
        let agent = try TestAgent(server, id: "plc-1", extra: [
            "handlers": ["firmware": try handler(in: scratch)],
            "reboot_command": ["/bin/sh", "-c", "touch \(scratch.file("reboot-requested"))"],
        ])
        let first = try agent.once()
        #expect(first.status == 3, "\(first)")
        #expect(FileSystem.exists(scratch.file("reboot-requested")))
        let journal = try FileSystem.readText(agent.statePath + "/journal/fw.json")
        #expect(journal.contains("\"step\" : \"awaiting-reboot\""))
        try eventually("server sees the trial version") {
            try server.admin().device("plc-1").device.installed.map { "\($0.version) \($0.state)" } == ["5.0.0 trial"]
        }
        // "After the reboot": the agent starts again.
        #expect(try agent.once().status == 0)
        #expect(!agent.journalExists)
        let calls = try FileSystem.readText(scratch.file("handler.log")).split(separator: "\n").map { $0.trimmed }
        #expect(calls == ["install 5.0.0 dir", "activate 5.0.0", "commit 5.0.0"])
        try eventually("server sees 5.0.0 committed") {
            try server.admin().device("plc-1").device.installed.map { "\($0.version) \($0.state)" } == ["5.0.0 committed"]
        }
    }

    @Test("A firmware update that fails its health check is rolled back through the handler")
    func firmwareRollback() throws {
        let server = try TestServer()
        try server.publish(name: "fw", version: "5.0.0", files: ["fw.img": [1]], kind: "firmware")
        _ = try server.deploy("fw", "5.0.0")
        let scratch = TemporaryDirectory("handler")
        try FileSystem.writeAtomically([], to: scratch.file("rebooted"))
        let agent = try TestAgent(server, id: "plc-1", extra: [
            "handlers": ["firmware": try handler(in: scratch)],
            "health_command": ["/bin/sh", "-c", "echo watchdog tripped; exit 1"],
        ])
        #expect(try agent.once().status == 2)
        let calls = try FileSystem.readText(scratch.file("handler.log")).split(separator: "\n").map { $0.trimmed }
        #expect(calls == ["install 5.0.0 dir", "activate 5.0.0", "rollback 5.0.0"])
        #expect(try server.admin().device("plc-1").events.first?.detail.contains("watchdog tripped") == true)
    }

    @Test("A kind without a handler on the device is refused")
    func unknownKind() throws {
        let server = try TestServer()
        try server.publish(name: "fw", version: "1.0.0", files: ["fw.img": [1]], kind: "bootloader")
        _ = try server.deploy("fw", "1.0.0")
        let agent = try TestAgent(server, id: "plc-1")
        #expect(try agent.once().status == 2)
        #expect(try server.admin().device("plc-1").events.first?.detail.contains("no install handler for kind 'bootloader'") == true)
    }
}

@Suite("Agent configuration")
struct AgentConfigTests {
    @Test("A config with a typo, plain http without consent, or a bad device id is refused with exit 64 and a clear message",
          arguments: [
            ("poll_intervall_s", "5", "unknown field 'poll_intervall_s'"),
            ("allow_insecure_http", "false", "server_url is plain http"),
            ("device_id", "\"bad id\"", "field 'device_id': device id 'bad id' may hold only"),
            ("health_command", "[]", "a command must name a program"),
          ])
    func refusesBadConfig(key: String, json: String, message: String) throws {
        let server = try TestServer()
        let value = try JSONSerialization.jsonObject(with: Data(json.utf8), options: .fragmentsAllowed)
        let agent = try TestAgent(server, id: "cam-1", extra: [key: value])
        let result = try agent.once()
        #expect(result.status == 64)
        #expect(result.stderr.contains(message), "\(result.stderr)")
        #expect(!FileSystem.exists(agent.statePath + "/credentials.json"))
    }

    @Test("An unreachable server makes `once` exit 1 and records the error for `status`")
    func unreachableServer() throws {
        let server = try TestServer()
        let agent = try TestAgent(server, id: "cam-1")
        server.stop()
        let result = try agent.once()
        #expect(result.status == 1)
        let status = try agent.status()
        #expect((status["last_error"] as? String)?.contains("cannot reach the server") == true)
        #expect(status["registered"] as? Bool == false)
    }
}
