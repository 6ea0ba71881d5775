import Foundation
import OTAClient
import OTACore
import TestSupport
import Testing

/// A real SWUpdate (Debian's, in suricatta mode) against a real ota-server: the DDI API as
/// hawkBit's most common client reads it. `scripts/install-deps.sh test` installs SWUpdate.
@Suite("SWUpdate's suricatta updates from ota-server", .serialized)
struct SWUpdateClientTests {
    static let swupdate = "/usr/bin/swupdate"

    /// A signed .swu: a file into `target` and a script that writes a marker there (or fails).
    struct Image {
        let bytes: [UInt8]
        let ca: String

        init(dir: TemporaryDirectory, target: String, version: String, scriptFails: Bool = false) throws {
            let work = dir.file("swu-\(version)-\(scriptFails)")
            try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
            func openssl(_ arguments: [String]) throws {
                let result = try run("openssl", arguments, directory: work)
                guard result.status == 0 else { throw TestFailure("openssl \(arguments.first ?? ""): \(result)") }
            }
            // A CA and a signing certificate for emailProtection, as SWUpdate's CMS check wants.
            try dir.write("ext.cnf", Array("[signer]\nkeyUsage=digitalSignature\nextendedKeyUsage=emailProtection\n".utf8))
            try openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
                         "-days", "2", "-subj", "/CN=ota test CA", "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=keyCertSign"])
            try openssl(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "signer.key", "-out", "signer.csr",
                         "-subj", "/CN=ota test signer"])
            try openssl(["x509", "-req", "-in", "signer.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", "signer.pem",
                         "-days", "2", "-extfile", dir.file("ext.cnf"), "-extensions", "signer"])
            let payload = Array("payload \(version)\n".utf8)
            let script = Array("""
                #!/bin/sh
                # SWUpdate runs shell scripts with preinst or postinst.
                if [ "$1" = "postinst" ]; then \(scriptFails ? "echo failing on purpose >&2; exit 1" : "echo \(version) > \(target)/script-ran") ; fi
                exit 0

                """.utf8)
            try FileSystem.writeAtomically(payload, to: work + "/payload.txt")
            try FileSystem.writeAtomically(script, to: work + "/install.sh")
            let description = """
                software = {
                    version = "\(version)";
                    hardware-compatibility = ["1.0"];
                    files: (
                        {
                            filename = "payload.txt";
                            path = "\(target)/payload.txt";
                            sha256 = "\(SHA256Digest.of(payload).hex)";
                        }
                    );
                    scripts: (
                        {
                            filename = "install.sh";
                            type = "shellscript";
                            sha256 = "\(SHA256Digest.of(script).hex)";
                        }
                    );
                }

                """
            try FileSystem.writeAtomically(Array(description.utf8), to: work + "/sw-description")
            try openssl(["cms", "-sign", "-in", "sw-description", "-out", "sw-description.sig", "-signer", "signer.pem", "-inkey", "signer.key",
                         "-outform", "DER", "-nosmimecap", "-binary"])
            let archive = try run("/bin/sh", ["-c", "printf 'sw-description\\nsw-description.sig\\npayload.txt\\ninstall.sh\\n' | cpio -o -H crc --quiet > image.swu"],
                                  directory: work)
            guard archive.status == 0 else { throw TestFailure("cpio: \(archive)") }
            bytes = Array(try Data(contentsOf: URL(fileURLWithPath: work + "/image.swu")))
            ca = work + "/ca.pem"
        }
    }

    /// SWUpdate polling the server as device `id`, until stopped.
    final class Client {
        let process = Process()
        let log: String

        init(server: TestServer, device: DDITestClient, ca: String, confirm: Int? = nil, dir: TemporaryDirectory) throws {
            log = dir.file("swupdate-\(device.id)-\(confirm ?? 0).log")
            FileManager.default.createFile(atPath: log, contents: nil)
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
            var suricatta = "-t default -u \(server.url) -i \(device.id) -k \(device.token) -p 1"
            if let confirm { suricatta += " -c \(confirm)" }
            process.executableURL = URL(fileURLWithPath: SWUpdateClientTests.swupdate)
            process.arguments = ["-v", "-k", ca, "-H", "gw-board:1.0", "-u", suricatta]
            process.standardOutput = handle
            process.standardError = handle
            try process.run()
        }

        /// Stops SWUpdate and the helpers it forked: politely, then for sure, within seconds.
        func stop() {
            guard process.isRunning else { return }
            let pid = process.processIdentifier
            for child in Self.descendants(of: pid) + [pid] { kill(child, SIGTERM) }
            let deadline = Date().addingTimeInterval(3)
            while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
            for child in Self.descendants(of: pid) + [pid] { kill(child, SIGKILL) }
            process.waitUntilExit()
        }

        /// Every process below `pid`, from /proc.
        static func descendants(of pid: pid_t) -> [pid_t] {
            var children: [pid_t: [pid_t]] = [:]
            for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
                guard let child = pid_t(entry), let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
                      let close = stat.lastIndex(of: ")") else { continue }
                let fields = stat[stat.index(after: close)...].split(separator: " ")
                if fields.count > 1, let parent = pid_t(fields[1]) { children[parent, default: []].append(child) }
            }
            var result: [pid_t] = []
            var queue = children[pid] ?? []
            while let next = queue.popLast() {
                result.append(next)
                queue += children[next] ?? []
            }
            return result
        }

        var output: String { (try? String(contentsOfFile: log, encoding: .utf8)) ?? "" }
    }

    @Test("SWUpdate downloads a signed image, installs it, reports proceeding, and after its restart with -c 2 the device counts succeeded",
          .enabled(if: FileManager.default.isExecutableFile(atPath: swupdate), "SWUpdate is not installed: run scripts/install-deps.sh test"))
    func installs() throws {
        let dir = TemporaryDirectory("ota-swupdate")
        let target = dir.file("target")
        try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true)
        let image = try Image(dir: dir, target: target, version: "1.0.0")
        let server = try TestServer(pollInterval: 1, tuf: true)
        let device = try server.addDDIDevice("gw-1")
        let deployment = try server.deployImage(bytes: image.bytes)
        let client = try Client(server: server, device: device, ca: image.ca, dir: dir)
        defer { client.stop() }
        try eventually(timeout: 60, "SWUpdate installs the image and says so") {
            (try server.admin().deployment(deployment.id).counts.installing == 1) && FileManager.default.fileExists(atPath: target + "/script-ran")
        }
        #expect(String(decoding: try Data(contentsOf: URL(fileURLWithPath: target + "/payload.txt")), as: UTF8.self) == "payload 1.0.0\n", "\(client.output)")
        client.stop()
        // After the reboot SWUpdate expects, it confirms the update.
        let confirming = try Client(server: server, device: device, ca: image.ca, confirm: 2, dir: dir)
        defer { confirming.stop() }
        try eventually(timeout: 60, "the restarted SWUpdate confirms success") { try server.admin().deployment(deployment.id).counts.succeeded == 1 }
        let status = try server.admin().deployment(deployment.id)
        #expect(status.counts.byState == (try server.recountFromEvents(deployment.id.rawValue)))
    }

    @Test("An image whose script fails is reported failed by SWUpdate, and the staged rollout pauses on its threshold",
          .enabled(if: FileManager.default.isExecutableFile(atPath: swupdate), "SWUpdate is not installed: run scripts/install-deps.sh test"))
    func failurePauses() throws {
        let dir = TemporaryDirectory("ota-swupdate")
        let target = dir.file("target")
        try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true)
        let image = try Image(dir: dir, target: target, version: "2.0.0", scriptFails: true)
        let server = try TestServer(pollInterval: 1, tuf: true)
        let device = try server.addDDIDevice("gw-1")
        let deployment = try server.deployImage(bytes: image.bytes, threshold: 1)
        let client = try Client(server: server, device: device, ca: image.ca, dir: dir)
        defer { client.stop() }
        try eventually(timeout: 60, "SWUpdate reports the failure and the rollout pauses") {
            try server.admin().deployment(deployment.id).status == .paused
        }
        let status = try server.admin().deployment(deployment.id)
        #expect(status.counts.failed == 1, "\(client.output.suffix(2000))")
        #expect(!FileManager.default.fileExists(atPath: target + "/script-ran"))
    }

    @Test("A deployment cancelled before SWUpdate downloads it is acknowledged, and nothing is installed",
          .enabled(if: FileManager.default.isExecutableFile(atPath: swupdate), "SWUpdate is not installed: run scripts/install-deps.sh test"))
    func cancelled() throws {
        let dir = TemporaryDirectory("ota-swupdate")
        let target = dir.file("target")
        try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true)
        let image = try Image(dir: dir, target: target, version: "3.0.0")
        let server = try TestServer(pollInterval: 1, tuf: true)
        let device = try server.addDDIDevice("gw-1")
        let deployment = try server.deployImage(bytes: image.bytes)
        // The device joins (its first poll), then the operator cancels before SWUpdate runs.
        #expect(try device.poll().links["deploymentBase"] != nil)
        _ = try server.admin(.operator).control(deployment.id, .cancel)
        let client = try Client(server: server, device: device, ca: image.ca, dir: dir)
        defer { client.stop() }
        try eventually(timeout: 60, "SWUpdate acknowledges the cancellation") { try server.admin().deployment(deployment.id).counts.failed == 1 }
        #expect(!FileManager.default.fileExists(atPath: target + "/payload.txt"), "\(client.output.suffix(2000))")
        #expect(try device.poll().links["cancelAction"] == nil)
    }
}
