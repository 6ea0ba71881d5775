/// The one tar form bundles use: POSIX ustar headers, each optionally preceded by a pax
/// extended header ('x') carrying `path` (longer than 100 bytes) or `size` (8 GiB or more).
/// No prefix field, no links, no folders, no GNU extensions.
public enum TarFormat {
    public static let blockSize = 512
    /// The largest size the 11 octal digits of a ustar header can hold (8 GiB - 1).
    public static let maximumUstarSize: UInt64 = 0o77777777777
    public static let maximumPaxHeaderSize: UInt64 = 64 * 1024

    /// Bytes of zero padding after `size` bytes of data, up to the next block.
    public static func padding(after size: UInt64) -> Int {
        let remainder = Int(size % UInt64(blockSize))
        return remainder == 0 ? 0 : blockSize - remainder
    }

    /// Two zero blocks end an archive.
    public static var endOfArchive: [UInt8] { [UInt8](repeating: 0, count: 2 * blockSize) }

    /// The header blocks for a regular file (a pax header first when the path or size need one).
    public static func headerBlocks(path: String, size: UInt64, mode: UInt32 = 0o644, modificationTime: UInt64 = 0) -> [UInt8] {
        let nameBytes = Array(path.utf8)
        var paxRecords: [(String, String)] = []
        if nameBytes.count > 100 { paxRecords.append(("path", path)) }
        if size > maximumUstarSize { paxRecords.append(("size", String(size))) }
        var out: [UInt8] = []
        if !paxRecords.isEmpty {
            var data: [UInt8] = []
            for (key, value) in paxRecords { data += paxRecord(key: key, value: value) }
            out += ustarHeader(name: Array("PaxHeaders/entry".utf8), size: UInt64(data.count), mode: 0o644, modificationTime: modificationTime, type: UInt8(ascii: "x"))
            out += data
            out += [UInt8](repeating: 0, count: padding(after: UInt64(data.count)))
        }
        let shortName = nameBytes.count > 100 ? Array("PaxHeaders/long-name".utf8) : nameBytes
        out += ustarHeader(name: shortName, size: min(size, maximumUstarSize), mode: mode, modificationTime: modificationTime, type: UInt8(ascii: "0"))
        return out
    }

    /// "LEN key=value\n", where LEN counts the whole record including its own digits.
    static func paxRecord(key: String, value: String) -> [UInt8] {
        let body = " \(key)=\(value)\n"
        var length = body.utf8.count + 1
        while String(length).utf8.count + body.utf8.count != length { length += 1 }
        return Array((String(length) + body).utf8)
    }

    static func ustarHeader(name: [UInt8], size: UInt64, mode: UInt32, modificationTime: UInt64, type: UInt8) -> [UInt8] {
        var header = [UInt8](repeating: 0, count: blockSize)
        func put(_ bytes: [UInt8], at offset: Int) { for (i, b) in bytes.enumerated() { header[offset + i] = b } }
        func octal(_ value: UInt64, width: Int) -> [UInt8] {
            let digits = String(value, radix: 8)
            return Array((String(repeating: "0", count: max(0, width - 1 - digits.count)) + digits).utf8) + [0]
        }
        put(name, at: 0)
        put(octal(UInt64(mode), width: 8), at: 100)
        put(octal(0, width: 8), at: 108)
        put(octal(0, width: 8), at: 116)
        put(octal(size, width: 12), at: 124)
        put(octal(min(modificationTime, 0o77777777777), width: 12), at: 136)
        header[156] = type
        put(Array("ustar".utf8) + [0], at: 257)
        put(Array("00".utf8), at: 263)
        put([UInt8](repeating: 0x20, count: 8), at: 148)
        let sum = header.reduce(0) { $0 + UInt32($1) }
        put(Array(String(sum, radix: 8).leftPadded(to: 6).utf8) + [0, 0x20], at: 148)
        return header
    }
}

extension String {
    func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
