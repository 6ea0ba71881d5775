// libFuzzer target for chunk lists and the in-place rebuild (`ChunkList`, `ChunkedFile`), built
// by `FUZZ_TARGET=chunks scripts/fuzz-tar.sh` together with the OTACore sources.
//
// Contract checked on every input:
//   1. `Manifest.decode` on the bytes never crashes, and a manifest it accepts has only chunk
//      lists that tile their file exactly (in order, no gap or overlap, 1 to 1 MiB each).
//   2. A chunk list read from the bytes (a hostile manifest: any offsets, lengths and hashes,
//      one digest at several lengths)
//      is accepted by `ChunkList.problem` exactly when an independent statement of the rule
//      accepts it. An accepted list is then rebuilt in a scratch folder from a seed file and
//      answers made of the input's bytes (complete, short or with one byte flipped): the target
//      always has exactly the declared size, nothing but the target is written, a chunk is
//      marked placed only when its bytes in the target hash to its digest, and a finished
//      rebuild hashes to the concatenation of the chunks.
// A broken invariant calls `fatalError`, which libFuzzer reports as a crash.

#if canImport(Glibc)
import Glibc
#endif

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    checkManifestDecoding(bytes)
    checkRebuild(bytes)
    return 0
}

func checkManifestDecoding(_ bytes: [UInt8]) {
    guard let manifest = try? Manifest.decode(bytes) else { return }
    for file in manifest.files {
        guard let chunks = file.chunks else { continue }
        if !tiles(chunks, size: file.size) { fatalError("Manifest.decode accepted a chunk list that does not tile its file") }
    }
}

/// The rule, stated independently of `ChunkList.problem`.
func tiles(_ chunks: [Chunk], size: UInt64) -> Bool {
    guard !chunks.isEmpty, chunks.count <= ChunkList.maximumCount else { return false }
    var end: UInt64 = 0
    var lengths: [SHA256Digest: UInt64] = [:]
    for chunk in chunks {
        guard chunk.offset == end, (1...ChunkList.maximumLength).contains(chunk.length) else { return false }
        if let length = lengths[chunk.sha256], length != chunk.length { return false }
        lengths[chunk.sha256] = chunk.length
        let (next, overflow) = end.addingReportingOverflow(chunk.length)
        guard !overflow, next <= size else { return false }
        end = next
    }
    return end == size
}

struct Reader {
    var bytes: ArraySlice<UInt8>
    mutating func u16() -> Int? {
        guard bytes.count >= 2 else { return nil }
        defer { bytes = bytes.dropFirst(2) }
        return Int(bytes[bytes.startIndex]) << 8 | Int(bytes[bytes.startIndex + 1])
    }
    mutating func take(_ count: Int) -> [UInt8]? {
        guard bytes.count >= count else { return nil }
        defer { bytes = bytes.dropFirst(count) }
        return Array(bytes.prefix(count))
    }
}

/// Input: [content length][content][file size][mode], then (offset, length, source) triples,
/// every number 16 bits. A chunk's digest is that of `length` bytes of the content from `source`.
func checkRebuild(_ bytes: [UInt8]) {
    var reader = Reader(bytes: bytes[...])
    guard let contentLength = reader.u16(), let content = reader.take(contentLength % 4096),
          let fileSize = reader.u16(), let mode = reader.u16() else { return }
    var chunks: [Chunk] = []
    var sources: [[UInt8]] = []
    while chunks.count < 64, let offset = reader.u16(), let length = reader.u16(), let source = reader.u16() {
        let start = content.isEmpty ? 0 : source % content.count
        let slice = Array(content[start..<min(content.count, start + length)])
        sources.append(slice)
        chunks.append(Chunk(offset: UInt64(offset), length: UInt64(length), sha256: SHA256Digest.of(slice)))
    }
    let accepted = ChunkList.problem(with: chunks, fileSize: UInt64(fileSize), path: "f") == nil
    if accepted != tiles(chunks, size: UInt64(fileSize)) { fatalError("ChunkList.problem disagrees with the rule: \(chunks) for \(fileSize) bytes") }
    guard accepted else { return }

    let dir = "/tmp/ota-chunk-fuzz-\(getpid())"
    try? FileSystem.remove(dir)
    try! FileSystem.createDirectory(dir)
    defer { try? FileSystem.remove(dir) }
    try! FileSystem.writeAtomically(content, to: dir + "/seed")
    let target = dir + "/target"
    let file = try! ChunkedFile(path: target, size: UInt64(fileSize), chunks: chunks)
    try! file.copyHeld(from: [dir + "/seed"])
    var rounds = 0
    while rounds < 16, let batch = file.nextBatch(maximumBytes: 4096, maximumRanges: 1 + mode % 8) {
        rounds += 1
        var answer = batch.indices.flatMap { sources[$0] }
        if mode & 0x100 != 0, !answer.isEmpty { answer[(mode >> 9) % answer.count] ^= 0x5a }
        if mode & 0x8000 != 0 { answer = Array(answer.prefix(answer.count / 2)) }
        try! FileSystem.writeAtomically(answer, to: dir + "/answer")
        let outcome = try! file.place(batch, from: dir + "/answer")
        try! FileSystem.remove(dir + "/answer")
        if outcome.placedBytes == 0 { break }
    }
    guard FileSystem.fileSize(target) == UInt64(fileSize) else { fatalError("the target does not have the declared size") }
    guard (try? FileSystem.list(dir))?.sorted() == ["seed", "target"] else { fatalError("the rebuild wrote outside its target") }
    let written = try! FileSystem.readFile(target, limit: 1 << 20)
    for (index, chunk) in chunks.enumerated() where file.placed[index] {
        guard SHA256Digest.of(written[Int(chunk.offset)..<Int(chunk.end)]) == chunk.sha256 else { fatalError("chunk \(index) is marked placed but its bytes differ") }
    }
    if !file.placed.contains(false) {
        guard try! file.finish() == SHA256Digest.of(sources.flatMap { $0 }) else { fatalError("the finished file is not its chunks") }
    }
}
