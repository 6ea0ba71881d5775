#if canImport(Glibc)
import Glibc
#endif
import OTAClient
import OTACore

/// Step 3 for a file the manifest lists with content-defined chunks: rebuild it in place from
/// chunks the device already holds (in the live slot's files, in files of this update already
/// downloaded, earlier in the file itself) and fetch only the rest, many ranges per request.
///
/// Every chunk is checked against its signed SHA-256 before it is written, and the whole file
/// against the file's before it is used. The chunk list was validated with the manifest (in
/// order, no gap or overlap, adding up to the file's size), so nothing is ever written outside
/// the file's declared size. Resuming needs no extra state: the chunks already in the file are
/// found by their hashes.
extension Updater {
    /// At most this many bytes (and `RangesRequest.maximumCount` ranges) per request, and
    /// as many chunks as the server reads from its store for one request (it answers the
    /// rest of a larger request with a shorter answer).
    static let bytesPerRangesRequest: UInt64 = 4 << 20
    static let chunksPerRangesRequest = DeviceAPI.RangesRequest.storeReadsPerRequest

    /// Rebuilds `file` into downloads/, returning the bytes received.
    mutating func rebuild(_ file: Manifest.FileEntry, chunks: [Chunk], manifest: Manifest) throws -> UInt64 {
        let target = layout.rebuild(file.sha256)
        let resuming = FileSystem.exists(target)
        if !resuming, let free = FileSystem.availableBytes(at: layout.downloads), free < file.size {
            // Like a full disk during a download: kept, and tried again at the next cycle. The
            // rebuild never starts a file it cannot finish, however its chunk list repeats.
            throw FileError("rebuild '\(file.path)' (\(file.size) bytes, \(free) free)", target, code: ENOSPC)
        }
        let rebuild = try ChunkedFile(path: target, size: file.size, chunks: chunks)
        if resuming { try rebuild.findPlaced() }
        try rebuild.copyHeld(from: seedFiles(excluding: file.sha256, manifest: manifest))
        if rebuild.missingBytes == file.size {
            // Nothing on the device helps (a first install): one streamed download hashes the
            // file on the way in, cheaper than ranges and a second pass over it.
            try FileSystem.remove(target)
            return try fetch(file)
        }
        let missingAtStart = rebuild.missingBytes
        log.info("\(label): \(file.path): \(file.size - missingAtStart) of \(file.size) bytes already on the device; fetching the rest")
        var nextReport = missingAtStart / 10
        var received: UInt64 = 0
        var placedThisRun: UInt64 = 0
        var attempt = 0
        while let batch = rebuild.nextBatch(maximumBytes: Self.bytesPerRangesRequest, maximumRanges: DeviceAPI.RangesRequest.maximumCount,
                                            maximumChunks: Self.chunksPerRangesRequest) {
            guard let fetcher else { throw HTTPClientError.transport("not connected to the server") }
            attempt += 1
            let answer = layout.fetchedRanges(file.sha256)
            // An answer left by a crash must never be read as this batch's.
            try FileSystem.remove(answer)
            var failure: (any Error)?
            do { _ = try fetcher.fetchRanges(file.sha256, batch.ranges, to: answer) } catch { failure = error }
            let outcome = try rebuild.place(batch, from: answer)
            try FileSystem.remove(answer)
            received += outcome.receivedBytes
            placedThisRun += outcome.placedBytes
            journal.transfer.fetchedBytes += outcome.receivedBytes
            if outcome.placedBytes > 0 { journal.transfer.refused = 0 }
            try saveJournal()
            if placedThisRun * 2 >= missingAtStart, rebuild.missingBytes > 0 { agent.reached(.rebuildMidway) }
            if missingAtStart >= 8 << 20, placedThisRun >= nextReport, rebuild.missingBytes > 0 {
                log.info("\(label): \(file.path): \(placedThisRun * 100 / missingAtStart)% of the missing \(missingAtStart) bytes")
                nextReport = placedThisRun + missingAtStart / 10
            }
            if let corrupt = outcome.corruptChunk {
                try countCorrupt("chunk \(corrupt) of '\(file.path)' arrived complete but does not match its signed SHA-256", discarding: nil)
                continue
            }
            if let failure {
                if let error = failure as? HTTPClientError, error.refusesContent { try countRefused(file, error) }
                // A link that breaks off is resumed at once while it still delivers chunks.
                guard let error = failure as? HTTPClientError, error.isTransferProblem, outcome.placedBytes > 0,
                      attempt < Self.transferAttemptsPerCycle * 4 else { throw failure }
                log.info("\(label): \(file.path): \(error); \(rebuild.missingBytes) bytes still missing, resuming")
                agent.clock.pause(seconds: 0.25)
            } else if outcome.placedBytes == 0 {
                throw HTTPClientError.invalidAnswer("the server's answer for '\(file.path)' held none of the chunks asked for")
            }
        }
        guard try rebuild.finish() == file.sha256 else {
            // Every chunk matched, so the manifest contradicts itself; counted, so this ends.
            try countCorrupt("'\(file.path)' rebuilt from chunks that each match does not match its signed SHA-256 (the manifest contradicts itself)", discarding: target)
            return received + (try self.rebuild(file, chunks: chunks, manifest: manifest))
        }
        try FileSystem.rename(target, to: layout.download(file.sha256))
        try FileSystem.syncDirectory(layout.downloads)
        journal.transfer.refused = 0
        return received
    }

    /// Files on the device that may hold chunks of the new file: the live slot's, and files
    /// of this update that are already complete.
    private func seedFiles(excluding digest: SHA256Digest, manifest: Manifest) -> [String] {
        var paths = Array(agent.reusableFiles(for: journal.name).filter { $0.key != digest }.values)
        for file in manifest.files where file.sha256 != digest && FileSystem.exists(layout.download(file.sha256)) {
            paths.append(layout.download(file.sha256))
        }
        return paths.sorted()
    }
}
