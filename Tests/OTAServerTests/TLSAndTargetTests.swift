import Foundation
import OTAClient
import OTACore
import TestSupport
import Testing

@Suite("TLS")
struct TLSTests {
    /// A private CA and a certificate for 127.0.0.1 signed by it.
    func makeCertificates(in dir: TemporaryDirectory) throws {
        let steps: [[String]] = [
            ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", dir.file("ca.key"),
             "-out", dir.file("ca.pem"), "-days", "2", "-subj", "/CN=ota test CA"],
            ["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", dir.file("server.key"),
             "-out", dir.file("server.csr"), "-subj", "/CN=127.0.0.1"],
            ["x509", "-req", "-in", dir.file("server.csr"), "-CA", dir.file("ca.pem"), "-CAkey", dir.file("ca.key"), "-CAcreateserial",
             "-out", dir.file("server.pem"), "-days", "2", "-extfile", dir.file("san.cnf")],
        ]
        try dir.write("san.cnf", "subjectAltName = IP:127.0.0.1\n")
        for step in steps {
            let result = try run("openssl", step)
            guard result.status == 0 else { throw TestFailure("openssl \(step[0]) failed: \(result)") }
        }
    }

    @Test("With --tls-cert and --tls-key the server speaks HTTPS; clients verify it against their CA file")
    func httpsWithPrivateCA() throws {
        let certificates = TemporaryDirectory("tls")
        try makeCertificates(in: certificates)
        let server = try TestServer(arguments: ["--tls-cert", certificates.file("server.pem"), "--tls-key", certificates.file("server.key")])
        #expect(server.url.hasPrefix("https://127.0.0.1:"))
        let trusted = try otactl(["bundles", "list", "--server", server.url, "--token", server.tokens[.viewer]!, "--ca-file", certificates.file("ca.pem")])
        #expect(trusted.status == 0, "\(trusted)")
        let untrusted = try otactl(["bundles", "list", "--server", server.url, "--token", server.tokens[.viewer]!])
        #expect(untrusted.status == 3)
        #expect(untrusted.stderr.contains("cannot reach the server"))
        try server.publish(name: "m", version: "1.0.0", files: ["w": [1]], caFile: certificates.file("ca.pem"))
        _ = try server.deploy("m", "1.0.0", caFile: certificates.file("ca.pem"))
        let agent = try TestAgent(server, id: "tls-device", extra: ["ca_file": certificates.file("ca.pem"), "allow_insecure_http": false],
                                  enrollment: try server.admin(.operator, caFile: certificates.file("ca.pem")).createEnrollmentToken(.init(autoAccept: true)).token)
        #expect(try agent.once().status == 0)
        try agent.checkCurrentSlot("m", holds: ["w": [1]])
    }
}

@Suite("Deployment targets")
struct TargetTests {
    @Test("A deployment reaches exactly its target: a tag, a group, or a list of devices")
    func targets() throws {
        let server = try TestServer()
        try server.publish(name: "m", version: "1.0.0", files: ["w": [1]])
        let grouped = try server.admin(.operator).createEnrollmentToken(.init(group: "line-3", autoAccept: true)).token
        let lab = try server.registerDevice("lab-1", tags: ["lab"])
        let line = try server.registerDevice("line-1", enrollment: grouped)
        let listed = try server.registerDevice("listed-1")
        let other = try server.registerDevice("other-1")
        for (target, expected) in [(AdminAPI.Target.tag("lab"), "lab-1"), (AdminAPI.Target.group("line-3"), "line-1"),
                                   (AdminAPI.Target.devices(["listed-1"]), "listed-1")] {
            let deployment = try server.deploy("m", "1.0.0", target: target)
            var reached: [String] = []
            for (id, device) in [("lab-1", lab), ("line-1", line), ("listed-1", listed), ("other-1", other)]
            where try device.checkin(.init(installed: [])).assignments.contains(where: { $0.deploymentID == deployment.id }) {
                reached.append(id)
            }
            #expect(reached == [expected], "\(target.summary)")
            _ = try server.admin(.operator).control(deployment.id, .cancel)
        }
    }
}
