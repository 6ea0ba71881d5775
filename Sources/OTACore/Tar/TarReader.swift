/// One regular file in an archive.
public struct TarEntry: Equatable, Sendable {
    public let path: String
    public let size: UInt64
    /// Where the entry's data starts in the archive.
    public let dataOffset: UInt64
    public let mode: UInt32
}

/// A strict, streaming reader of the tar form `TarFormat` describes. It never trusts a
/// header: checksums, magic, types, paths, sizes and the end marker are all checked, and a
/// path seen twice is an error. Memory use is constant except for path bookkeeping.
public struct TarReader<Input: TarInput> {
    private var input: Input
    private var position: UInt64 = 0
    private var remaining: UInt64 = 0
    private var padding: UInt64 = 0
    private var current: String?
    private var seen: Set<String> = []
    private var finished = false

    public init(_ input: Input) { self.input = input }

    /// The next entry, or nil after a valid end-of-archive marker. Any data of the previous
    /// entry that was not read is skipped.
    public mutating func next() throws(TarError) -> TarEntry? {
        if finished { return nil }
        try skipRestOfEntry()
        var paxPath: String?
        var paxSize: UInt64?
        var sawPax = false
        while true {
            let headerOffset = position
            guard let block = try readBlock(atEnd: "it ends without the end-of-archive marker") else {
                throw .truncated("it ends without the end-of-archive marker")
            }
            if block.allSatisfy({ $0 == 0 }) {
                if sawPax { throw .badPaxRecord("a pax header is followed by the end of the archive") }
                try readEndOfArchive()
                return nil
            }
            let header = try Header(block, offset: headerOffset)
            switch header.type {
            case UInt8(ascii: "x"):
                if sawPax { throw .badPaxRecord("two pax headers in a row") }
                guard header.size <= TarFormat.maximumPaxHeaderSize else { throw .badPaxRecord("it is larger than 64 KiB") }
                let data = try readExactly(Int(header.size), what: "a pax header")
                _ = try skipExactly(UInt64(TarFormat.padding(after: header.size)), what: "a pax header")
                (paxPath, paxSize) = try Self.parsePax(data)
                sawPax = true
            case UInt8(ascii: "0"), 0:
                let path = paxPath ?? header.name
                let size = paxSize ?? header.size
                if let reason = PayloadPath.problem(with: path) {
                    throw .unsafePath(name: PayloadPath.printable(path), reason: reason)
                }
                guard seen.insert(path).inserted else { throw .duplicateEntry(path) }
                remaining = size
                padding = UInt64(TarFormat.padding(after: size))
                current = path
                return TarEntry(path: path, size: size, dataOffset: position, mode: header.mode)
            default:
                throw .unsupportedEntryType(name: PayloadPath.printable(paxPath ?? header.name), type: Self.typeName(header.type))
            }
        }
    }

    /// Reads data of the current entry; 0 means the entry's data is all read.
    public mutating func readData(into buffer: UnsafeMutableRawBufferPointer) throws(TarError) -> Int {
        guard remaining > 0 else { return 0 }
        let wanted = Int(min(UInt64(buffer.count), remaining))
        let count: Int
        do { count = try input.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[..<wanted])) } catch {
            throw .io(String(describing: error))
        }
        guard count > 0 else { throw .truncated("it ends inside the data of '\(current ?? "")'") }
        remaining -= UInt64(count)
        position += UInt64(count)
        return count
    }

    private mutating func skipRestOfEntry() throws(TarError) {
        guard remaining > 0 || padding > 0 else { return }
        let what = "the data of '\(current ?? "")'"
        // Two skips: a hostile size near 2^64 plus its padding would overflow as one sum.
        try skipExactly(remaining, what: what)
        try skipExactly(padding, what: what)
        remaining = 0
        padding = 0
    }

    private mutating func skipExactly(_ count: UInt64, what: String) throws(TarError) {
        guard count > 0 else { return }
        let skipped: UInt64
        do { skipped = try input.skip(count) } catch { throw .io(String(describing: error)) }
        position += skipped
        guard skipped == count else { throw .truncated("it ends inside \(what)") }
    }

    private mutating func readExactly(_ count: Int, what: String) throws(TarError) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        var filled = 0
        while filled < count {
            let n: Int
            do {
                n = try out.withUnsafeMutableBytes { try input.read(into: UnsafeMutableRawBufferPointer(rebasing: $0[filled...])) }
            } catch { throw .io(String(describing: error)) }
            if n == 0 { throw .truncated("it ends inside \(what)") }
            filled += n
        }
        position += UInt64(count)
        return out
    }

    /// A whole block, nil at a clean end of input, or an error for a partial block.
    private mutating func readBlock(atEnd: String) throws(TarError) -> [UInt8]? {
        var block = [UInt8](repeating: 0, count: TarFormat.blockSize)
        var filled = 0
        while filled < block.count {
            let n: Int
            do {
                n = try block.withUnsafeMutableBytes { try input.read(into: UnsafeMutableRawBufferPointer(rebasing: $0[filled...])) }
            } catch { throw .io(String(describing: error)) }
            if n == 0 { break }
            filled += n
        }
        position += UInt64(filled)
        if filled == 0 { return nil }
        guard filled == block.count else { throw .truncated("it ends inside a header block") }
        return block
    }

    /// After the first zero block: a second one, then only zeros (record padding) until the end.
    private mutating func readEndOfArchive() throws(TarError) {
        guard let second = try readBlock(atEnd: "") else { throw .truncated("it ends after one of the two end-of-archive blocks") }
        guard second.allSatisfy({ $0 == 0 }) else { throw .dataAfterEnd }
        while let block = try readBlockOrPartial() {
            guard block.allSatisfy({ $0 == 0 }) else { throw .dataAfterEnd }
        }
        finished = true
    }

    private mutating func readBlockOrPartial() throws(TarError) -> [UInt8]? {
        var block = [UInt8](repeating: 0, count: TarFormat.blockSize)
        let n: Int
        do { n = try block.withUnsafeMutableBytes { try input.read(into: $0) } } catch { throw .io(String(describing: error)) }
        position += UInt64(n)
        return n == 0 ? nil : Array(block[..<n])
    }

    static func parsePax(_ data: [UInt8]) throws(TarError) -> (path: String?, size: UInt64?) {
        var path: String?
        var size: UInt64?
        var index = 0
        while index < data.count {
            var lengthEnd = index
            while lengthEnd < data.count, data[lengthEnd] >= 0x30, data[lengthEnd] <= 0x39, lengthEnd - index < 6 { lengthEnd += 1 }
            guard lengthEnd > index, lengthEnd < data.count, data[lengthEnd] == 0x20,
                  let length = Int(String(decoding: data[index..<lengthEnd], as: UTF8.self)),
                  length > lengthEnd - index + 1, index + length <= data.count, data[index + length - 1] == 0x0a else {
                throw .badPaxRecord("malformed record at offset \(index)")
            }
            let record = data[(lengthEnd + 1)..<(index + length - 1)]
            guard let equals = record.firstIndex(of: 0x3d) else { throw .badPaxRecord("record without '='") }
            let key = String(decoding: record[..<equals], as: UTF8.self)
            let valueBytes = Array(record[(equals + 1)...])
            switch key {
            case "path":
                guard path == nil else { throw .badPaxRecord("two path records") }
                guard let text = String(validating: valueBytes, as: UTF8.self) else { throw .badPaxRecord("path is not UTF-8") }
                path = text
            case "size":
                guard size == nil else { throw .badPaxRecord("two size records") }
                guard !valueBytes.isEmpty, valueBytes.count <= 20, valueBytes.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
                      let value = UInt64(String(decoding: valueBytes, as: UTF8.self)) else {
                    throw .badPaxRecord("size is not a decimal number")
                }
                // No file offset (off_t) can be larger.
                guard value <= UInt64(Int64.max) else { throw .badPaxRecord("size \(value) is too large") }
                size = value
            default:
                throw .badPaxRecord("unsupported key '\(PayloadPath.printable(key))' (only path and size are allowed)")
            }
            index += length
        }
        return (path, size)
    }

    static func typeName(_ type: UInt8) -> String {
        switch type {
        case UInt8(ascii: "1"): return "hard link"
        case UInt8(ascii: "2"): return "symbolic link"
        case UInt8(ascii: "3"): return "character device"
        case UInt8(ascii: "4"): return "block device"
        case UInt8(ascii: "5"): return "folder"
        case UInt8(ascii: "6"): return "FIFO"
        case UInt8(ascii: "7"): return "contiguous file"
        case UInt8(ascii: "g"): return "global pax header"
        case UInt8(ascii: "L"), UInt8(ascii: "K"): return "GNU long-name entry"
        default: return "entry of unknown type \(type)"
        }
    }
}

/// A parsed and checked ustar header block.
struct Header {
    let name: String
    let mode: UInt32
    let size: UInt64
    let type: UInt8

    init(_ block: [UInt8], offset: UInt64) throws(TarError) {
        guard block[257..<263].elementsEqual(Array("ustar".utf8) + [0]), block[263..<265].elementsEqual(Array("00".utf8)) else {
            throw .notUstar(offset: offset)
        }
        guard let stored = Self.octal(block[148..<156]) else { throw .badHeaderField(field: "checksum", offset: offset) }
        var sum: UInt64 = 0
        for (index, byte) in block.enumerated() { sum += (148..<156).contains(index) ? 0x20 : UInt64(byte) }
        guard sum == stored else { throw .badChecksum(offset: offset) }
        guard let size = Self.octal(block[124..<136]) else { throw .badHeaderField(field: "size", offset: offset) }
        guard let mode = Self.octal(block[100..<108]), mode <= 0o7777 else { throw .badHeaderField(field: "mode", offset: offset) }
        guard let name = Self.string(block[0..<100]) else { throw .badHeaderField(field: "name", offset: offset) }
        guard block[345] == 0 else { throw .badHeaderField(field: "prefix (not used by bundles)", offset: offset) }
        guard block[157] == 0 else { throw .badHeaderField(field: "link name (links are not allowed)", offset: offset) }
        self.name = name
        self.mode = UInt32(mode)
        self.size = size
        self.type = block[156]
    }

    /// An octal number: optional leading spaces, digits, then NUL or spaces to the field end.
    static func octal(_ field: ArraySlice<UInt8>) -> UInt64? {
        var value: UInt64 = 0
        var digits = 0
        var index = field.startIndex
        while index < field.endIndex, field[index] == 0x20 { index += 1 }
        while index < field.endIndex, field[index] >= 0x30, field[index] <= 0x37 {
            let (shifted, overflow) = value.multipliedReportingOverflow(by: 8)
            guard !overflow else { return nil }
            value = shifted + UInt64(field[index] - 0x30)
            digits += 1
            index += 1
        }
        guard digits > 0 else { return nil }
        while index < field.endIndex {
            guard field[index] == 0 || field[index] == 0x20 else { return nil }
            index += 1
        }
        return value
    }

    /// A NUL-terminated UTF-8 string filling at most the field.
    static func string(_ field: ArraySlice<UInt8>) -> String? {
        let bytes = field.prefix { $0 != 0 }
        guard field[(field.startIndex + bytes.count)...].allSatisfy({ $0 == 0 }) else { return nil }
        return String(validating: Array(bytes), as: UTF8.self)
    }
}
