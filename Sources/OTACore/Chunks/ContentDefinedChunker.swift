#if canImport(Glibc)
import Glibc
#endif

/// Cuts a byte stream into content-defined chunks with FastCDC (Xia et al., USENIX ATC 2016):
/// a gear hash over the last 64 bytes decides where a chunk ends, so an insertion or a change
/// moves only the boundaries around it and every chunk after it is found again unchanged.
///
/// Normalised chunking (level 2) keeps sizes close to the average: below it a boundary needs
/// more hash bits to be zero, above it fewer. The parameters are part of the bundle format
/// (`ChunkingParameters.standard`): a device chunks the files it already holds with the same
/// ones to find what it can reuse, so they never change for a given format version.
public struct ContentDefinedChunker: Sendable {
    public let parameters: ChunkingParameters
    private let strictMask: UInt64
    private let looseMask: UInt64

    public init(_ parameters: ChunkingParameters = .standard) {
        self.parameters = parameters
        let bits = parameters.averageSize.trailingZeroBitCount
        // The high bits of the gear hash depend on all 64 bytes of its window.
        strictMask = ~UInt64(0) << UInt64(64 - (bits + 2))
        looseMask = ~UInt64(0) << UInt64(64 - (bits - 2))
    }

    /// The length of the chunk that starts at the beginning of `data` (at most `maximumSize`;
    /// all of `data` when it is shorter than `minimumSize` or no boundary is found).
    public func cut(_ data: UnsafeRawBufferPointer) -> Int {
        var end = data.count
        if end <= parameters.minimumSize { return end }
        if end > parameters.maximumSize { end = parameters.maximumSize }
        let normal = min(end, parameters.averageSize)
        let bytes = data.bindMemory(to: UInt8.self)
        return Gear.table.withUnsafeBufferPointer { gear in
            var hash: UInt64 = 0
            var index = parameters.minimumSize
            while index < normal {
                hash = (hash << 1) &+ gear[Int(bytes[index])]
                if hash & strictMask == 0 { return index + 1 }
                index += 1
            }
            while index < end {
                hash = (hash << 1) &+ gear[Int(bytes[index])]
                if hash & looseMask == 0 { return index + 1 }
                index += 1
            }
            return end
        }
    }

    /// The chunks of a whole file, each with its SHA-256, read in constant memory.
    public func chunks(ofFile path: String) throws -> [Chunk] {
        let file = try File.open(path, .readOnly)
        let capacity = max(4 << 20, parameters.maximumSize * 2)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: capacity, alignment: 16)
        defer { buffer.deallocate() }
        var chunks: [Chunk] = []
        var filled = 0
        var offset: UInt64 = 0
        var atEnd = false
        while true {
            if !atEnd {
                let wanted = capacity - filled
                let count = try file.readFully(into: UnsafeMutableRawBufferPointer(rebasing: buffer[filled...]))
                filled += count
                atEnd = count < wanted
            }
            var start = 0
            // Cut while a whole maximum-size window is in the buffer (or the file has ended).
            while filled - start > 0 && (atEnd || filled - start >= parameters.maximumSize) {
                let window = UnsafeRawBufferPointer(rebasing: buffer[start..<filled])
                let length = cut(window)
                let digest = SHA256Digest.of(UnsafeRawBufferPointer(rebasing: window[..<length]))
                chunks.append(Chunk(offset: offset, length: UInt64(length), sha256: digest))
                offset += UInt64(length)
                start += length
            }
            if start > 0 {
                buffer.baseAddress!.copyMemory(from: buffer.baseAddress! + start, byteCount: filled - start)
                filled -= start
            }
            if atEnd && filled == 0 { return chunks }
        }
    }
}

/// Sizes of content-defined chunks, in bytes. `averageSize` must be a power of two.
public struct ChunkingParameters: Equatable, Sendable {
    public let minimumSize: Int
    public let averageSize: Int
    public let maximumSize: Int

    /// 16 / 64 / 256 KiB, measured with bench/delta.sh: smaller averages fetch a little less on
    /// a changed tensor but make the signed manifest larger (one entry per chunk, ~110 bytes).
    public static let standard = ChunkingParameters(minimumSize: 16 << 10, averageSize: 64 << 10, maximumSize: 256 << 10)

    /// Files up to this size are listed without chunks: they are fetched whole.
    public static let chunkedFileThreshold: UInt64 = 1 << 20

    public init(minimumSize: Int, averageSize: Int, maximumSize: Int) {
        precondition(averageSize.nonzeroBitCount == 1 && averageSize.trailingZeroBitCount >= 4, "averageSize must be a power of two of at least 16")
        precondition(0 < minimumSize && minimumSize < averageSize && averageSize < maximumSize, "minimum < average < maximum")
        self.minimumSize = minimumSize
        self.averageSize = averageSize
        self.maximumSize = maximumSize
    }
}

/// The 256 random 64-bit values of the gear hash: splitmix64 from a fixed seed, so that every
/// program that chunks (otactl, the agent, the benchmark) cuts at the same places.
enum Gear {
    static let table: [UInt64] = {
        var state: UInt64 = 0x6f74_612d_6765_6172 // "ota-gear"
        return (0..<256).map { _ in
            state &+= 0x9e37_79b9_7f4a_7c15
            var z = state
            z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
            z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
            return z ^ (z >> 31)
        }
    }()
}
