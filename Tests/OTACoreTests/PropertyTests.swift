import Foundation
@testable import OTACore
import PropertyBased
import TestSupport
import Testing

/// Properties of the pure pieces, checked on generated inputs (shrunk to the smallest failing
/// one when a property breaks): version order, times, names, chunk tiling.
@Suite("Properties of the pure pieces")
struct PropertyTests {
    /// A pre-release identifier: letters and digits, and a number without leading zeros.
    static let identifier = Gen.letterOrNumber.string(of: 1...6).map { text in text.allSatisfy(\.isNumber) ? String(Int(text)!) : text }
    static let version = zip(Gen.int(in: 0...30), Gen.int(in: 0...30), Gen.int(in: 0...30), identifier.array(of: 0...2))
        .map { major, minor, patch, pre in
            SemanticVersion(stringLiteral: "\(major).\(minor).\(patch)" + (pre.isEmpty ? "" : "-" + pre.joined(separator: ".")))
        }

    @Test("A version reads back from its text, and its order is total: exactly one of a < b, a == b, b < a")
    func versionOrder() async {
        await propertyCheck(input: Self.version, Self.version) { a, b in
            #expect((try? SemanticVersion(a.description)) == a)
            #expect([a < b, a == b, b < a].filter { $0 }.count == 1, "\(a) vs \(b)")
            if a.preRelease.isEmpty && b.preRelease.isEmpty {
                #expect((a < b) == ((a.major, a.minor, a.patch) < (b.major, b.minor, b.patch)))
            }
        }
    }

    @Test("MAJOR.MINOR.PATCH reads the same through the fast path as through the general parser, and nothing else takes it")
    func plainVersionFastPath() async {
        @Sendable func check(_ text: String) {
            let general = try? SemanticVersion(parsing: text)
            let plain = general.flatMap { $0.preRelease.isEmpty && $0.build.isEmpty ? [$0.major, $0.minor, $0.patch] : nil }
            #expect(SemanticVersion.plainCore(text).map { [$0.0, $0.1, $0.2] } == plain, "'\(text)'")
            #expect((try? SemanticVersion(text)) == general, "'\(text)'")
        }
        // Numbers with leading zeros and past UInt64, then any text of a version's characters.
        let number = Gen<Character?>.element(of: Array("0123456789")).array(of: 1...21).map { String($0.compactMap { $0 }) }
        let suffix = Gen<String?>.element(of: ["", "-rc.1", "+b.2", ".4", "x", "."])
        await propertyCheck(input: number, number, number, suffix) { a, b, c, rest in check("\(a).\(b).\(c)\(rest ?? "")") }
        let anything = Gen<Character?>.element(of: Array("0123456789..-+a")).array(of: 0...14).map { String($0.compactMap { $0 }) }
        await propertyCheck(input: anything) { text in check(text) }
    }

    @Test("A version's order is transitive")
    func versionTransitive() async {
        await propertyCheck(input: Self.version, Self.version, Self.version) { a, b, c in
            if a < b && b < c { #expect(a < c, "\(a) < \(b) < \(c)") }
        }
    }

    @Test("A pre-release comes before its release")
    func preReleaseFirst() async {
        await propertyCheck(input: Self.version) { v in
            let release = SemanticVersion(stringLiteral: "\(v.major).\(v.minor).\(v.patch)")
            if !v.preRelease.isEmpty { #expect(v < release) }
        }
    }

    @Test("A time reads back from its RFC 3339 text, and adding seconds never leaves 1970 to 9999")
    func timestamps() async {
        await propertyCheck(input: Gen.int(in: 0...Int(Timestamp.latest.secondsSinceEpoch)), Gen.int(in: Int.min / 2...Int.max / 2)) { seconds, delta in
            let time = Timestamp(clamping: Int64(seconds))
            #expect(Timestamp(rfc3339: time.rfc3339) == time)
            let moved = time.adding(seconds: Int64(delta))
            #expect(moved >= Timestamp.earliest && moved <= Timestamp.latest)
        }
    }

    @Test("A name of letters, digits, '.', '_' and '-' starting with a letter or digit is valid; any other character makes it invalid")
    func names() async {
        let tail = Gen<Character?>.element(of: Array("abcXYZ019._-")).map { $0 ?? "a" }.array(of: 0...40)
        let valid = zip(Gen.letterOrNumber, tail).map { first, rest in String(first) + String(rest) }
        let bad = Gen<Character?>.element(of: Array("/ \\:@\u{0}\u{7f}é\n*?")).map { $0 ?? "/" }
        await propertyCheck(input: valid, bad, Gen.int(in: 0...40)) { name, character, position in
            #expect(DeviceID(rawValue: name)?.rawValue == name)
            var broken = Array(name)
            broken.insert(character, at: min(position, broken.count))
            #expect(BundleName(rawValue: String(broken)) == nil, "\(String(broken).debugDescription)")
        }
    }

    @Test("Content-defined chunks tile a file exactly, within the size bounds, each with the hash of its bytes")
    func chunksTile() async throws {
        let dir = TemporaryDirectory("ota-property-chunks")
        let parameters = ChunkingParameters(minimumSize: 256, averageSize: 1024, maximumSize: 4096)
        await propertyCheck(count: 40, input: Gen.int(in: 0...40_000), Gen.int(in: 0...Int(UInt32.max))) { size, seed in
            var generator = SplitMix(seed: UInt64(seed))
            let bytes = (0..<size).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let path = dir.file("file-\(size)-\(seed)")
            do {
                try FileSystem.writeAtomically(bytes, to: path)
                let chunks = try ContentDefinedChunker(parameters).chunks(ofFile: path)
                var next: UInt64 = 0
                for (index, chunk) in chunks.enumerated() {
                    #expect(chunk.offset == next)
                    #expect(chunk.length <= 4096 && (chunk.length >= 256 || index == chunks.count - 1))
                    #expect(chunk.sha256 == SHA256Digest.of(Array(bytes[Int(chunk.offset)..<Int(chunk.offset + chunk.length)])))
                    next += chunk.length
                }
                #expect(next == UInt64(size))
                #expect(ChunkList.problem(with: chunks, fileSize: UInt64(size), path: "f") == nil || size == 0)
            } catch { Issue.record("\(error)") }
        }
    }
}

/// A small seeded generator, so that a failing case's bytes come back with its seed.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}
