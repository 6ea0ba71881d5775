import Foundation
import OTAClient
import OTACore
import TestSupport
import Testing

/// A real RAUC (Debian's `rauc service`, on a private D-Bus, with two file-backed slots) and
/// the `rauc-hawkbit` client from PyPI against a real ota-server: the DDI API as RAUC fleets
/// read it. `scripts/install-deps.sh test` installs RAUC and the client (in `.venv-rauc`,
/// beside Debian's python3-gi, which it imports).
@Suite("RAUC's hawkBit client updates from ota-server", .serialized)
struct RAUCClientTests {
    static let rauc = "/usr/bin/rauc"
    static var client: String { DemoApp.repository + "/.venv-rauc/bin/rauc-hawkbit-client" }
    static var installed: Bool {
        [rauc, "/usr/bin/dbus-daemon", "/usr/bin/dbus-send", "/usr/bin/mksquashfs", client].allSatisfy { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// A board: two raw slots in plain files (A booted, B to install into), a test CA in
    /// RAUC's keyring, RAUC's service on a bus of its own, and the processes to stop.
    final class Board {
        let dir = TemporaryDirectory("ota-rauc")
        let bus: String
        private var processes: [Process] = []
        static let slotBytes = 1 << 20

        init() throws {
            let socket = dir.file("bus.sock")
            bus = "unix:path=\(socket)"
            try FileManager.default.createDirectory(atPath: dir.file("mnt"), withIntermediateDirectories: true)
            try FileManager.default.createDirectory(atPath: dir.file("download"), withIntermediateDirectories: true)
            for slot in ["a", "b"] {
                try FileSystem.writeAtomically([UInt8](repeating: 0, count: Self.slotBytes), to: dir.file("slot-\(slot).img"))
            }
            try openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
                         "-days", "2", "-subj", "/CN=ota test CA", "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign"])
            // RAUC checks the signer's purpose: digitalSignature and no extended key usage will do.
            _ = try dir.write("signer.cnf", "[signer]\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n")
            try openssl(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "signer.key", "-out", "signer.csr",
                         "-subj", "/CN=ota test signer"])
            try openssl(["x509", "-req", "-in", "signer.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", "signer.pem",
                         "-days", "2", "-extfile", "signer.cnf", "-extensions", "signer"])
            _ = try dir.write("system.conf", """
                [system]
                compatible=ota-test-board
                bootloader=noop
                mountprefix=\(dir.file("mnt"))
                statusfile=\(dir.file("rauc.status"))
                bundle-formats=plain verity

                [keyring]
                path=\(dir.file("ca.pem"))

                [slot.rootfs.0]
                device=\(dir.file("slot-a.img"))
                type=raw
                bootname=A

                [slot.rootfs.1]
                device=\(dir.file("slot-b.img"))
                type=raw
                bootname=B

                """)
            // A bus of its own, open to everyone on it: no policy file of the system bus applies.
            _ = try dir.write("bus.conf", """
                <!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN" "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
                <busconfig>
                  <type>custom</type>
                  <listen>unix:path=\(socket)</listen>
                  <auth>EXTERNAL</auth>
                  <policy context="default"><allow user="*"/><allow own="*"/><allow send_destination="*"/><allow receive_sender="*"/></policy>
                </busconfig>

                """)
            try start("/usr/bin/dbus-daemon", ["--config-file=\(dir.file("bus.conf"))", "--nofork", "--nopidfile"], log: "bus.log")
            try eventually(timeout: 10, "the private bus listens") { FileManager.default.fileExists(atPath: socket) }
            // RAUC learns the booted slot from the kernel command line; --override-boot-slot stands in.
            try start(RAUCClientTests.rauc, ["--conf=\(dir.file("system.conf"))", "service", "--override-boot-slot=A"], log: "rauc-service.log")
            try eventually(timeout: 20, "RAUC's service is on the bus") {
                let answer = try run("/usr/bin/dbus-send", ["--system", "--print-reply", "--dest=org.freedesktop.DBus", "/org/freedesktop/DBus",
                                                            "org.freedesktop.DBus.NameHasOwner", "string:de.pengutronix.rauc"], environment: environment)
                return answer.stdout.contains("boolean true")
            }
        }

        /// RAUC and its client reach "the system bus" by this address: here, the private one.
        var environment: [String: String] { ["DBUS_SYSTEM_BUS_ADDRESS": bus] }

        func openssl(_ arguments: [String]) throws {
            let result = try run("openssl", arguments, directory: dir.path)
            guard result.status == 0 else { throw TestFailure("openssl \(arguments.first ?? ""): \(result)") }
        }

        /// A plain bundle of one raw image, signed by the test CA's signer.
        func bundle(version: String, image: [UInt8], compatible: String = "ota-test-board") throws -> [UInt8] {
            let content = dir.file("bundle-\(version)")
            try FileManager.default.createDirectory(atPath: content, withIntermediateDirectories: true)
            try FileSystem.writeAtomically(image, to: content + "/rootfs.img")
            try FileSystem.writeAtomically(Array("""
                [update]
                compatible=\(compatible)
                version=\(version)

                [bundle]
                format=plain

                [image.rootfs]
                filename=rootfs.img

                """.utf8), to: content + "/manifest.raucm")
            let output = dir.file("bundle-\(version).raucb")
            let made = try run(RAUCClientTests.rauc, ["bundle", "--cert=\(dir.file("signer.pem"))", "--key=\(dir.file("signer.key"))",
                                                      "--keyring=\(dir.file("ca.pem"))", content, output])
            guard made.status == 0 else { throw TestFailure("rauc bundle: \(made)") }
            return Array(try Data(contentsOf: URL(fileURLWithPath: output)))
        }

        /// rauc-hawkbit polling `server` as `device`, until the board stops.
        func startClient(_ server: TestServer, _ device: DDITestClient) throws {
            let port = try #require(URL(string: server.url)?.port)
            _ = try dir.write("hawkbit.cfg", """
                [client]
                hawkbit_server = 127.0.0.1:\(port)
                ssl = false
                tenant_id = DEFAULT
                target_name = \(device.id)
                auth_token = \(device.token)
                mac_address = 12:34:56:78:9A:BC
                bundle_download_location = \(dir.file("download/bundle.raucb"))
                log_level = debug

                """)
            try start(RAUCClientTests.client, ["-c", dir.file("hawkbit.cfg"), "-d"], log: "rauc-hawkbit.log", extra: ["PYTHONUNBUFFERED": "1"])
        }

        func slot(_ name: String) throws -> [UInt8] { Array(try Data(contentsOf: URL(fileURLWithPath: dir.file("slot-\(name).img")))) }

        func log(_ name: String) -> String { (try? String(contentsOfFile: dir.file(name), encoding: .utf8)) ?? "" }

        private func start(_ executable: String, _ arguments: [String], log: String, extra: [String: String] = [:]) throws {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: executable)
            process.arguments = arguments
            process.environment = ProcessInfo.processInfo.environment.merging(environment.merging(extra) { $1 }) { $1 }
            FileManager.default.createFile(atPath: dir.file(log), contents: nil)
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: dir.file(log)))
            process.standardOutput = handle
            process.standardError = handle
            try process.run()
            processes.append(process)
        }

        /// Stops the client, then RAUC, then the bus: politely, then for sure, within seconds.
        func stop() {
            for process in processes.reversed() where process.isRunning {
                process.terminate()
                let deadline = Date().addingTimeInterval(5)
                while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
                if process.isRunning { kill(process.processIdentifier, SIGKILL) }
                process.waitUntilExit()
            }
            processes = []
        }

        deinit { stop() }
    }

    @Test("rauc-hawkbit downloads a signed bundle, RAUC installs it into the other slot, and the device counts succeeded",
          .enabled(if: installed, "RAUC or rauc-hawkbit is not installed: run scripts/install-deps.sh test"))
    func installs() throws {
        let board = try Board()
        defer { board.stop() }
        let image = Array("rootfs 1.0.0 from ota-server\n".utf8) + (0..<100_000).map { UInt8(truncatingIfNeeded: $0 &* 13 &+ 5) }
        let bundle = try board.bundle(version: "1.0.0", image: image)
        let server = try TestServer(pollInterval: 1, tuf: true)
        let device = try server.addDDIDevice("rauc-1")
        let deployment = try server.deployImage("rauc-image", bytes: bundle, kind: .rauc)
        try board.startClient(server, device)
        try eventually(timeout: 90, "RAUC installs the bundle and rauc-hawkbit says so") {
            try server.admin().deployment(deployment.id).counts.succeeded == 1
        }
        let slotB = try board.slot("b")
        #expect(Array(slotB.prefix(image.count)) == image, "\(board.log("rauc-hawkbit.log").suffix(3000))")
        #expect(try board.slot("a") == [UInt8](repeating: 0, count: Board.slotBytes), "the booted slot is left alone")
        let status = try server.admin().deployment(deployment.id)
        #expect(status.counts.byState == (try server.recountFromEvents(deployment.id.rawValue)))
        #expect(try device.poll().links["deploymentBase"] == nil, "nothing more to do")
        // Once no action is shown, the server asks for its attributes, and they are kept.
        try eventually(timeout: 30, "rauc-hawkbit sends its configuration data") {
            try server.admin().device(try DeviceID("rauc-1")).device.attributes["MAC"] == "12:34:56:78:9A:BC"
        }
    }

    @Test("rauc-hawkbit refuses a cancellation; before it started, that ends its membership as failed, nothing is installed, and it is not asked again",
          .enabled(if: installed, "RAUC or rauc-hawkbit is not installed: run scripts/install-deps.sh test"))
    func refusesCancel() throws {
        let board = try Board()
        defer { board.stop() }
        let bundle = try board.bundle(version: "2.0.0", image: Array("rootfs 2.0.0\n".utf8))
        let server = try TestServer(pollInterval: 1, tuf: true)
        let device = try server.addDDIDevice("rauc-2")
        let deployment = try server.deployImage("rauc-image", "2.0.0", bytes: bundle, kind: .rauc)
        // The device joins (its first poll), then the operator cancels before the client runs.
        #expect(try device.poll().links["deploymentBase"] != nil)
        _ = try server.admin(.operator).control(deployment.id, .cancel)
        try board.startClient(server, device)
        try eventually(timeout: 60, "rauc-hawkbit answers the cancellation") { try server.admin().deployment(deployment.id).counts.failed == 1 }
        let log = board.log("rauc-hawkbit.log")
        #expect(log.contains("Rejecting cancelation request"), "\(log.suffix(3000))")
        #expect(try board.slot("b") == [UInt8](repeating: 0, count: Board.slotBytes), "nothing installed")
        #expect(try device.poll().links["cancelAction"] == nil)
        let status = try server.admin().deployment(deployment.id)
        #expect(status.failureReasons?.first?.reason.contains("refused to stop") == true, "\(status.failureReasons ?? [])")
        #expect(status.counts.byState == (try server.recountFromEvents(deployment.id.rawValue)))
    }
}
