// The measurement behind the standard chunk sizes: for each model update of bench/delta.sh and
// each average chunk size, the bytes a device would fetch (chunks of the new file that the old
// one lacks) and the size of the chunk list in the signed manifest. Built by bench/delta.sh
// with the OTACore sources (swiftc -O), run as: chunk-sweep OLD NEW [OLD NEW ...].

@main
struct ChunkSweep {
    static func main() throws {
        let arguments = Array(CommandLine.arguments.dropFirst())
        print("  average   case            fetched     chunk list   fetched + list")
        for average in [16 << 10, 32 << 10, 64 << 10, 128 << 10] {
            let parameters = ChunkingParameters(minimumSize: average / 4, averageSize: average, maximumSize: average * 4)
            let chunker = ContentDefinedChunker(parameters)
            for pair in stride(from: 0, to: arguments.count - 1, by: 2) {
                let old = Set(try chunker.chunks(ofFile: arguments[pair]).map(\.sha256))
                let new = try chunker.chunks(ofFile: arguments[pair + 1])
                let fetched = new.filter { !old.contains($0.sha256) }.reduce(UInt64(0)) { $0 + $1.length }
                // One entry, as the manifest encodes it, in the base64 payload of the envelope.
                let list = UInt64(new.count) * 110 * 4 / 3
                let name = arguments[pair + 1].split(separator: "/").dropLast(2).last.map(String.init) ?? "?"
                func mb(_ bytes: UInt64) -> String { String(Double(bytes / 10_000) / 100) + " MB" }
                print("  \(String(average >> 10).leftPad(3)) KiB   \(name.padding(14))  \(mb(fetched).leftPad(10))  \(mb(list).leftPad(12))  \(mb(fetched + list).leftPad(14))")
            }
        }
    }
}

extension String {
    func leftPad(_ width: Int) -> String { String(repeating: " ", count: max(0, width - count)) + self }
    func padding(_ width: Int) -> String { self + String(repeating: " ", count: max(0, width - count)) }
}
