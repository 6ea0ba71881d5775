import Foundation
import OTACore
import TestSupport
import Testing

/// The chunker and the rules of a signed chunk list, and the in-place rebuild against
/// every way a hostile chunk list or hostile answer can be wrong.
@Suite("Content-defined chunks")
struct ChunkTests {
    static let data = SecureRandom.bytes(3 << 20)

    func chunks(of bytes: [UInt8]) throws -> [Chunk] {
        let dir = TemporaryDirectory("ota-chunks")
        try dir.write("file", bytes)
        return try ContentDefinedChunker().chunks(ofFile: dir.file("file"))
    }

    @Test("Chunks tile the file exactly, within the size bounds, each with the SHA-256 of its bytes")
    func chunksTileTheFile() throws {
        let list = try chunks(of: Self.data)
        #expect(ChunkList.problem(with: list, fileSize: UInt64(Self.data.count), path: "f") == nil)
        let standard = ChunkingParameters.standard
        for chunk in list.dropLast() {
            #expect(chunk.length >= UInt64(standard.minimumSize) && chunk.length <= UInt64(standard.maximumSize))
        }
        for chunk in list {
            #expect(chunk.sha256 == SHA256Digest.of(Self.data[Int(chunk.offset)..<Int(chunk.end)]))
        }
        let average = Double(Self.data.count) / Double(list.count)
        #expect(average > 32_000 && average < 128_000, "average chunk \(average) bytes")
    }

    @Test("The same bytes always cut at the same places (the agent and otactl must agree)")
    func deterministic() throws {
        #expect(try chunks(of: Self.data) == (try chunks(of: Self.data)))
    }

    @Test("Bytes inserted near the start leave the chunks after the change as they were")
    func insertionMovesOnlyNearbyBoundaries() throws {
        var shifted = Self.data
        shifted.insert(contentsOf: SecureRandom.bytes(777), at: 100_000)
        let before = Set(try chunks(of: Self.data).map(\.sha256))
        let after = try chunks(of: shifted)
        let new = after.filter { !before.contains($0.sha256) }.reduce(0) { $0 + $1.length }
        #expect(new < 4 * 256 * 1024, "\(new) bytes in new chunks")
    }

    @Test("Empty and small files give one chunk or none; runs of zeros give equal chunks")
    func edgeCases() throws {
        #expect(try chunks(of: []).isEmpty)
        #expect(try chunks(of: Array(repeating: 7, count: 1000)).count == 1)
        let zeros = try chunks(of: Array(repeating: 0, count: 2 << 20))
        #expect(Set(zeros.map(\.sha256)).count <= 2, "zeros hash alike")
        #expect(zeros.allSatisfy { $0.length <= 256 * 1024 })
    }

    // MARK: Hostile chunk lists

    static let digest = SHA256Digest.of([1])
    /// A chunk with a digest of its own (by offset), or `digest` for a shared one.
    static func chunk(_ offset: UInt64, _ length: UInt64, shared: Bool = false) -> Chunk {
        Chunk(offset: offset, length: length, sha256: shared ? digest : SHA256Digest.of(Array(String(offset).utf8)))
    }

    @Test("A chunk list that does not tile the file exactly is refused, naming the problem",
          arguments: [
            ([chunk(0, 10), chunk(5, 15)], "without gap or overlap"),            // overlapping
            ([chunk(0, 10), chunk(12, 8)], "without gap or overlap"),            // a gap
            ([chunk(1, 20)], "starts at byte 1"),                                // not from the start
            ([chunk(0, 10), chunk(10, 5)], "add up to 15 bytes"),                // too short
            ([chunk(0, 10), chunk(10, 20)], "past the file's 20 bytes"),         // too long
            ([chunk(0, 0), chunk(0, 20)], "has length 0"),                       // empty chunk
            ([], "empty chunk list"),
            ([chunk(0, 20), chunk(20, UInt64.max - 10)], "has length"),         // overflowing
            ([chunk(0, 12, shared: true), chunk(12, 8, shared: true)], "another length"), // one digest, two lengths
          ] as [([Chunk], String)])
    func badListsAreRefused(list: [Chunk], expected: String) {
        let problem = ChunkList.problem(with: list, fileSize: 20, path: "model.onnx")
        #expect(problem?.contains(expected) == true, "\(problem ?? "accepted")")
    }

    @Test("A chunk larger than the limit, or too many chunks, is refused")
    func bounds() {
        let big = ChunkList.maximumLength + 1
        #expect(ChunkList.problem(with: [Self.chunk(0, big)], fileSize: big, path: "f")?.contains("a chunk has 1 to") == true)
        let many = (0..<UInt64(ChunkList.maximumCount + 1)).map { Self.chunk($0, 1) }
        #expect(ChunkList.problem(with: many, fileSize: UInt64(many.count), path: "f")?.contains("at most") == true)
    }

    @Test("A manifest with a bad chunk list, a negative number or an unknown chunk field does not decode")
    func manifestDecodingRefusesBadChunks() throws {
        let hex = Self.digest.hex
        func manifest(_ chunks: String, size: Int = 20) -> [UInt8] {
            Array("""
            {"schema": 1, "name": "m", "kind": "model", "version": "1.0.0", "compatible": ["hw"], "created": "2026-11-29T02:00:00Z",
             "files": [{"path": "model.onnx", "size": \(size), "sha256": "\(hex)", "chunks": \(chunks)}]}
            """.utf8)
        }
        #expect(throws: Never.self) { try Manifest.decode(manifest(#"[{"offset": 0, "length": 20, "sha256": "\#(hex)"}]"#)) }
        let bad = [
            #"[{"offset": 0, "length": 10, "sha256": "\#(hex)"}]"#,
            #"[{"offset": -1, "length": 21, "sha256": "\#(hex)"}]"#,
            #"[{"offset": 0, "length": 20, "sha256": "\#(hex)", "extra": 1}]"#,
            #"[{"offset": 0, "length": 20, "sha256": "nothex"}]"#,
            #"[{"offset": 0, "length": 20}]"#,
            #"{}"#,
        ]
        for chunks in bad { #expect(throws: (any Error).self, "\(chunks)") { try Manifest.decode(manifest(chunks)) } }
    }

    // MARK: The rebuild

    @Test("A rebuild writes only the declared size into its own file, from seeds and answers that check out")
    func rebuildFromSeedsAndAnswers() throws {
        let dir = TemporaryDirectory("ota-rebuild")
        var new = Self.data
        new.replaceSubrange(1_000_000..<1_200_000, with: SecureRandom.bytes(200_000))
        try dir.write("seed", Self.data)
        try dir.write("new", new)
        let list = try ContentDefinedChunker().chunks(ofFile: dir.file("new"))
        let file = try ChunkedFile(path: dir.file("target"), size: UInt64(new.count), chunks: list)
        try file.copyHeld(from: [dir.file("seed")])
        // What changed, and at worst the chunks around it until the boundaries fall back into
        // step (random data puts them anywhere up to the maximum size): well short of the file.
        #expect(file.missingBytes > 0 && file.missingBytes < 200_000 + 4 * UInt64(ChunkingParameters.standard.maximumSize))
        while let batch = file.nextBatch(maximumBytes: 64 * 1024, maximumRanges: 4) {
            let answer = batch.ranges.flatMap { new[Int($0.offset)..<Int($0.offset + $0.length)] }
            try dir.write("answer", answer)
            let outcome = try file.place(batch, from: dir.file("answer"))
            #expect(outcome.corruptChunk == nil && outcome.placedBytes > 0)
        }
        #expect(try file.finish() == SHA256Digest.of(new))
        #expect(try FileSystem.list(dir.path).sorted() == ["answer", "new", "seed", "target"])
        #expect(FileSystem.fileSize(dir.file("target")) == UInt64(new.count))
    }

    @Test("An answer with a corrupt chunk places the chunks before it and names the corrupt one; a short answer places what is whole")
    func hostileAnswers() throws {
        let dir = TemporaryDirectory("ota-rebuild")
        try dir.write("new", Self.data)
        let list = try ContentDefinedChunker().chunks(ofFile: dir.file("new"))
        let file = try ChunkedFile(path: dir.file("target"), size: UInt64(Self.data.count), chunks: list)
        let batch = try #require(file.nextBatch(maximumBytes: 1 << 30, maximumRanges: 10))
        var answer = Array(Self.data)
        let second = Int(list[1].offset) + 5
        answer[second] ^= 0xff
        try dir.write("answer", answer)
        let outcome = try file.place(batch, from: dir.file("answer"))
        #expect(outcome.corruptChunk == 1 && outcome.placedBytes == list[0].length)
        try dir.write("short", Array(Self.data[Int(list[1].offset)..<(Int(list[3].offset) + 10)]))
        let next = try #require(file.nextBatch(maximumBytes: 1 << 30, maximumRanges: 10))
        #expect(next.indices.first == 1)
        let short = try file.place(next, from: dir.file("short"))
        #expect(short.corruptChunk == nil && short.placedBytes == list[1].length + list[2].length)
        #expect(file.placed.prefix(4) == [true, true, true, false])
    }

    @Test("A resumed rebuild finds the chunks already in place by their hashes; a damaged one is fetched again")
    func resumeFindsPlacedChunks() throws {
        let dir = TemporaryDirectory("ota-rebuild")
        try dir.write("new", Self.data)
        let list = try ContentDefinedChunker().chunks(ofFile: dir.file("new"))
        var partial = Self.data
        partial.replaceSubrange(Int(list[2].offset)..<Int(list[2].offset) + 100, with: Array(repeating: 0, count: 100))
        try dir.write("target", Array(partial.prefix(Int(list[5].offset))))
        let file = try ChunkedFile(path: dir.file("target"), size: UInt64(Self.data.count), chunks: list)
        try file.findPlaced()
        #expect(file.placed.prefix(6) == [true, true, false, true, true, false])
    }

    @Test("A chunk list repeating one chunk many times fetches it once and writes it at every place")
    func repeatedChunk() throws {
        let dir = TemporaryDirectory("ota-rebuild")
        let piece = SecureRandom.bytes(1000)
        let digest = SHA256Digest.of(piece)
        let list = (0..<500).map { Chunk(offset: UInt64($0 * 1000), length: 1000, sha256: digest) }
        let file = try ChunkedFile(path: dir.file("target"), size: 500_000, chunks: list)
        let batch = try #require(file.nextBatch(maximumBytes: 1 << 30, maximumRanges: 10))
        #expect(batch.indices == [0] && batch.ranges.map(\.length) == [1000])
        try dir.write("answer", piece)
        #expect(try file.place(batch, from: dir.file("answer")).placedBytes == 500_000)
        #expect(try file.finish() == SHA256Digest.of(Array((0..<500).map { _ in piece }.joined())))
    }
}
