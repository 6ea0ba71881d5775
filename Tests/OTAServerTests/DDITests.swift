import Foundation
import OTAClient
import OTACore
import TestSupport
import Testing

/// A DDI client as SWUpdate's suricatta and rauc-hawkbit speak to the server: raw requests
/// with `Authorization: TargetToken …`, as they send them.
struct DDITestClient {
    let server: TestServer
    let id: String
    var token: String
    var tenant = "default"

    var base: String { "/\(tenant)/controller/v1/\(id)" }

    func send(_ method: String, _ path: String, json: String? = nil, scheme: String = "TargetToken", headers: [String: String] = [:]) throws -> HTTPResult {
        try server.request(method, path.hasPrefix("/") ? path : base + (path.isEmpty ? "" : "/" + path),
                           headers: ["Authorization": "\(scheme) \(token)", "Accept": "application/json"].merging(headers) { _, new in new },
                           body: json.map { Array($0.utf8) })
    }

    func poll() throws -> DDI.Base {
        let result = try send("GET", "")
        guard result.status == 200 else { throw TestFailure("poll: \(result.status) \(String(decoding: result.body, as: UTF8.self))") }
        return try JSONDecoder().decode(DDI.Base.self, from: Data(result.body))
    }

    /// The path of a link of the last poll (links are absolute, to this server).
    static func path(_ link: DDI.Link) -> String {
        guard let url = URL(string: link.href) else { return link.href }
        return url.path + (url.query.map { "?\($0)" } ?? "")
    }

    static func feedback(_ execution: String, _ finished: String, details: [String] = []) -> String {
        let detail = details.map { "\"\($0)\"" }.joined(separator: ",")
        return #"{"id":"1","time":"20261205T101010","status":{"execution":"\#(execution)","result":{"finished":"\#(finished)","progress":{"cnt":1,"of":2}},"details":[\#(detail)]}}"#
    }
}

extension TestServer {
    /// A DDI device added by an operator, with its token.
    func addDDIDevice(_ id: String, hardware: String = "gw-board", tags: [String] = []) throws -> DDITestClient {
        let answer = try admin(.operator).addDDIDevice(.init(deviceID: try DeviceID(id), hardware: try HardwareClass(hardware),
                                                            tags: tags.isEmpty ? nil : try tags.map { try Tag($0) }))
        return DDITestClient(server: self, id: id, token: answer.token)
    }

    /// A released client image (SWUpdate's by default, or RAUC's) deployed to every compatible device.
    @discardableResult
    func deployImage(_ name: String = "gw-image", _ version: String = "1.0.0", bytes: [UInt8], kind: BundleKind = .swupdate, release: Bool = true,
                     phases: [AdminAPI.Phase]? = nil, threshold: Int? = nil) throws -> AdminAPI.Deployment {
        try publish(name: name, version: version, files: ["image" + (kind.imageExtension ?? ""): bytes], compatible: ["gw-board"],
                    kind: kind.description, chunked: false)
        if release { try self.release([(name, version, "stable")]) }
        return try admin(.operator).createDeployment(.init(bundleName: try BundleName(name), version: try SemanticVersion(version),
                                                           target: .everyCompatibleDevice, phases: phases, failureThresholdCount: threshold))
    }
}

@Suite("hawkBit DDI: devices that keep SWUpdate or RAUC", .tags(.database))
struct DDITests {
    let image: [UInt8] = (0..<200_000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }

    @Test("A DDI device polls, gets its deployment with SHA-1, MD5 and SHA-256, downloads the image by range, and its feedback counts it succeeded")
    func wholeUpdate() throws {
        let server = try TestServer(pollInterval: 90, tuf: true)
        let device = try server.addDDIDevice("gw-1")
        let deployment = try server.deployImage(bytes: image)
        let base = try device.poll()
        #expect(base.config.polling.sleep == "00:01:30")
        let link = try #require(base.links["deploymentBase"])
        #expect(link.href.hasPrefix(server.url + "/default/controller/v1/gw-1/deploymentBase/"))
        #expect(link.href.range(of: #"/deploymentBase/[0-9]+\?c=-?[0-9]+$"#, options: .regularExpression) != nil, "rauc-hawkbit's pattern: \(link.href)")
        let answer = try device.send("GET", DDITestClient.path(link))
        #expect(answer.status == 200 && answer.headers["content-type"] == "application/json")
        let action = try JSONDecoder().decode(DDI.DeploymentBase.self, from: Data(answer.body))
        #expect(action.deployment.update == .forced && action.deployment.download == .forced)
        let chunk = try #require(action.deployment.chunks.first)
        #expect(chunk.name == "gw-image" && chunk.version == "1.0.0")
        let artifact = try #require(chunk.artifacts.first)
        #expect(artifact.filename == "image.swu" && artifact.size == UInt64(image.count))
        let expected = LegacyDigests.of(image)
        #expect(artifact.hashes == .init(sha1: expected.sha1, md5: expected.md5, sha256: SHA256Digest.of(image).hex))
        let download = try #require(artifact.links["download-http"])
        #expect(artifact.links["download"] == download)
        let whole = try device.send("GET", DDITestClient.path(download))
        #expect(whole.status == 200 && whole.body == image)
        let part = try device.send("GET", DDITestClient.path(download), headers: ["Range": "bytes=1000-"])
        #expect(part.status == 206 && part.body == Array(image[1000...]))
        let md5 = try device.send("GET", DDITestClient.path(try #require(artifact.links["md5sum-http"])))
        #expect(String(decoding: md5.body, as: UTF8.self) == "\(expected.md5)  image.swu\n")

        let feedback = DDITestClient.path(link).split(separator: "?")[0] + "/feedback"
        // SWUpdate says `proceeding` as it starts, and again once every chunk is installed.
        // Fetching its deployment was hawkBit's "retrieved": downloading.
        #expect(try server.admin().deployment(deployment.id).counts.downloading == 1)
        #expect(try device.send("POST", String(feedback), json: DDITestClient.feedback("proceeding", "none", details: ["Installing"])).status == 200)
        #expect(try server.admin().deployment(deployment.id).counts.installing == 1)
        #expect(try device.send("POST", String(feedback), json: DDITestClient.feedback("proceeding", "none", details: ["All Chunks Installed."])).status == 200)
        #expect(try server.admin().deployment(deployment.id).counts.installing == 1)
        // SWUpdate started again after its reboot finds the action by polling: still linked.
        #expect(try device.poll().links["deploymentBase"] != nil)
        #expect(try device.send("POST", String(feedback), json: DDITestClient.feedback("closed", "success")).status == 200)
        let status = try server.admin().deployment(deployment.id)
        #expect(status.counts.succeeded == 1)
        #expect(status.counts.byState == (try server.recountFromEvents(deployment.id.rawValue)))
        #expect(try device.poll().links["deploymentBase"] == nil, "nothing more to do once installed")
        try eventually(timeout: 10, "the registry shows what the device runs") {
            try server.admin().device(try DeviceID("gw-1")).device.installed.map(\.version.description) == ["1.0.0"]
        }
        #expect(try server.admin().device(try DeviceID("gw-1")).device.protocol == .ddi)
        // Another DDI device, with no action for this image, cannot download it.
        let stranger = try server.addDDIDevice("gw-2", hardware: "other-board")
        #expect(try stranger.send("GET", DDITestClient.path(download).replacingOccurrences(of: "/gw-1/", with: "/gw-2/")).status == 404)
        let installed = try device.send("GET", "installedBase/\(action.id)")
        #expect(installed.status == 200)
    }

    @Test("Feedback on an ended action answers 410 and changes nothing; replayed or backward feedback changes nothing twice")
    func endedActions() throws {
        let server = try TestServer(tuf: true)
        let device = try server.addDDIDevice("gw-1")
        let deployment = try server.deployImage(bytes: image)
        let link = try #require(try device.poll().links["deploymentBase"])
        let feedback = String(DDITestClient.path(link).split(separator: "?")[0]) + "/feedback"
        for _ in 0..<4 { #expect(try device.send("POST", feedback, json: DDITestClient.feedback("proceeding", "none")).status == 200) }
        #expect(try device.send("POST", feedback, json: DDITestClient.feedback("download", "none")).status == 200)
        let events = try server.admin().device(try DeviceID("gw-1")).events.map(\.state.rawValue)
        #expect(events == ["installing", "downloading"], "each step once, never backwards: \(events)")
        #expect(try device.send("POST", feedback, json: DDITestClient.feedback("closed", "failure", details: ["script failed"])).status == 200)
        let failed = try server.admin().deployment(deployment.id)
        #expect(failed.counts.failed == 1 && failed.failureReasons?.first?.reason.contains("script failed") == true)
        let again = try device.send("POST", feedback, json: DDITestClient.feedback("closed", "success"))
        #expect(again.status == 410)
        #expect(try server.admin().deployment(deployment.id).counts == failed.counts)
        #expect(try device.poll().links["deploymentBase"] == nil, "a failed device is not offered the image again")
    }

    @Test("A token opens only its own controller; other tokens, schemes, tenants and paths are refused and change nothing")
    func authentication() throws {
        let server = try TestServer(tuf: true)
        let one = try server.addDDIDevice("gw-1")
        let two = try server.addDDIDevice("gw-2")
        try server.deployImage(bytes: image)
        var stolen = two
        stolen.token = one.token
        #expect(try stolen.send("GET", "").status == 401, "gw-1's token does not open gw-2")
        var wrong = one
        wrong.token = "ota_ddi_" + String(repeating: "0", count: 43)
        #expect(try wrong.send("GET", "").status == 401)
        #expect(try one.send("GET", "", scheme: "Bearer").status == 401)
        #expect(try one.send("GET", "", scheme: "GatewayToken").status == 401, "no gateway token unless the operator enabled one")
        var shouting = one
        shouting.tenant = "DEFAULT"
        #expect(try shouting.send("GET", "").status == 200, "tenants match as hawkBit matches them")
        var other = one
        other.tenant = "acme"
        #expect(try other.send("GET", "").status == 404)
        #expect(try one.send("GET", "deploymentBase/99999").status == 404)
        #expect(try one.send("GET", "deploymentBase/-1").status == 404)
        #expect(try one.send("GET", "deploymentBase/99999999999999999999").status == 404)
        #expect(try one.send("POST", "deploymentBase/abc/feedback", json: DDITestClient.feedback("closed", "success")).status == 404)
        // An agent's device cannot use the DDI API, and a DDI device not the agents' API.
        let agent = try server.registerDevice("agent-1", hardware: "gw-board")
        _ = agent
        #expect(try server.request("POST", "/api/v1/device/checkin", token: one.token, body: Array("{\"installed\":[]}".utf8)).status == 401)
        #expect(try server.admin().deployments().first?.counts.total == 1, "only gw-1's own poll admitted a device; refused requests admitted none")
        // A rotated token replaces the old one at once.
        let rotated = try server.admin(.operator).rotateDDIToken(try DeviceID("gw-1"))
        #expect(try one.send("GET", "").status == 401)
        var fresh = one
        fresh.token = rotated.token
        #expect(try fresh.send("GET", "").status == 200)
        _ = try server.admin(.operator).setDeviceStatus(try DeviceID("gw-1"), .reject)
        #expect(try fresh.send("GET", "").status == 401, "a rejected device's token stops working")
    }

    static let malformedCases = [
        ("deploymentBase/ACTION/feedback", "{"),
        ("deploymentBase/ACTION/feedback", #"{"status":{"execution":"exploded","result":{"finished":"success"}}}"#),
        ("deploymentBase/ACTION/feedback", #"{"status":{"execution":"closed","result":{"finished":"maybe"}}}"#),
        ("deploymentBase/ACTION/feedback", #"{"status":{"execution":"closed"}}"#),
        ("deploymentBase/ACTION/feedback", #"{"status":{"execution":"closed","result":{"finished":"success","progress":{"cnt":-1,"of":2}}}}"#),
        ("deploymentBase/ACTION/feedback", #"{"status":{"execution":"closed","result":{"finished":"success","progress":{"cnt":9223372036854775808}}}}"#),
        ("deploymentBase/ACTION/feedback", #"{"status":{"execution":"closed","result":{"finished":"success"},"details":[1]}}"#),
        ("configData", #"{"data":{}}"#),
        ("configData", #"{"data":{"a":1}}"#),
        ("configData", #"{"data":{"a":"b"},"mode":"sideways"}"#),
    ]
    // One server for every case: each is refused, so each starts from the state the first had.
    @Test("Malformed feedback and attributes get a 400 and change nothing")
    func malformed() throws {
        let server = try TestServer(tuf: true)
        let device = try server.addDDIDevice("gw-1")
        let deployment = try server.deployImage(bytes: image)
        let link = try #require(try device.poll().links["deploymentBase"])
        let action = String(DDITestClient.path(link).split(separator: "/").last!.split(separator: "?")[0])
        for (path, body) in Self.malformedCases {
            let result = try device.send(path.contains("configData") ? "PUT" : "POST", path.replacingOccurrences(of: "ACTION", with: action), json: body)
            let shown = "\(path) \(body): \(result.status) \(String(decoding: result.body, as: UTF8.self))"
            #expect(result.status == 400, "\(shown)")
            #expect(try server.admin().deployment(deployment.id).counts.pending == 1, "\(shown)")
            #expect(try server.admin().device(try DeviceID("gw-1")).device.attributes.isEmpty, "\(shown)")
        }
        let huge = try device.send("PUT", "configData", json: #"{"data":{"a":""# + String(repeating: "x", count: 300_000) + #""}}"#)
        #expect(huge.status == 413)
    }

    @Test("configData merges by default, replaces and removes; SWUpdate's raw line breaks are read")
    func attributes() throws {
        let server = try TestServer(tuf: true)
        let device = try server.addDDIDevice("gw-1")
        #expect(try device.poll().links["configData"] != nil, "asked while the server holds none")
        #expect(try device.send("PUT", "configData", json: "{\"id\":\"\",\"data\":{\"board\":\"rev\nB\",\"serial\":\"42\"}}").status == 200)
        #expect(try device.send("PUT", "configData", json: #"{"data":{"site":"7"}}"#).status == 200)
        func attributes() throws -> [String: String] { try server.admin().device(try DeviceID("gw-1")).device.attributes }
        #expect(try attributes() == ["board": "rev B", "serial": "42", "site": "7"])
        #expect(try device.send("PUT", "configData", json: #"{"data":{"serial":"x"},"mode":"remove"}"#).status == 200)
        #expect(try attributes() == ["board": "rev B", "site": "7"])
        #expect(try device.send("PUT", "configData", json: #"{"data":{"only":"this"},"mode":"replace"}"#).status == 200)
        #expect(try attributes() == ["only": "this"])
        #expect(try device.poll().links["configData"] == nil)
    }

    @Test("Only client images released in unexpired metadata go to DDI devices, and client images never go to agents")
    func whatGoesWhere() throws {
        let server = try TestServer(tuf: true)
        let ddi = try server.addDDIDevice("gw-1", hardware: "test-hw")
        let agent = try server.registerDevice("agent-1")
        try server.publish(name: "gw-image", version: "1.0.0", files: ["image.swu": image], compatible: ["test-hw"], kind: "swupdate", chunked: false)
        try server.publish(name: "model", version: "1.0.0", files: ["w": [1]])
        try server.release([("gw-image", "1.0.0", "stable"), ("model", "1.0.0", "stable")], expiresIn: 4)
        _ = try server.deploy("gw-image", "1.0.0")
        _ = try server.deploy("model", "1.0.0")
        #expect(try agent.checkin(.init(installed: [])).assignments.map(\.name.rawValue) == ["model"])
        let links = try ddi.poll().links
        #expect(links["deploymentBase"] != nil)
        let action = try JSONDecoder().decode(DDI.DeploymentBase.self, from: Data(try ddi.send("GET", DDITestClient.path(links["deploymentBase"]!)).body))
        #expect(action.deployment.chunks.map(\.name) == ["gw-image"])
        // A device whose deployment has not started is not sent an image whose release expired.
        let late = try server.addDDIDevice("gw-2", hardware: "test-hw")
        try eventually(timeout: 10, "the expired release stops new DDI assignments") { (try? late.poll().links["deploymentBase"] == nil) ?? false }
    }

    @Test("A bundle of kind swupdate or rauc must be one image of its client's kind")
    func clientImageShape() throws {
        let server = try TestServer(tuf: true)
        #expect(throws: (any Error).self) { try server.publish(name: "x", version: "1.0.0", files: ["a.swu": [1], "b.swu": [2]], kind: "swupdate") }
        #expect(throws: (any Error).self) { try server.publish(name: "y", version: "1.0.0", files: ["image.swu": [1]], kind: "rauc") }
        #expect(throws: (any Error).self) { try server.publish(name: "w", version: "1.0.0", files: ["my image;x=1.swu": [1]], kind: "swupdate", chunked: false) }
        try server.publish(name: "z", version: "1.0.0", files: ["update.raucb": [1]], kind: "rauc", chunked: false)
    }

    @Test("A deployment cancelled before the device finished is offered as cancelAction; stopping ends it, refusing ends it only if not started")
    func cancellation() throws {
        let server = try TestServer(tuf: true)
        let stops = try server.addDDIDevice("gw-1")
        let refuses = try server.addDDIDevice("gw-2")
        let refusesUnstarted = try server.addDDIDevice("gw-3")
        let refusesRetrieved = try server.addDDIDevice("gw-4")
        let deployment = try server.deployImage(bytes: image)
        let link = try #require(try stops.poll().links["deploymentBase"])
        _ = try refuses.poll()
        _ = try refusesUnstarted.poll()
        _ = try refusesRetrieved.poll()
        // Fetching its deployment is hawkBit's "retrieved": no longer pending.
        #expect(try refusesRetrieved.send("GET", DDITestClient.path(link).replacingOccurrences(of: "/gw-1/", with: "/gw-4/")).status == 200)
        #expect(try server.admin().deployment(deployment.id).counts.downloading == 1)
        let number = String(DDITestClient.path(link).split(separator: "/").last!.split(separator: "?")[0])
        #expect(try refuses.send("POST", "deploymentBase/\(number)/feedback", json: DDITestClient.feedback("proceeding", "none")).status == 200)
        _ = try server.admin(.operator).control(deployment.id, .cancel)
        for device in [stops, refuses, refusesUnstarted, refusesRetrieved] {
            let cancel = try #require(try device.poll().links["cancelAction"])
            #expect(cancel.href.hasSuffix("/cancelAction/\(number)"))
            let body = try JSONDecoder().decode(DDI.CancelAction.self, from: Data(try device.send("GET", DDITestClient.path(cancel)).body))
            #expect(body.cancelAction.stopId == number)
            #expect(try device.send("GET", "deploymentBase/\(number)").status == 404)
        }
        #expect(try stops.send("POST", "cancelAction/\(number)/feedback", json: DDITestClient.feedback("closed", "success", details: ["cancellation acknowledged."])).status == 200)
        #expect(try refuses.send("POST", "cancelAction/\(number)/feedback", json: DDITestClient.feedback("rejected", "success", details: ["Cancelling not supported"])).status == 200)
        #expect(try stops.poll().links["cancelAction"] == nil)
        #expect(try stops.send("POST", "cancelAction/\(number)/feedback", json: DDITestClient.feedback("closed", "success")).status == 410)
        // Refused before it started: nothing was installed, and it is not asked again.
        #expect(try refusesUnstarted.send("POST", "cancelAction/\(number)/feedback", json: DDITestClient.feedback("rejected", "success")).status == 200)
        #expect(try refusesUnstarted.poll().links.keys.filter { $0 != "configData" }.isEmpty)
        #expect(try refusesUnstarted.send("POST", "cancelAction/\(number)/feedback", json: DDITestClient.feedback("rejected", "success")).status == 410)
        #expect(try refuses.poll().links["cancelAction"] != nil, "refused under way: still open")
        // Refused after it fetched its deployment: it may be installing, so it stays open.
        #expect(try refusesRetrieved.send("POST", "cancelAction/\(number)/feedback", json: DDITestClient.feedback("rejected", "success")).status == 200)
        #expect(try refusesRetrieved.poll().links["cancelAction"] != nil)
        // The device that refused finishes its update and says so; it counts.
        #expect(try refuses.send("POST", "deploymentBase/\(number)/feedback", json: DDITestClient.feedback("closed", "success")).status == 200)
        let counts = try server.admin().deployment(deployment.id).counts
        #expect(counts.failed == 2 && counts.succeeded == 1)
        #expect(try refuses.send("GET", "installedBase/\(number)").status == 200)
        #expect(try stops.send("GET", "installedBase/\(number)").status == 404)
    }

    @Test("Failing DDI devices pause a staged rollout on its threshold, as failing agents do")
    func failuresPause() throws {
        let server = try TestServer(tuf: true)
        let devices = try (0..<6).map { try server.addDDIDevice("gw-\($0)") }
        let deployment = try server.deployImage(bytes: image, threshold: 2)
        for device in devices {
            guard let link = try device.poll().links["deploymentBase"] else { continue }
            let feedback = String(DDITestClient.path(link).split(separator: "?")[0]) + "/feedback"
            _ = try device.send("POST", feedback, json: DDITestClient.feedback("closed", "failure", details: ["install script exited 1"]))
        }
        try eventually(timeout: 10, "the rollout pauses") { (try? server.admin().deployment(deployment.id).status == .paused) ?? false }
        let status = try server.admin().deployment(deployment.id)
        #expect(status.pausedReason?.contains("threshold of 2") == true, "\(status.pausedReason ?? "")")
        #expect(status.counts.failed == 2, "no device joins once paused")
    }

    @Test("A release withdrawn while a DDI device is on its way stops it: no link, no deployment, no download")
    func withdrawnRelease() throws {
        let server = try TestServer(tuf: true)
        let device = try server.addDDIDevice("gw-1")
        try server.deployImage(bytes: image)
        let link = try #require(try device.poll().links["deploymentBase"])
        let path = DDITestClient.path(link)
        let action = try JSONDecoder().decode(DDI.DeploymentBase.self, from: Data(try device.send("GET", path).body))
        let download = DDITestClient.path(try #require(action.deployment.chunks.first?.artifacts.first?.links["download-http"]))
        #expect(try device.send("POST", String(path.split(separator: "?")[0]) + "/feedback", json: DDITestClient.feedback("download", "none")).status == 200)
        #expect(try device.send("GET", download).status == 200)
        // The release manager publishes release metadata without the image.
        try server.publish(name: "other", version: "1.0.0", files: ["w": [1]])
        try server.release([("other", "1.0.0", "stable")])
        #expect(try device.poll().links["deploymentBase"] == nil)
        let refused = try device.send("GET", path)
        #expect(refused.status == 404 && String(decoding: refused.body, as: UTF8.self).contains("no longer released"))
        #expect(try device.send("GET", download).status == 404)
    }

    @Test("Behind a TLS terminator, links start with --ddi-public-url; a DDI device cannot be given a key")
    func publicURLAndNoKeys() throws {
        let server = try TestServer(arguments: ["--ddi-public-url", "https://ota.example.com"], tuf: true)
        let device = try server.addDDIDevice("gw-1")
        try server.deployImage(bytes: image)
        let link = try #require(try device.poll().links["deploymentBase"])
        #expect(link.href.hasPrefix("https://ota.example.com/default/controller/v1/gw-1/deploymentBase/"))
        let key = try Ed25519PrivateKey.generate()
        #expect(throws: (any Error).self) { try server.admin(.operator).setDeviceKey(try DeviceID("gw-1"), publicKey: Base64.encode(key.publicKey.raw)) }
        #expect(try device.poll().links["deploymentBase"] != nil, "its token still works")
    }

    @Test("A gateway token, when the operator enabled one, speaks for any DDI device and no other")
    func gatewayToken() throws {
        let dir = TemporaryDirectory("ota-ddi-gateway")
        let gateway = "gateway-" + String(repeating: "a", count: 40)
        try dir.write("gateway.token", Array(gateway.utf8))
        let server = try TestServer(arguments: ["--ddi-gateway-token-file", dir.file("gateway.token")], tuf: true)
        var device = try server.addDDIDevice("gw-1")
        device.token = gateway
        #expect(try device.send("GET", "", scheme: "GatewayToken").status == 200)
        _ = try server.registerDevice("agent-1")
        let agent = DDITestClient(server: server, id: "agent-1", token: gateway)
        #expect(try agent.send("GET", "", scheme: "GatewayToken").status == 401)
    }
}
