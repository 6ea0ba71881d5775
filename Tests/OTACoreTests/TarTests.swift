import Foundation
import OTACore
import TestSupport
import Testing

/// Builds archives byte by byte, including the malformed ones the reader must refuse.
struct RawTar {
    var bytes: [UInt8] = []

    mutating func file(_ path: String, _ data: [UInt8], mode: UInt32 = 0o644) {
        bytes += TarFormat.headerBlocks(path: path, size: UInt64(data.count), mode: mode)
        bytes += data + [UInt8](repeating: 0, count: TarFormat.padding(after: UInt64(data.count)))
    }

    /// A header like a regular file's, with another type flag (symlink '2', device '3', ...).
    mutating func entry(_ path: String, type: Character, data: [UInt8] = []) {
        var header = TarFormat.headerBlocks(path: path, size: UInt64(data.count))
        header[156] = type.asciiValue!
        RawTar.fixChecksum(&header, at: header.count - 512)
        bytes += header + data + [UInt8](repeating: 0, count: TarFormat.padding(after: UInt64(data.count)))
    }

    mutating func end() { bytes += TarFormat.endOfArchive }

    static func fixChecksum(_ block: inout [UInt8], at start: Int) {
        for i in 148..<156 { block[start + i] = 0x20 }
        let sum = block[start..<start + 512].reduce(0) { $0 + UInt32($1) }
        let digits = Array(String(sum, radix: 8).utf8)
        let field = [UInt8](repeating: 0x30, count: 6 - digits.count) + digits + [0, 0x20]
        for (i, b) in field.enumerated() { block[start + 148 + i] = b }
    }
}

/// "LEN key=value\n" where LEN counts the whole record.
func paxRecord(_ key: String, _ value: String) -> [UInt8] {
    let body = " \(key)=\(value)\n"
    var length = body.utf8.count + 1
    while String(length).utf8.count + body.utf8.count != length { length += 1 }
    return Array((String(length) + body).utf8)
}

func readAll(_ bytes: [UInt8]) throws -> [(TarEntry, [UInt8])] {
    var reader = TarReader(MemoryTarInput(bytes))
    var out: [(TarEntry, [UInt8])] = []
    while let entry = try reader.next() {
        var data = [UInt8](repeating: 0, count: Int(entry.size))
        var filled = 0
        while filled < data.count {
            let n = try data.withUnsafeMutableBytes { try reader.readData(into: UnsafeMutableRawBufferPointer(rebasing: $0[filled...])) }
            filled += n
        }
        out.append((entry, data))
    }
    return out
}

@Suite("Strict tar")
struct TarTests {
    @Test("Reads back what the writer wrote, long paths through pax records")
    func roundTrip() throws {
        let longPath = (0..<30).map { "dir\($0)" }.joined(separator: "/") + "/model.onnx"
        var tar = RawTar()
        tar.file("a.txt", Array("hello".utf8))
        tar.file(longPath, [1, 2, 3])
        tar.file("empty", [])
        tar.file("block", [UInt8](repeating: 7, count: 512))
        tar.end()
        let entries = try readAll(tar.bytes)
        #expect(entries.map(\.0.path) == ["a.txt", longPath, "empty", "block"])
        #expect(entries.map(\.1) == [Array("hello".utf8), [1, 2, 3], [], [UInt8](repeating: 7, count: 512)])
        #expect(entries[0].0.dataOffset == 512)
    }

    @Test("GNU tar can list what the writer wrote")
    func gnuTarReadsOurArchives() throws {
        let dir = TemporaryDirectory()
        var tar = RawTar()
        tar.file("x/" + String(repeating: "n", count: 120), Array("data".utf8))
        tar.end()
        let path = try dir.write("t.tar", tar.bytes)
        let listing = try run("tar", ["-tf", path])
        #expect(listing.status == 0)
        #expect(listing.stdout == "x/" + String(repeating: "n", count: 120) + "\n")
    }

    @Test("Sizes of 8 GiB and more are carried by a pax size record")
    func largeSizesUsePax() throws {
        let size: UInt64 = 9 << 30
        let header = TarFormat.headerBlocks(path: "big.bin", size: size)
        #expect(header.count == 3 * 512)
        var reader = TarReader(MemoryTarInput(header))
        let entry = try #require(try reader.next())
        #expect(entry.size == size)
        #expect(throws: TarError.truncated("it ends inside the data of 'big.bin'")) { _ = try reader.next() }
    }

    @Test("Entries other than regular files are refused", arguments: [
        ("2", "symbolic link"), ("1", "hard link"), ("3", "character device"), ("4", "block device"),
        ("5", "folder"), ("6", "FIFO"), ("g", "global pax header"), ("L", "GNU long-name entry"),
    ])
    func refusesSpecialEntries(type: String, name: String) {
        var tar = RawTar()
        tar.entry("evil", type: Character(type))
        tar.end()
        #expect(errorText { _ = try readAll(tar.bytes) } == "entry 'evil' is a \(name); bundles hold regular files only")
    }

    @Test("Path traversal and absolute paths are refused", arguments: ["../etc/passwd", "/etc/passwd", "a/../../b", "a//b", "./a"])
    func refusesUnsafePaths(path: String) {
        var tar = RawTar()
        tar.file(path, [1])
        tar.end()
        #expect(errorText { _ = try readAll(tar.bytes) }?.hasPrefix("entry '\(path)' has an unsafe path") == true)
    }

    @Test("A name seen twice is refused")
    func refusesDuplicates() {
        var tar = RawTar()
        tar.file("a", [1])
        tar.file("a", [2])
        tar.end()
        #expect(throws: TarError.duplicateEntry("a")) { _ = try readAll(tar.bytes) }
    }

    @Test("An archive cut anywhere is refused as truncated")
    func refusesTruncation() throws {
        var tar = RawTar()
        tar.file("a", [UInt8](repeating: 1, count: 700))
        tar.file(String(repeating: "p", count: 150), [2])
        tar.end()
        for cut in stride(from: 0, to: tar.bytes.count - 512, by: 97) where cut > 0 {
            let message = errorText { _ = try readAll(Array(tar.bytes[..<cut])) }
            #expect(message?.hasPrefix("archive is truncated") == true || message?.contains("pax") == true, "cut at \(cut): \(message ?? "accepted")")
        }
        #expect(errorText { _ = try readAll([]) } == "archive is truncated: it ends without the end-of-archive marker")
    }

    @Test("A corrupted header is refused by its checksum")
    func refusesBadChecksum() {
        var tar = RawTar()
        tar.file("a", [1])
        tar.end()
        tar.bytes[0] = UInt8(ascii: "b")
        #expect(throws: TarError.badChecksum(offset: 0)) { _ = try readAll(tar.bytes) }
    }

    @Test("Non-ustar headers (old GNU format) are refused")
    func refusesGnuMagic() {
        var tar = RawTar()
        tar.file("a", [1])
        tar.end()
        for (i, b) in Array("ustar  \0".utf8).enumerated() { tar.bytes[257 + i] = b }
        RawTar.fixChecksum(&tar.bytes, at: 0)
        #expect(throws: TarError.notUstar(offset: 0)) { _ = try readAll(tar.bytes) }
    }

    @Test("Data after the end-of-archive marker is refused; zero padding is not")
    func trailingData() throws {
        var tar = RawTar()
        tar.file("a", [1])
        tar.end()
        #expect(try readAll(tar.bytes + [UInt8](repeating: 0, count: 8192)).count == 1)
        #expect(throws: TarError.dataAfterEnd) { _ = try readAll(tar.bytes + [0, 0, 1]) }
    }

    @Test("Pax headers with keys other than path and size are refused")
    func refusesOtherPaxKeys() {
        var tar = RawTar()
        let record = paxRecord("linkpath", "/etc/shadow")
        tar.entry("pax", type: "x", data: record)
        tar.file("a", [1])
        tar.end()
        #expect(errorText { _ = try readAll(tar.bytes) } == "invalid pax extended header: unsupported key 'linkpath' (only path and size are allowed)")
    }

    @Test("A pax size near 2^64 is refused, not an arithmetic overflow (found by the fuzzer)")
    func hugePaxSize() throws {
        var tar = RawTar()
        tar.entry("pax", type: "x", data: paxRecord("size", "18446744073709551615"))
        tar.file("a", [])
        tar.end()
        #expect(errorText { _ = try readAll(tar.bytes) } == "invalid pax extended header: size 18446744073709551615 is too large")
        var reader = TarReader(MemoryTarInput(tar.bytes))
        #expect(throws: TarError.self) { while try reader.next() != nil {} }
        let reproducer = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../Fuzz/corpus/regression-bundle-size-overflow.otab").path
        #expect(errorText { _ = try BundleArchive.open(reproducer) }?.contains("too large") == true)
    }

    @Test("A pax path cannot smuggle a traversal past the header name")
    func paxPathIsChecked() {
        var tar = RawTar()
        tar.entry("pax", type: "x", data: paxRecord("path", "../../evil"))
        tar.file("innocent", [1])
        tar.end()
        #expect(errorText { _ = try readAll(tar.bytes) }?.hasPrefix("entry '../../evil' has an unsafe path") == true)
    }
}
