import Foundation
@testable import OTACore
import TestSupport
import Testing

@Suite("Chunked bundles")
struct ChunkedBundleTests {
    @Test("bundle create lists chunks for large files only, and verify refuses a chunk list that does not describe its file")
    func verifyChecksChunkLists() throws {
        let dir = TemporaryDirectory("ota-chunked-bundle")
        let model = SecureRandom.bytes(3 << 20)
        try dir.write("src/model.onnx", model)
        try dir.write("src/labels.txt", Array("0\n1\n".utf8))
        let key = try Ed25519PrivateKey.generate()
        let (_, manifest) = try BundleWriter.create(from: dir.file("src"), options: .init(name: "m", version: try SemanticVersion("1.0.0"),
                                                                                          kind: "model", compatible: ["hw"]),
                                                    key: key, output: dir.file("good.otab"))
        let large = try #require(manifest.files.first { $0.path.value == "model.onnx" })
        #expect((large.chunks?.count ?? 0) > 10)
        #expect(manifest.files.first { $0.path.value == "labels.txt" }?.chunks == nil)
        try BundleArchive.open(dir.file("good.otab")).checkPayload(against: manifest)

        // The same payload under a manifest whose chunk 3 names chunk 2's digest.
        var forged = manifest
        let index = forged.files.firstIndex { $0.path.value == "model.onnx" }!
        forged.files[index].chunks![3].sha256 = forged.files[index].chunks![2].sha256
        let envelope = try Envelope.signing(forged, with: key)
        try BundleWriter.write(envelope: envelope, manifest: forged,
                               payload: forged.files.map { (entry: $0, source: .file(dir.file("src/" + $0.path.value))) },
                               to: dir.file("forged.otab"), progress: nil)
        #expect(throws: BundleError.chunkMismatch(path: "model.onnx", index: 3)) {
            try BundleArchive.open(dir.file("forged.otab")).checkPayload(against: forged)
        }
    }
}
