import Foundation
import OTAClient
import OTACore
import TestSupport
import Testing

/// Chunked updates with real processes: a device rebuilds a new model from the chunks it
/// holds and fetches only the rest, and every guarantee of a whole-file update still holds.
@Suite("Chunked updates")
struct ChunkedUpdateTests {
    /// An 8 MiB "model" of random tensors; random so that nothing but real reuse saves bytes.
    static let model = SecureRandom.bytes(8 << 20)
    static let labels = Array("0\n1\n".utf8)

    /// The model with `length` bytes at `offset` replaced (one retrained tensor).
    static func changed(at offset: Int, length: Int) -> [UInt8] {
        var bytes = model
        bytes.replaceSubrange(offset..<(offset + length), with: SecureRandom.bytes(length))
        return bytes
    }

    /// A device running v1 (the model above) with v2 deployed.
    func deviceWithV2Deployed(_ v2: [String: [UInt8]], proxy mode: HostileProxy.Mode? = nil) throws -> (TestServer, TestAgent, AdminAPI.Deployment) {
        let server = try TestServer()
        try server.publish(name: "digits", version: "1.0.0", files: ["model.onnx": Self.model, "labels.txt": Self.labels])
        _ = try server.deploy("digits", "1.0.0")
        let agent = try TestAgent(server, id: "cam-1")
        try #require(try agent.once().status == 0)
        try server.publish(name: "digits", version: "2.0.0", files: v2)
        let deployment = try server.deploy("digits", "2.0.0")
        if let mode {
            let proxy = try HostileProxy(mode, upstream: server.url)
            agent.config["server_url"] = proxy.url
            agent.attachments.append(proxy)
            try agent.writeConfig()
        }
        return (server, agent, deployment)
    }

    func transfer(_ agent: TestAgent) throws -> (fetched: Int, total: Int) {
        let bundles = try #require(try agent.status()["bundles"] as? [[String: Any]])
        let transfer = try #require(bundles.first { $0["name"] as? String == "digits" }?["transfer"] as? [String: Any])
        return (try #require(transfer["fetched_bytes"] as? Int), try #require(transfer["total_bytes"] as? Int))
    }

    @Test("With variants, a new version of the device's build fetches only that build's changed chunks, and nothing of the other build")
    func variantDelta() throws {
        let server = try TestServer()
        let variants = try VariantsFile.parse("int8 cpu.arch = aarch64\nfp32\n")
        try server.publish(name: "digits", version: "1.0.0", files: ["fp32/model.onnx": Self.model, "int8/model.onnx": SecureRandom.bytes(2 << 20)],
                           variants: variants)
        _ = try server.deploy("digits", "1.0.0")
        let agent = try TestAgent(server, id: "cam-1")
        agent.config["inventory_command"] = ["/bin/echo", #"{"architecture":"x86_64"}"#]
        try agent.writeConfig()
        try #require(try agent.once().status == 0)
        let v2 = Self.changed(at: 3 << 20, length: 200_000)
        try server.publish(name: "digits", version: "2.0.0", files: ["fp32/model.onnx": v2, "int8/model.onnx": SecureRandom.bytes(2 << 20)], variants: variants)
        _ = try server.deploy("digits", "2.0.0")
        let result = try agent.once()
        #expect(result.status == 0, "\(result)")
        try agent.checkCurrentSlot("digits", holds: ["model.onnx": v2])
        let cost = try transfer(agent)
        #expect(cost.total == 8 << 20, "only the fp32 build counts")
        #expect(cost.fetched >= 200_000 && cost.fetched <= 200_000 + 4 * (256 << 10), "fetched \(cost.fetched)")
    }

    @Test("A changed tensor fetches only the chunks around it; the rollout shows the bytes saved")
    func changedTensorFetchesOnlyItsChunks() throws {
        let v2 = ["model.onnx": Self.changed(at: 3 << 20, length: 200_000), "labels.txt": Self.labels]
        let (server, agent, deployment) = try deviceWithV2Deployed(v2)
        let result = try agent.once()
        #expect(result.status == 0, "\(result)")
        try agent.checkCurrentSlot("digits", holds: v2)
        let cost = try transfer(agent)
        #expect(cost.total == (8 << 20) + Self.labels.count)
        // The change plus the chunks around it (a few, as the boundaries fall back into step).
        #expect(cost.fetched >= 200_000 && cost.fetched <= 200_000 + 4 * (256 << 10), "fetched \(cost.fetched)")
        let shown = try #require(try server.admin().deployment(deployment.id).transfer)
        #expect(shown.devices == 1 && shown.fetchedBytes == UInt64(cost.fetched) && shown.totalBytes == UInt64(cost.total))
        #expect(shown.savedBytes == UInt64(cost.total - cost.fetched))
        let events = try server.admin().device("cam-1").events
        #expect(events.contains { $0.state == .downloaded && $0.detail.contains("fetched \(cost.fetched) of \(cost.total) bytes") })
    }

    @Test("Bytes inserted in the middle shift the rest of the file, and the rest is still reused")
    func insertionIsFoundAgain() throws {
        var model = Self.model
        model.insert(contentsOf: SecureRandom.bytes(100_000), at: 4 << 20)
        let v2 = ["model.onnx": model, "labels.txt": Self.labels]
        let (_, agent, _) = try deviceWithV2Deployed(v2)
        #expect(try agent.once().status == 0)
        try agent.checkCurrentSlot("digits", holds: v2)
        let cost = try transfer(agent)
        #expect(cost.fetched <= 100_000 + 4 * (256 << 10), "fetched \(cost.fetched)")
    }

    @Test("A device running a bundle made without chunk lists reuses its bytes for a chunked update")
    func oldBundleSeedsAChunkedUpdate() throws {
        let server = try TestServer()
        try server.publish(name: "digits", version: "1.0.0", files: ["model.onnx": Self.model, "labels.txt": Self.labels], chunked: false)
        _ = try server.deploy("digits", "1.0.0")
        let agent = try TestAgent(server, id: "cam-1")
        try #require(try agent.once().status == 0)
        let v2 = ["model.onnx": Self.changed(at: 5 << 20, length: 100_000), "labels.txt": Self.labels]
        try server.publish(name: "digits", version: "2.0.0", files: v2)
        _ = try server.deploy("digits", "2.0.0")
        #expect(try agent.once().status == 0)
        try agent.checkCurrentSlot("digits", holds: v2)
        #expect(try transfer(agent).fetched <= 100_000 + 4 * (256 << 10))
    }

    @Test("A file whose bytes did not change fetches nothing, even when everything else did")
    func unchangedFileFetchesNothing() throws {
        let v2 = ["model.onnx": Self.model, "labels.txt": Array("0\n1\n2\n".utf8)]
        let (_, agent, _) = try deviceWithV2Deployed(v2)
        #expect(try agent.once().status == 0)
        try agent.checkCurrentSlot("digits", holds: v2)
        #expect(try transfer(agent).fetched == 6)
    }

    @Test("A corrupted chunk is caught by its hash and fetched again")
    func corruptChunkIsFetchedAgain() throws {
        let v2 = ["model.onnx": Self.changed(at: 1 << 20, length: 300_000), "labels.txt": Self.labels]
        let (server, agent, _) = try deviceWithV2Deployed(v2, proxy: .contentCorruptFirst)
        let result = try agent.once()
        #expect(result.status == 0, "\(result)")
        #expect(result.stderr.contains("does not match its signed SHA-256"), "\(result.stderr)")
        try agent.checkCurrentSlot("digits", holds: v2)
        #expect(try server.admin().device("cam-1").events.first?.state == .succeeded)
    }

    @Test("A transfer cut in the middle of a batch keeps the complete chunks and fetches the rest")
    func cutBatchResumes() throws {
        let v2 = ["model.onnx": Self.changed(at: 1 << 20, length: 3 << 20), "labels.txt": Self.labels]
        let (_, agent, _) = try deviceWithV2Deployed(v2, proxy: .contentCutFirst)
        let result = try agent.once()
        #expect(result.status == 0, "\(result)")
        try agent.checkCurrentSlot("digits", holds: v2)
        // Only what the cut lost (part of one chunk) is fetched twice.
        #expect(try transfer(agent).fetched <= (3 << 20) + 5 * (256 << 10))
    }

    @Test("A crash in the middle of a rebuild resumes from the chunks already in place")
    func crashMidRebuildResumes() throws {
        let v2 = ["model.onnx": Self.changed(at: 512 << 10, length: 6 << 20), "labels.txt": Self.labels]
        let (_, agent, _) = try deviceWithV2Deployed(v2)
        try #require(try agent.once(crashAt: "rebuild-midway").status == 99)
        let downloads = try FileSystem.list(agent.statePath + "/downloads")
        #expect(downloads.contains { $0.hasSuffix(".rebuild") }, "\(downloads)")
        let result = try agent.once()
        #expect(result.status == 0, "\(result)")
        try agent.checkCurrentSlot("digits", holds: v2)
        let cost = try transfer(agent)
        #expect(cost.fetched <= (6 << 20) + 4 * (256 << 10), "nothing fetched twice: \(cost.fetched)")
        #expect(try FileSystem.list(agent.statePath + "/downloads").isEmpty)
    }

    @Test("The server stores each chunk once: a second version uploads only the chunks that changed")
    func publishUploadsOnlyNewChunks() throws {
        let server = try TestServer()
        try server.publish(name: "digits", version: "1.0.0", files: ["model.onnx": Self.model, "labels.txt": Self.labels])
        let source = server.dir.file("v2")
        try server.dir.write("v2/model.onnx", Self.changed(at: 2 << 20, length: 100_000))
        try server.dir.write("v2/labels.txt", Self.labels)
        let bundle = server.dir.file("digits-2.otab")
        try BundleWriter.create(from: source, options: .init(name: "digits", version: try SemanticVersion("2.0.0"), kind: "model",
                                                             compatible: ["test-hw"]), key: server.key, output: bundle)
        let result = try otactl(["publish", bundle, "--server", server.url, "--token", server.tokens[.publisher]!, "--json"])
        try #require(result.status == 0, "\(result)")
        let output = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        let uploaded = try #require(output["uploaded_bytes"] as? Int)
        #expect(uploaded > 0 && uploaded <= 100_000 + 4 * (256 << 10), "uploaded \(uploaded)")
    }

    @Test("Chunks that always arrive corrupt give the attempt up after three, without condemning the version")
    func alwaysCorruptChunksGiveUp() throws {
        let v2 = ["model.onnx": Self.changed(at: 1 << 20, length: 300_000), "labels.txt": Self.labels]
        let (server, agent, _) = try deviceWithV2Deployed(v2, proxy: .contentCorruptAlways)
        #expect(try agent.once().status == 2)
        try agent.checkCurrentSlot("digits", holds: ["model.onnx": Self.model, "labels.txt": Self.labels])
        let failed = try #require(try server.admin().device("cam-1").events.first)
        #expect(failed.state == .failed && failed.detail.contains("gave up after 3 corrupt files: chunk"), "\(failed.detail)")
        #expect((try agent.status()["bundles"] as? [[String: Any]])?.first?["failed_versions"] as? [String] == [])
        #expect(try FileSystem.list(agent.statePath + "/downloads").isEmpty)
    }

    @Test("Chunks the server no longer serves abandon the update after three cycles, and the live version stays")
    func goneChunksAbandon() throws {
        let v2 = ["model.onnx": Self.changed(at: 1 << 20, length: 300_000), "labels.txt": Self.labels]
        let (server, agent, _) = try deviceWithV2Deployed(v2, proxy: .contentGone)
        for _ in 0..<2 { #expect(try agent.once().status == 1) }
        #expect(try agent.once().status == 0)
        try agent.checkCurrentSlot("digits", holds: ["model.onnx": Self.model, "labels.txt": Self.labels])
        let last = try #require(try server.admin().device("cam-1").events.first)
        #expect(last.state == .abandoned && last.detail.contains("no longer serves 'model.onnx'"), "\(last.detail)")
    }

    @Test("An answer file left by a crash is never read as the next batch's, even when the next request fails")
    func leftoverAnswerIsIgnored() throws {
        let v2 = ["model.onnx": Self.changed(at: 512 << 10, length: 6 << 20), "labels.txt": Self.labels]
        let (server, agent, _) = try deviceWithV2Deployed(v2)
        try #require(try agent.once(crashAt: "rebuild-midway").status == 99)
        let digest = SHA256Digest.of(v2["model.onnx"]!)
        try FileSystem.writeAtomically(SecureRandom.bytes(4 << 20), to: agent.statePath + "/downloads/\(digest.hex).ranges")
        let proxy = try HostileProxy(.contentGone, upstream: server.url)
        agent.attachments.append(proxy)
        agent.config["server_url"] = proxy.url
        try agent.writeConfig()
        let refused = try agent.once()
        #expect(refused.status == 1, "\(refused)")
        #expect(!refused.stderr.contains("does not match"), "\(refused.stderr)")
        agent.config["server_url"] = server.url
        try agent.writeConfig()
        #expect(try agent.once().status == 0)
        try agent.checkCurrentSlot("digits", holds: v2)
    }
}
