// libFuzzer target for the strict tar reader (`TarReader`) and the bundle opener
// (`BundleArchive.open`). Not part of the SwiftPM package: `scripts/fuzz-tar.sh` compiles it
// together with the OTACore sources into one module (so `TarReader.parsePax`, `Header` and
// `TarFormat.ustarHeader`, which are internal, are reachable) with
// `swiftc -sanitize=fuzzer,address -parse-as-library`, into `.build-fuzz/`.
//
// Contract checked: on any input the reader and the opener either succeed or throw their
// own error type (`TarError`, `BundleError`); they never crash, hang or allocate without
// bound. On success the results must be consistent. Each input is run through:
//   1. `TarReader(MemoryTarInput)`, reading every entry's data fully in odd-sized chunks
//      and comparing the data with the input bytes at `dataOffset`;
//   2. the same reader reading headers only (every entry's data skipped by `next()`), and
//      the same again over `FileTarInput`: all three must agree entry for entry and on the
//      error;
//   3. `TarReader.parsePax` on the raw bytes, and the same bytes wrapped as the data of a
//      pax 'x' header in front of a regular entry: the reader must agree with `parsePax`;
//   4. a round trip through the writer (`TarFormat.headerBlocks`) with a path and size
//      taken from the input: the reader must give back exactly what was written, or
//      refuse the path as unsafe;
//   5. `BundleArchive.open` on the bytes as a file, then `unverifiedManifest()` and
//      `checkPayload(against:)`: only `BundleError`s may come out.
// A broken invariant calls `fatalError`, which libFuzzer reports as a crash.

#if canImport(Glibc)
import Glibc
#endif

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    FuzzTar.run(bytes)
    return 0
}

/// What a reader made of an archive: the entries it returned, then how it ended.
struct TarOutcome: Equatable {
    var entries: [TarEntry] = []
    /// nil: a valid end-of-archive marker was reached.
    var error: TarError?
}

enum FuzzTar {
    /// A scratch file for the file-based reader and the bundle opener: created on tmpfs
    /// (or TMPDIR, or /tmp) and unlinked at once, so that nothing is left behind even when
    /// the process dies on a crash; it is reached as /proc/self/fd/N (Linux).
    static let scratch: (descriptor: Int32, path: String) = {
        var folders = ["/dev/shm"]
        if let tmp = getenv("TMPDIR") { folders.append(String(cString: tmp)) }
        folders.append("/tmp")
        for folder in folders {
            let name = "\(folder)/ota-tar-fuzz-\(getpid()).otab"
            let fd = open(name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
            guard fd >= 0 else { continue }
            unlink(name)
            return (fd, "/proc/self/fd/\(fd)")
        }
        fatalError("cannot create a scratch file in \(folders)")
    }()
    static var scratchPath: String { scratch.path }

    /// Read sizes used in turn by `readAll`: single bytes, odd sizes, exactly a block, large.
    static let chunkSizes = [1, 3, 511, 512, 4096, 700]

    static func run(_ bytes: [UInt8]) {
        // 1 and 2: the same archive read three ways.
        let full = readAll(bytes)
        let headersOnly = readHeaders(MemoryTarInput(bytes), count: bytes.count)
        guard full == headersOnly else {
            fatalError("reading data and skipping data disagree:\n  read:    \(full)\n  skipped: \(headersOnly)")
        }
        let wroteFile = writeScratch(bytes)
        if wroteFile {
            do {
                let fromFile = readHeaders(try FileTarInput(path: scratchPath), count: bytes.count)
                guard fromFile == headersOnly else {
                    fatalError("FileTarInput and MemoryTarInput disagree:\n  file:   \(fromFile)\n  memory: \(headersOnly)")
                }
            } catch {
                fatalError("cannot open the scratch file \(scratchPath): \(error)")
            }
        }

        // 3: pax records, directly and through the reader.
        checkPax(bytes)

        // 4: the writer's headers read back.
        checkRoundTrip(bytes)

        // 5: the bundle opener.
        if wroteFile { checkBundle(bytes) }
    }

    // MARK: - Reading

    /// Reads every entry and all its data, checking each entry's invariants.
    static func readAll(_ bytes: [UInt8]) -> TarOutcome {
        var reader = TarReader(MemoryTarInput(bytes))
        var outcome = TarOutcome()
        var seen = Set<String>()
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 4096, alignment: 16)
        defer { buffer.deallocate() }
        var reads = 0
        do throws(TarError) {
            while let entry = try reader.next() {
                checkEntry(entry, seen: &seen, inputSize: bytes.count)
                outcome.entries.append(entry)
                var offset = Int(entry.dataOffset)
                while true {
                    let chunk = chunkSizes[reads % chunkSizes.count]
                    reads += 1
                    let n = try reader.readData(into: UnsafeMutableRawBufferPointer(rebasing: buffer[..<chunk]))
                    if n == 0 { break }
                    guard n > 0, n <= chunk, offset + n <= bytes.count else {
                        fatalError("readData returned \(n) for a \(chunk)-byte buffer at \(offset) of \(bytes.count)")
                    }
                    guard UnsafeRawBufferPointer(rebasing: buffer[..<n]).elementsEqual(bytes[offset..<offset + n]) else {
                        fatalError("data of '\(entry.path)' at \(offset) differs from the archive bytes")
                    }
                    offset += n
                }
                guard UInt64(offset) - entry.dataOffset == entry.size else {
                    fatalError("'\(entry.path)': read \(UInt64(offset) - entry.dataOffset) bytes of \(entry.size)")
                }
                // Reading past the end of the data must keep returning 0.
                guard try reader.readData(into: buffer) == 0 else { fatalError("readData after the end of '\(entry.path)'") }
            }
            try checkFinished(&reader)
        } catch {
            outcome.error = error
        }
        return outcome
    }

    /// Reads headers only: `next()` has to skip each entry's data itself.
    static func readHeaders<Input: TarInput>(_ input: Input, count: Int) -> TarOutcome {
        var reader = TarReader(input)
        var outcome = TarOutcome()
        var seen = Set<String>()
        do throws(TarError) {
            while let entry = try reader.next() {
                checkEntry(entry, seen: &seen, inputSize: count)
                outcome.entries.append(entry)
            }
            try checkFinished(&reader)
        } catch {
            outcome.error = error
        }
        // An entry returned before an error may be cut short; a finished archive may not.
        if outcome.error == nil, let last = outcome.entries.last, last.dataOffset + last.size > UInt64(count) {
            fatalError("'\(last.path)' extends past the end of a \(count)-byte archive that was accepted")
        }
        return outcome
    }

    static func checkEntry(_ entry: TarEntry, seen: inout Set<String>, inputSize: Int) {
        if let problem = PayloadPath.problem(with: entry.path) {
            fatalError("entry with an unsafe path was returned: '\(PayloadPath.printable(entry.path))' (\(problem))")
        }
        guard seen.insert(entry.path).inserted else { fatalError("duplicate entry returned: '\(entry.path)'") }
        guard entry.dataOffset % UInt64(TarFormat.blockSize) == 0, entry.dataOffset <= UInt64(inputSize) else {
            fatalError("'\(entry.path)' has data offset \(entry.dataOffset) in a \(inputSize)-byte archive")
        }
        guard entry.mode <= 0o7777 else { fatalError("'\(entry.path)' has mode \(entry.mode)") }
    }

    /// After the end marker `next()` keeps returning nil.
    static func checkFinished<Input>(_ reader: inout TarReader<Input>) throws(TarError) {
        guard try reader.next() == nil else { fatalError("next() returned an entry after the end of the archive") }
    }

    // MARK: - Pax

    static func checkPax(_ bytes: [UInt8]) {
        let direct: Result<(path: String?, size: UInt64?), TarError>
        do throws(TarError) { direct = .success(try TarReader<MemoryTarInput>.parsePax(bytes)) } catch { direct = .failure(error) }

        // The bytes as the data of a pax header, followed by an empty regular file "a".
        var archive = TarFormat.ustarHeader(name: Array("PaxHeaders/entry".utf8), size: UInt64(bytes.count), mode: 0o644,
                                            modificationTime: 0, type: UInt8(ascii: "x"))
        archive += bytes
        archive += [UInt8](repeating: 0, count: TarFormat.padding(after: UInt64(bytes.count)))
        archive += TarFormat.ustarHeader(name: Array("a".utf8), size: 0, mode: 0o644, modificationTime: 0, type: UInt8(ascii: "0"))
        archive += TarFormat.endOfArchive
        var reader = TarReader(MemoryTarInput(archive))
        let first: Result<TarEntry?, TarError>
        do throws(TarError) { first = .success(try reader.next()) } catch { first = .failure(error) }

        if UInt64(bytes.count) > TarFormat.maximumPaxHeaderSize {
            guard case .failure(.badPaxRecord("it is larger than 64 KiB")) = first else {
                fatalError("a \(bytes.count)-byte pax header was not refused as too large: \(first)")
            }
            return
        }
        switch (direct, first) {
        case (.failure(let expected), .failure(let got)):
            guard expected == got else { fatalError("parsePax threw \(expected) but the reader threw \(got)") }
        case (.success(let pax), .success(let entry)):
            guard let entry else { fatalError("a pax header followed by a file read as the end of the archive") }
            guard entry.path == (pax.path ?? "a"), entry.size == (pax.size ?? 0) else {
                fatalError("pax \(pax) gave entry \(entry)")
            }
        case (.success(let pax), .failure(let got)):
            // Only the resulting entry may be refused: its path, never the records.
            let path = pax.path ?? "a"
            guard case .unsafePath = got, PayloadPath.problem(with: path) != nil else {
                fatalError("parsePax accepted \(pax) but the reader threw \(got)")
            }
        case (.failure(let expected), .success(let entry)):
            fatalError("parsePax threw \(expected) but the reader returned \(String(describing: entry))")
        }
        // Whatever the first entry was, the rest of this archive must not crash the reader.
        do throws(TarError) { while try reader.next() != nil {} } catch {}
    }

    // MARK: - Writer round trip

    /// Input layout: byte 0 selects how the size is formed, then 8 size bytes (little
    /// endian), then the path (lossy UTF-8). Data is written only for small sizes.
    static func checkRoundTrip(_ bytes: [UInt8]) {
        guard bytes.count >= 9 else { return }
        var raw: UInt64 = 0
        for i in 0..<8 { raw |= UInt64(bytes[1 + i]) << (8 * UInt64(i)) }
        let size: UInt64
        switch bytes[0] & 3 {
        case 0: size = raw & 0xfff                       // small, with data
        case 1: size = UInt64.max - (raw & 0x3ff)        // near the top: only a pax size can say it
        case 2: size = TarFormat.maximumUstarSize + (raw & 0xff) - 0x7f // around the ustar limit
        default: size = raw
        }
        let path = String(decoding: bytes[9...], as: UTF8.self)
        let withData = size <= 0xfff
        let mode = UInt32(bytes[0] >> 2) & 0o77 | 0o600
        var archive = TarFormat.headerBlocks(path: path, size: size, mode: mode, modificationTime: raw)
        if withData {
            archive += (0..<Int(size)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
            archive += [UInt8](repeating: 0, count: TarFormat.padding(after: size))
            archive += TarFormat.endOfArchive
        }
        var reader = TarReader(MemoryTarInput(archive))
        if PayloadPath.problem(with: path) != nil {
            // The writer is only given checked paths, and it does not check them itself: a
            // NUL ends the name field early, so a different (perhaps safe) path may be read
            // back. The reader must still return only safe paths, or throw.
            do throws(TarError) {
                var seen = Set<String>()
                while let entry = try reader.next() {
                    checkEntry(entry, seen: &seen, inputSize: archive.count)
                }
            } catch {}
            return
        }
        do throws(TarError) {
            guard let entry = try reader.next() else { fatalError("written entry '\(path)' read as an empty archive") }
            guard entry.path == path, entry.size == size, entry.mode == mode else {
                fatalError("wrote '\(path)' size \(size) mode \(mode), read \(entry)")
            }
            // Headers only: `next()` skips the data (or finds it missing).
            let next = try reader.next()
            guard withData, next == nil else { fatalError("after '\(path)' (data: \(withData)) came \(String(describing: next))") }
        } catch {
            switch error {
            case .badPaxRecord where size > UInt64(Int64.max):
                break // a reader may refuse sizes no file (off_t) or manifest (Int64) can have
            case .truncated:
                guard !withData else { fatalError("complete archive for '\(path)' size \(size) read as truncated: \(error)") }
            default:
                fatalError("writer's archive for safe path '\(path)' size \(size) refused: \(error)")
            }
        }
    }

    // MARK: - Bundle opener

    static func checkBundle(_ bytes: [UInt8]) {
        let archive: BundleArchive
        do {
            archive = try BundleArchive.open(scratchPath)
        } catch is BundleError {
            return
        } catch {
            fatalError("BundleArchive.open threw a non-BundleError: \(type(of: error)) \(error)")
        }
        var seen = Set<PayloadPath>()
        for entry in archive.entries {
            guard PayloadPath.problem(with: entry.path.value) == nil, seen.insert(entry.path).inserted,
                  entry.offset.addingReportingOverflow(entry.size).partialValue <= UInt64(bytes.count),
                  !entry.offset.addingReportingOverflow(entry.size).overflow else {
                fatalError("bad bundle entry \(entry) in a \(bytes.count)-byte file")
            }
        }
        let manifest: Manifest
        do {
            manifest = try archive.unverifiedManifest()
        } catch is BundleError {
            return
        } catch {
            fatalError("unverifiedManifest threw a non-BundleError: \(type(of: error)) \(error)")
        }
        do {
            try archive.checkPayload(against: manifest)
        } catch is BundleError {
        } catch {
            fatalError("checkPayload threw a non-BundleError: \(type(of: error)) \(error)")
        }
    }

    /// Replaces the scratch file's contents with `bytes`.
    static func writeScratch(_ bytes: [UInt8]) -> Bool {
        let fd = scratch.descriptor
        guard ftruncate(fd, 0) == 0 else { return false }
        return bytes.withUnsafeBytes { buffer in
            var done = 0
            while done < buffer.count {
                let n = pwrite(fd, buffer.baseAddress! + done, buffer.count - done, off_t(done))
                if n < 0, errno == EINTR { continue }
                guard n > 0 else { return false }
                done += n
            }
            return true
        }
    }
}
