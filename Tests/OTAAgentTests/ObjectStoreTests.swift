import Foundation
import OTAClient
import OTACore
import TestSupport
import Testing

/// Content in an S3-compatible object store (moto on loopback): devices fetch whole files
/// from it with presigned URLs, the server reads ranges of chunked files from it, and the
/// store's faults reach the caller as clear errors. On SQLite only: content in the bucket does
/// not depend on the registry's database, and `ClusterEndToEndTests` runs PostgreSQL and moto
/// together, through three instances.
@Suite("Content in object storage")
struct ObjectStoreTests {
    static let bucket = "ota-content"
    static let prefix = "fleet/"

    /// moto with a bucket, and a server keeping its content there.
    struct Setup {
        let store: TestObjectStore
        let server: TestServer

        init(arguments: [String] = []) throws {
            store = try TestObjectStore()
            try store.createBucket(ObjectStoreTests.bucket)
            server = try TestServer(arguments: ["--content-store", "s3://\(ObjectStoreTests.bucket)/\(ObjectStoreTests.prefix)", "--s3-endpoint", store.url] + arguments,
                                    environment: store.environment)
        }

        func key(_ bytes: [UInt8]) -> String { ObjectStoreTests.prefix + "content/" + SHA256Digest.of(bytes).hex }
        var keys: [String] { get throws { try store.keys(in: ObjectStoreTests.bucket) } }
        /// Blobs the server holds on its own disk (none, with an object store).
        var localBlobs: [String] { (try? FileSystem.list(server.dataPath + "/content")) ?? [] }
    }

    static let v1 = ["model.onnx": Array("weights-v1".utf8), "labels.txt": Array("0\n1\n".utf8)]

    @Test("A device installs a bundle whose content lives in the bucket, and its bytes never pass through the server")
    func installFromBucket() throws {
        let s = try Setup()
        try s.server.publish(name: "digits", version: "1.0.0", files: Self.v1)
        for bytes in Self.v1.values { #expect(try s.keys.contains(s.key(bytes)), "each file is an object named by its digest") }
        #expect(s.localBlobs.isEmpty, "nothing is kept on the server's disk")
        _ = try s.server.deploy("digits", "1.0.0")
        // On a legacy root the answer is unsigned: the bucket it names is not believed, and
        // the redirect is refused until the device's own config names the bucket.
        let agent = try TestAgent(s.server, id: "cam-1")
        let refused = try agent.once()
        #expect(refused.status == 1 && refused.stderr.contains("which is not a content host this device was told of"), "\(refused)")
        agent.config["content_hosts"] = ["127.0.0.1:\(s.store.port)"]
        try agent.writeConfig()
        let result = try agent.once()
        #expect(result.status == 0, "\(result)")
        try agent.checkCurrentSlot("digits", holds: Self.v1)
        #expect(try s.server.metric("ota_content_bytes_sent_total") == 0)
        #expect(try s.server.metric("ota_content_redirects_total") == 3, "the refused redirect, then one per file")
    }

    @Test("A chunked model in the bucket installs, and its update fetches only the changed chunks, read from the bucket")
    func chunkedDeltaFromBucket() throws {
        let s = try Setup()
        var model = SecureRandom.bytes(3 << 20)
        try s.server.publish(name: "m", version: "1.0.0", files: ["model.onnx": model])
        _ = try s.server.deploy("m", "1.0.0")
        let agent = try TestAgent(s.server, id: "cam-1", extra: ["content_hosts": ["127.0.0.1:\(s.store.port)"]])
        #expect(try agent.once().status == 0)
        try agent.checkCurrentSlot("m", holds: ["model.onnx": model])
        for index in 1_500_000..<1_500_100 { model[index] ^= 0xff }
        try s.server.publish(name: "m", version: "2.0.0", files: ["model.onnx": model])
        _ = try s.server.deploy("m", "2.0.0")
        let before = try s.server.metric("ota_content_bytes_sent_total")
        let result = try agent.once()
        #expect(result.status == 0, "\(result)")
        try agent.checkCurrentSlot("m", holds: ["model.onnx": model])
        let sent = try s.server.metric("ota_content_bytes_sent_total") - before
        #expect(sent > 0 && sent < 512 * 1024, "only the changed chunks travel (\(sent) bytes)")
        #expect(s.localBlobs.isEmpty)
    }

    @Test("A download is a redirect to a presigned, short-lived URL; the bucket itself refuses unsigned reads")
    func presignedRedirect() throws {
        let s = try Setup(arguments: ["--content-url-lifetime", "5m"])
        let bytes = SecureRandom.bytes(200_000)
        try s.server.publish(name: "m", version: "1.0.0", files: ["model.onnx": bytes])
        _ = try s.server.deploy("m", "1.0.0")
        let device = try s.server.registerDevice("d1")
        _ = try device.checkin(.init(installed: []))
        let digest = SHA256Digest.of(bytes)
        let answer = try s.server.request("GET", DeviceAPI.contentPathPrefix + digest.hex, device: device)
        #expect(answer.status == 307)
        let location = try #require(answer.headers["location"])
        #expect(location.hasPrefix("\(s.store.url)/\(Self.bucket)/\(s.key(bytes))?"))
        #expect(location.contains("X-Amz-Expires=300") && location.contains("X-Amz-Signature=") && !location.contains(TestObjectStore.secretAccessKey))
        #expect(try TestObjectStore.fetch(location).body == bytes)
        #expect(try TestObjectStore.fetch(location, headers: ["Range": "bytes=1000-1999"]).body == Array(bytes[1000...1999]))
        let unsigned = try TestObjectStore.fetch("\(s.store.url)/\(Self.bucket)/\(s.key(bytes))")
        #expect(unsigned.status == 403)
        // Another device, not assigned the bundle, gets no URL.
        let stranger = try s.server.registerDevice("d2", hardware: "other-hw")
        #expect(try s.server.request("GET", DeviceAPI.contentPathPrefix + digest.hex, device: stranger).status == 403)
    }

    @Test("A download that broke off resumes from the bucket with a range, and the whole file still checks out")
    func resumeThroughRedirect() throws {
        let s = try Setup()
        let bytes = SecureRandom.bytes(300_000)
        try s.server.publish(name: "m", version: "1.0.0", files: ["model.onnx": bytes])
        _ = try s.server.deploy("m", "1.0.0")
        let device = try s.server.registerDevice("d1")
        // The server names its bucket in the answer: the one place a download may be sent.
        let hosts = Set(try device.checkin(.init(installed: [])).contentHosts ?? [])
        #expect(hosts == ["127.0.0.1:\(s.store.port)"])
        device.mayFollowRedirect = { url in HTTPClient.contentHost(of: url).map { hosts.contains($0.host) } ?? false }
        let file = s.server.dir.file("partial")
        try FileSystem.writeAtomically(Array(bytes[..<120_000]), to: file)
        let result = try device.download(SHA256Digest.of(bytes), to: file, expectedSize: UInt64(bytes.count))
        #expect(result.resumed && result.received == 180_000)
        #expect(result.sha256 == SHA256Digest.of(bytes))
    }

    @Test("An upload whose bytes do not match its digest is refused and leaves nothing in the bucket or the spool")
    func mismatchedUploadStoresNothing() throws {
        let s = try Setup()
        let claimed = SHA256Digest.of(Array("what was signed".utf8))
        let answer = try s.server.request("PUT", "/api/v1/content/\(claimed.hex)", token: s.server.tokens[.publisher], body: Array("something else".utf8),
                                          contentType: "application/octet-stream")
        #expect(answer.status == 400, "\(answer)")
        #expect(String(decoding: answer.body, as: UTF8.self).contains("digest_mismatch"))
        #expect(try s.keys.isEmpty)
        #expect(try FileSystem.list(s.server.dataPath + "/uploads").isEmpty)
    }

    @Test("While the bucket cannot be reached, uploads answer 503 with Retry-After; they succeed again once it is back")
    func unreachableStore() throws {
        let s = try Setup()
        let port = s.store.port
        s.store.stop()
        let bytes = Array("new model".utf8)
        let digest = SHA256Digest.of(bytes)
        let down = try s.server.request("PUT", "/api/v1/content/\(digest.hex)", token: s.server.tokens[.publisher], body: bytes, contentType: "application/octet-stream")
        #expect(down.status == 503, "\(down)")
        #expect(down.headers["retry-after"] != nil)
        #expect(String(decoding: down.body, as: UTF8.self).contains("storage_unavailable"))
        let back = try TestObjectStore(port: port)
        try back.createBucket(Self.bucket)
        let again = try s.server.request("PUT", "/api/v1/content/\(digest.hex)", token: s.server.tokens[.publisher], body: bytes, contentType: "application/octet-stream")
        #expect(again.status == 201, "\(again)")
        #expect(try back.keys(in: Self.bucket) == [s.key(bytes)])
    }

    static let refusedSettingsCases = [
            (["--content-store", "s3://no-such-bucket/x"], true, "does not exist"),
            (["--content-store", "s3://ota-content/x"], false, "AWS_ACCESS_KEY_ID"),
            (["--content-store", "s3://Bad_Bucket/x"], true, "not a bucket name"),
            (["--content-store", "s3://ota-content/../x"], true, "prefix"),
            (["--content-store", "/var/content"], true, "s3://BUCKET/PREFIX"),
            (["--content-store", "s3://ota-content/x", "--s3-endpoint", "ftp://127.0.0.1"], true, "https:// or http://"),
            (["--content-store", "s3://ota-content/x", "--content-url-lifetime", "30d"], true, "--content-url-lifetime"),
            (["--s3-region", "eu-west-1"], true, "need --content-store"),
    ]
    // One object store for every case (a server that refuses to start changes nothing in it):
    // each moto start costs seconds of CPU that the suites beside this one need.
    @Test("A server refuses to start on a wrong bucket, wrong keys or bad settings, and says why")
    func refusedSettings() throws {
        let store = try TestObjectStore()
        try store.createBucket(Self.bucket)
        let key = try Ed25519PrivateKey.generate()
        for (arguments, withKeys, reason) in Self.refusedSettingsCases {
            let dir = TemporaryDirectory("ota-s3-settings")
            try FileSystem.writeAtomically(try TrustRoot(keys: [key.publicKey], threshold: 1).encoded(), to: dir.file("trust.json"))
            var full = arguments
            if full.contains("--content-store"), !full.contains("--s3-endpoint") { full += ["--s3-endpoint", store.url] }
            let result = try run(Binaries.path("ota-server"), ["serve", "--data", dir.file("data"), "--listen", "127.0.0.1:0", "--trust", dir.file("trust.json")] + full,
                                 environment: withKeys ? store.environment : [:])
            #expect(result.status != 0, "\(arguments): \(result)")
            #expect(result.stderr.contains(reason), "\(arguments): \(result)")
        }
    }
}
