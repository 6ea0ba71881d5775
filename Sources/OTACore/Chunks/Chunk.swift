/// One content-defined piece of a payload file, as the signed manifest lists it.
public struct Chunk: Codable, Equatable, Hashable, Sendable {
    public var offset: UInt64
    public var length: UInt64
    public var sha256: SHA256Digest

    public init(offset: UInt64, length: UInt64, sha256: SHA256Digest) {
        self.offset = offset
        self.length = length
        self.sha256 = sha256
    }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(allowed: ["offset", "length", "sha256"])
        let container = try decoder.container(keyedBy: CodingKeys.self)
        // Decoded as Int64 so that a negative number is reported against its field.
        func count(_ key: CodingKeys) throws -> UInt64 {
            let value = try container.decode(Int64.self, forKey: key)
            guard value >= 0 else { throw DecodingError.dataCorruptedError(forKey: key, in: container, debugDescription: "must not be negative") }
            return UInt64(value)
        }
        offset = try count(.offset)
        length = try count(.length)
        sha256 = try container.decode(SHA256Digest.self, forKey: .sha256)
    }

    public var end: UInt64 { offset + length }
}

/// The rules a file's chunk list must follow before any byte is fetched or written: chunks
/// in order, each following the last without gap or overlap, none empty or larger than
/// `maximumLength`, together exactly the file's size, and one length for each digest. A list that breaks one is refused as a
/// whole, so the rebuild only ever writes inside the file's declared size.
public enum ChunkList {
    /// The largest chunk a manifest may list (four times the standard maximum, for other chunkers).
    public static let maximumLength: UInt64 = 1 << 20
    /// At most this many chunks in one manifest (the envelope limit binds first).
    public static let maximumCount = 50_000

    public static func problem(with chunks: [Chunk], fileSize: UInt64, path: String) -> String? {
        guard !chunks.isEmpty else { return "'\(path)' lists an empty chunk list (leave chunks out instead)" }
        guard chunks.count <= maximumCount else { return "'\(path)' lists \(chunks.count) chunks; at most \(maximumCount)" }
        var expected: UInt64 = 0
        var lengths: [SHA256Digest: UInt64] = [:]
        for (index, chunk) in chunks.enumerated() {
            guard chunk.offset == expected else {
                return "'\(path)' chunk \(index) starts at byte \(chunk.offset), not \(expected): chunks must follow each other without gap or overlap"
            }
            guard chunk.length > 0, chunk.length <= maximumLength else {
                return "'\(path)' chunk \(index) has length \(chunk.length); a chunk has 1 to \(maximumLength) bytes"
            }
            guard chunk.length <= fileSize - expected else {
                return "'\(path)' chunk \(index) ends at byte \(chunk.offset + chunk.length), past the file's \(fileSize) bytes"
            }
            // The same bytes have one length: a rebuild writes a chunk's bytes wherever its digest is listed.
            if let length = lengths.updateValue(chunk.length, forKey: chunk.sha256), length != chunk.length {
                return "'\(path)' chunk \(index) has the SHA-256 of an earlier chunk but another length"
            }
            expected += chunk.length
        }
        guard expected == fileSize else { return "'\(path)' chunks add up to \(expected) bytes, but the file has \(fileSize)" }
        return nil
    }

    /// The index of the first chunk whose bytes in `file` (the file's content starting at
    /// `base`) do not hash to its digest; nil when all match.
    public static func firstMismatch(_ chunks: [Chunk], in file: borrowing File, at base: UInt64 = 0) throws -> Int? {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: Int(chunks.map(\.length).max() ?? 0), alignment: 16)
        defer { buffer.deallocate() }
        for (index, chunk) in chunks.enumerated() {
            let wanted = UnsafeMutableRawBufferPointer(rebasing: buffer[..<Int(chunk.length)])
            let read = try file.read(at: base + chunk.offset, into: wanted)
            guard read == Int(chunk.length), SHA256Digest.of(UnsafeRawBufferPointer(wanted)) == chunk.sha256 else { return index }
        }
        return nil
    }
}
