import Foundation
import OTAClient
import OTACore
import TestSupport
import Testing

@Suite("Content upload, publishing and ranged downloads", .tags(.database))
struct ContentTests {
    /// A server with a published, deployed bundle and a device it is assigned to.
    struct Setup {
        let server: TestServer
        let device: DeviceClient
        let digest: SHA256Digest
        let bytes: [UInt8]

        init() throws {
            server = try TestServer()
            bytes = (0..<10_000).map { UInt8(truncatingIfNeeded: $0 &* 13) }
            digest = SHA256Digest.of(bytes)
            try server.publish(name: "m", version: "1.0.0", files: ["w.bin": bytes])
            _ = try server.deploy("m", "1.0.0")
            device = try server.registerDevice("d1")
            _ = try device.checkin(.init(installed: []))
        }

        /// As the device (or `other`), signed; or with a bare bearer `token`.
        func get(_ headers: [String: String] = [:], method: String = "GET", token: String? = nil, as other: DeviceClient? = nil) throws -> HTTPResult {
            if let token { return try server.request(method, DeviceAPI.contentPathPrefix + digest.hex, token: token, headers: headers) }
            return try server.request(method, DeviceAPI.contentPathPrefix + digest.hex, device: other ?? device, headers: headers)
        }
    }

    @Test("Every Range form is answered right, with ETag and Accept-Ranges")
    func rangeForms() throws {
        let s = try Setup()
        let whole = try s.get()
        #expect(whole.status == 200 && whole.body == s.bytes)
        #expect(whole.headers["etag"] == "\"\(s.digest.hex)\"")
        #expect(whole.headers["accept-ranges"] == "bytes")
        #expect(whole.headers["content-length"] == "10000")

        let from = try s.get(["Range": "bytes=9000-"])
        #expect(from.status == 206 && from.body == Array(s.bytes[9000...]))
        #expect(from.headers["content-range"] == "bytes 9000-9999/10000")

        let span = try s.get(["Range": "bytes=10-19"])
        #expect(span.status == 206 && span.body == Array(s.bytes[10...19]))
        #expect(span.headers["content-range"] == "bytes 10-19/10000")

        let beyondEnd = try s.get(["Range": "bytes=9990-20000"])
        #expect(beyondEnd.status == 206 && beyondEnd.body == Array(s.bytes[9990...]))

        let suffix = try s.get(["Range": "bytes=-100"])
        #expect(suffix.status == 206 && suffix.body == Array(s.bytes[9900...]))
        #expect(suffix.headers["content-range"] == "bytes 9900-9999/10000")

        let bigSuffix = try s.get(["Range": "bytes=-20000"])
        #expect(bigSuffix.status == 206 && bigSuffix.body == s.bytes)

        let unsatisfiable = try s.get(["Range": "bytes=10000-"])
        #expect(unsatisfiable.status == 416)
        #expect(unsatisfiable.headers["content-range"] == "bytes */10000")
        #expect((try? JSONDecoder().decode(APIErrorBody.self, from: Data(unsatisfiable.body)))?.error.code.rawValue == "range_not_satisfiable")
        #expect(try s.get(["Range": "bytes=-0"]).status == 416)

        // Several ranges, or a malformed header, are answered with the whole content.
        let multi = try s.get(["Range": "bytes=0-1,5-6"])
        #expect(multi.status == 200 && multi.body == s.bytes)
        #expect(try s.get(["Range": "bytes=abc"]).status == 200)
        #expect(try s.get(["Range": "items=0-5"]).status == 200)
        // If-Range naming other content: the whole content.
        let stale = try s.get(["Range": "bytes=5-", "If-Range": "\"\(String(repeating: "0", count: 64))\""])
        #expect(stale.status == 200 && stale.body == s.bytes)
        let current = try s.get(["Range": "bytes=5-", "If-Range": "\"\(s.digest.hex)\""])
        #expect(current.status == 206)

        let head = try s.get(["Range": "bytes=0-9"], method: "HEAD")
        #expect(head.status == 206 && head.body.isEmpty && head.headers["content-length"] == "10")
    }

    @Test("Only devices the content's bundle is assigned to may download it")
    func downloadsNeedAnAssignment() throws {
        let s = try Setup()
        let stranger = try s.server.registerDevice("stranger", hardware: "other-hw")
        _ = try stranger.checkin(.init(installed: []))
        let refused = try s.get(as: stranger)
        #expect(refused.status == 403)
        #expect(try JSONDecoder().decode(APIErrorBody.self, from: Data(refused.body)).error.code.rawValue == "forbidden")
        #expect(try s.get(token: s.server.tokens[.admin]).status == 401)
        #expect(try s.get(token: "ota_dev_forged").status == 401)
        let malformed = try s.server.request("GET", DeviceAPI.contentPathPrefix + "nothex", device: s.device)
        #expect(malformed.status == 400)
    }

    @Test("The device client resumes a partial download with a range")
    func clientResumes() throws {
        let s = try Setup()
        let file = s.server.dir.file("partial.bin")
        try FileSystem.writeAtomically(Array(s.bytes[..<4000]), to: file)
        let before = try s.server.metric("ota_content_bytes_sent_total")
        let result = try s.device.download(s.digest, to: file, expectedSize: UInt64(s.bytes.count))
        #expect(result.resumed && result.received == 6000)
        #expect(try FileSystem.readFile(file) == s.bytes)
        try eventually("metrics") { try s.server.metric("ota_content_bytes_sent_total") - before == 6000 }
    }

    @Test("An upload whose bytes do not match its digest is refused and nothing is kept")
    func digestMismatch() throws {
        let server = try TestServer()
        let claimed = SHA256Digest.of([1, 2, 3])
        let result = try server.request("PUT", "/api/v1/content/\(claimed.hex)", token: server.tokens[.publisher], body: [9, 9, 9],
                                        contentType: "application/octet-stream")
        #expect(result.status == 400)
        #expect(try JSONDecoder().decode(APIErrorBody.self, from: Data(result.body)).error.code.rawValue == "digest_mismatch")
        #expect(try server.admin(.publisher).missing([claimed]) == [claimed])
        #expect(try FileSystem.list(server.dataPath + "/uploads").isEmpty)
        #expect(try FileSystem.list(server.dataPath + "/content").isEmpty)
    }

    @Test("Publishing checks trust, completeness and conflicts, and is idempotent")
    func publishing() throws {
        let server = try TestServer()
        let publisher = try server.admin(.publisher)
        let dir = server.dir
        try dir.write("b/w.bin", [7, 7, 7])
        let path = dir.file("b.otab")
        try BundleWriter.create(from: dir.file("b"), options: .init(name: "m", version: try SemanticVersion("1.0.0"), kind: "model", compatible: ["hw"]),
                                key: server.key, output: path)
        let envelope = try BundleArchive.open(path).envelope.encoded()
        // Before the content is there: refused, and the bundle is not visible.
        let early = #expect(throws: HTTPClientError.self) { try publisher.publish(envelope: envelope) }
        #expect(early?.statusCode == 400 && early?.description.contains("missing: w.bin") == true)
        #expect(try publisher.bundles().isEmpty)
        #expect(try otactl(["publish", path, "--server", server.url, "--token", server.tokens[.publisher]!]).status == 0)
        #expect(try publisher.publish(envelope: envelope).created == false)
        // Same name and version with other content: conflict.
        try dir.write("c/w.bin", [8])
        let other = dir.file("c.otab")
        try BundleWriter.create(from: dir.file("c"), options: .init(name: "m", version: try SemanticVersion("1.0.0+rebuild"), kind: "model", compatible: ["hw"]),
                                key: server.key, output: other)
        let conflict = try otactl(["publish", other, "--server", server.url, "--token", server.tokens[.publisher]!])
        #expect(conflict.status == 4)
        #expect(conflict.stderr.contains("409") && conflict.stderr.contains("already published with other content"))
        // Signed by a key the server does not trust.
        let stranger = try Ed25519PrivateKey.generate()
        try BundleWriter.create(from: dir.file("c"), options: .init(name: "m", version: try SemanticVersion("2.0.0"), kind: "model", compatible: ["hw"]),
                                key: stranger, output: other)
        let untrusted = try otactl(["publish", other, "--server", server.url, "--token", server.tokens[.publisher]!])
        #expect(untrusted.status == 4)
        #expect(untrusted.stderr.contains("trust root refuses"))
        #expect(try publisher.bundles().map(\.version) == ["1.0.0"])
    }

    @Test("Publishing again after an interruption uploads only what is missing")
    func publishResumes() throws {
        let server = try TestServer()
        let big = [UInt8](repeating: 1, count: 300_000), small = [UInt8](repeating: 2, count: 10)
        try server.dir.write("r/big.bin", big)
        try server.dir.write("r/small.bin", small)
        let path = server.dir.file("r.otab")
        try BundleWriter.create(from: server.dir.file("r"), options: .init(name: "r", version: try SemanticVersion("1.0.0"), kind: "model", compatible: ["hw"]),
                                key: server.key, output: path)
        // As if a first run died after one file.
        _ = try server.admin(.publisher).upload(SHA256Digest.of(small), file: server.dir.file("r/small.bin"), offset: 0, length: 10)
        let result = try otactl(["publish", path, "--json", "--server", server.url, "--token", server.tokens[.publisher]!])
        #expect(result.status == 0)
        let object = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
        #expect(object?["uploaded_files"] as? Int == 1)
        #expect(object?["uploaded_bytes"] as? Int == 300_000)
    }
}
