import Foundation
import OTAClient
import OTACore
import TestSupport
import Testing

/// Files published as chunks: stored once per chunk, served whole or as batches of ranges,
/// and refused at publishing when the chunks do not make the signed file.
@Suite("Chunked content", .tags(.database))
struct ChunkedContentTests {
    /// A server with a 3 MiB chunked model published only as chunks, deployed, and a device.
    struct Setup {
        let server: TestServer
        let device: DeviceClient
        let bytes = SecureRandom.bytes(3 << 20)
        let digest: SHA256Digest
        let chunks: [Chunk]

        init() throws {
            server = try TestServer()
            digest = SHA256Digest.of(bytes)
            let bundle = try server.publish(name: "m", version: "1.0.0", files: ["model.onnx": bytes])
            let manifest = try BundleArchive.open(bundle).unverifiedManifest()
            chunks = try #require(manifest.files.first?.chunks)
            _ = try server.deploy("m", "1.0.0")
            device = try server.registerDevice("d1")
            _ = try device.checkin(.init(installed: []))
        }

        var rangesPath: String { DeviceAPI.contentPathPrefix + digest.hex + DeviceAPI.rangesPathSuffix }

        func ranges(_ json: String, as other: DeviceClient? = nil) throws -> HTTPResult {
            try server.request("POST", rangesPath, device: other ?? device, body: Array(json.utf8))
        }
    }

    @Test("A chunked file is stored as its chunks only, and served whole and by range as if it were one file")
    func servedWholeFromChunks() throws {
        let s = try Setup()
        #expect(s.chunks.count > 10)
        let content = s.server.dataPath + "/content/" + String(s.digest.hex.prefix(2)) + "/" + s.digest.hex
        #expect(!FileSystem.exists(content), "the whole file is not stored beside its chunks")
        let whole = try s.server.request("GET", DeviceAPI.contentPathPrefix + s.digest.hex, device: s.device)
        #expect(whole.status == 200 && whole.body == s.bytes)
        let span = try s.server.request("GET", DeviceAPI.contentPathPrefix + s.digest.hex, device: s.device, headers: ["Range": "bytes=100000-1500000"])
        #expect(span.status == 206 && span.body == Array(s.bytes[100_000...1_500_000]))
    }

    @Test("A batch of ranges is answered back to back, in the order asked, across chunk borders")
    func batchOfRanges() throws {
        let s = try Setup()
        let c = s.chunks
        let json = #"{"ranges": [{"offset": 0, "length": 10}, {"offset": \#(c[3].offset - 5), "length": \#(c[3].length + 10)}, {"offset": \#(c.last!.offset), "length": \#(c.last!.length)}]}"#
        let answer = try s.ranges(json)
        #expect(answer.status == 200, "\(answer)")
        let expected = Array(s.bytes[0..<10]) + Array(s.bytes[Int(c[3].offset - 5)..<Int(c[3].end + 5)]) + Array(s.bytes[Int(c.last!.offset)...])
        #expect(answer.body == expected)
    }

    @Test("Ranges out of order, overlapping, empty, outside the file or too many are refused with 400",
          arguments: [
            #"{"ranges": [{"offset": 100, "length": 10}, {"offset": 0, "length": 10}]}"#,
            #"{"ranges": [{"offset": 0, "length": 100}, {"offset": 50, "length": 10}]}"#,
            #"{"ranges": [{"offset": 0, "length": 0}]}"#,
            #"{"ranges": [{"offset": 3145728, "length": 1}]}"#,
            #"{"ranges": [{"offset": 3145000, "length": 18446744073709551000}]}"#,
            #"{"ranges": []}"#,
            #"{"ranges": [{"offset": -1, "length": 10}]}"#,
            #"{"ranges": [{"offset": 0, "length": 10, "more": true}]}"#,
            #"{"ranges": "all"}"#,
          ])
    func badRanges(json: String) throws {
        let s = try Setup()
        let answer = try s.ranges(json)
        #expect(answer.status == 400, "\(answer)")
    }

    @Test("More ranges than allowed are refused")
    func tooManyRanges() throws {
        let s = try Setup()
        let ranges = (0..<(DeviceAPI.RangesRequest.maximumCount + 1)).map { #"{"offset": \#($0 * 2), "length": 1}"# }
        let answer = try s.ranges(#"{"ranges": [\#(ranges.joined(separator: ","))]}"#)
        #expect(answer.status == 400 && String(decoding: answer.body, as: UTF8.self).contains("ask for 1 to"))
    }

    @Test("Ranges of a file not assigned to the device are refused with 403; unsigned requests with 401")
    func rangesNeedTheAssignment() throws {
        let s = try Setup()
        let other = try s.server.registerDevice("d2", hardware: "other-hw")
        _ = try other.checkin(.init(installed: []))
        #expect(try s.ranges(#"{"ranges": [{"offset": 0, "length": 10}]}"#, as: other).status == 403)
        let unsigned = try s.server.request("POST", s.rangesPath, body: Array(#"{"ranges": [{"offset": 0, "length": 10}]}"#.utf8))
        #expect(unsigned.status == 401)
    }

    @Test("Publishing refuses chunks that do not make the signed file, and names chunks still missing")
    func publishChecksChunks() throws {
        let server = try TestServer()
        let bytes = SecureRandom.bytes(2 << 20)
        try server.dir.write("src/model.onnx", bytes)
        let good = try ContentDefinedChunker().chunks(ofFile: server.dir.file("src/model.onnx"))
        let admin = try server.admin(.publisher)
        // Upload the real chunks, then sign a manifest that lists them in the wrong order.
        for chunk in good {
            try server.dir.write("chunk", Array(bytes[Int(chunk.offset)..<Int(chunk.end)]))
            _ = try admin.upload(chunk.sha256, file: server.dir.file("chunk"), offset: 0, length: chunk.length)
        }
        var swapped = good
        swapped.swapAt(0, 1)
        var offset: UInt64 = 0
        for index in swapped.indices { swapped[index].offset = offset; offset += swapped[index].length }
        func envelope(_ chunks: [Chunk]) throws -> [UInt8] {
            let manifest = Manifest(name: "m", kind: "model", version: try SemanticVersion("1.0.0"), compatible: ["test-hw"], created: SystemClock().now,
                                    files: [.init(path: try PayloadPath("model.onnx"), size: UInt64(bytes.count), sha256: SHA256Digest.of(bytes), chunks: chunks)])
            return try Envelope.signing(manifest, with: server.key).encoded()
        }
        let refused = try server.request("POST", "/api/v1/bundles", token: server.tokens[.publisher], body: try envelope(swapped))
        #expect(refused.status == 400 && String(decoding: refused.body, as: UTF8.self).contains("chunks_mismatch"), "\(refused)")
        #expect(try admin.bundles(name: "m").isEmpty)

        var missing = good
        missing[0].sha256 = SHA256Digest.of([9])
        let incomplete = try server.request("POST", "/api/v1/bundles", token: server.tokens[.publisher], body: try envelope(missing))
        #expect(incomplete.status == 400 && String(decoding: incomplete.body, as: UTF8.self).contains("1 of \(good.count) chunks"), "\(incomplete)")

        let published = try server.request("POST", "/api/v1/bundles", token: server.tokens[.publisher], body: try envelope(good))
        #expect(published.status == 201, "\(published)")
    }

    @Test("Publishing refuses a chunk list that does not match a file stored whole")
    func publishChecksChunksOfWholeFiles() throws {
        let server = try TestServer()
        let bytes = SecureRandom.bytes(2 << 20)
        try server.dir.write("src/model.onnx", bytes)
        _ = try server.admin(.publisher).upload(SHA256Digest.of(bytes), file: server.dir.file("src/model.onnx"), offset: 0, length: UInt64(bytes.count))
        var chunks = try ContentDefinedChunker().chunks(ofFile: server.dir.file("src/model.onnx"))
        chunks[2].sha256 = SHA256Digest.of([7])
        let manifest = Manifest(name: "m", kind: "model", version: try SemanticVersion("1.0.0"), compatible: ["test-hw"], created: SystemClock().now,
                                files: [.init(path: try PayloadPath("model.onnx"), size: UInt64(bytes.count), sha256: SHA256Digest.of(bytes), chunks: chunks)])
        let refused = try server.request("POST", "/api/v1/bundles", token: server.tokens[.publisher], body: try Envelope.signing(manifest, with: server.key).encoded())
        #expect(refused.status == 400 && String(decoding: refused.body, as: UTF8.self).contains("chunk 2 listed for model.onnx"), "\(refused)")
        #expect(try server.admin().bundles(name: "m").isEmpty)
    }
}

@Suite("Transfer figures from devices", .tags(.database))
struct TransferFigureTests {
    @Test("An event claiming to have fetched more than the whole is refused and changes nothing")
    func implausibleTransferIsRefused() throws {
        let server = try TestServer()
        let device = try server.registerDevice("d1")
        let events = #"{"events": [{"bundle_name": "m", "version": "1.0.0", "state": "downloaded", "detail": "", "at": "2026-12-01T00:00:00Z", "transfer": {"fetched_bytes": 10, "total_bytes": 5}}]}"#
        let answer = try server.request("POST", DeviceAPI.eventsPath, device: device, body: Array(events.utf8))
        #expect(answer.status == 400 && String(decoding: answer.body, as: UTF8.self).contains("fetched_bytes"), "\(answer)")
        #expect(try server.admin().device("d1").events.isEmpty)
    }
}
