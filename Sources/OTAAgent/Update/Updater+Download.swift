#if canImport(Glibc)
import Glibc
#endif
import Logging
import OTAClient
import OTACore

/// Steps 3 and 4: fetch what the device does not hold, then assemble the new slot.
///
/// A transfer that breaks off is resumed where it stopped: at once while it makes progress
/// (a flaky link), otherwise at the next cycle with the daemon's backoff. A network alone
/// never ends an update. Only a file that arrived complete with the wrong SHA-256 is thrown
/// away, and after `corruptDownloadLimit` of those this deployment's attempt is given up.
/// Content the server refuses (403, 404, 410) is tried again at the next cycles, whose check-in
/// says whether the update is still offered (a server that restarted may briefly not know the
/// device's assignment); refused `refusedDownloadLimit` cycles running, the update is abandoned.
extension Updater {
    static let corruptDownloadLimit = 3
    static let refusedDownloadLimit = 3
    static let transferAttemptsPerCycle = 5

    mutating func download() throws -> String {
        let manifest = try manifest
        let reusable = agent.reusableFiles(for: journal.name)
        var fetched: UInt64 = 0
        var reused = 0
        var seen = Set<SHA256Digest>()
        for file in manifest.files where seen.insert(file.sha256).inserted {
            if FileSystem.exists(layout.download(file.sha256)) {
                // Verified when it was renamed in; staging checks it again after a restart.
                reused += 1
            } else if let source = reusable[file.sha256], Self.holds(source, file.sha256) {
                // A file of the live slot is used only if its bytes are still the signed ones.
                verified.insert(file.sha256)
                reused += 1
            } else if let chunks = file.chunks {
                fetched += try rebuild(file, chunks: chunks, manifest: manifest)
                verified.insert(file.sha256)
            } else {
                fetched += try fetch(file)
                verified.insert(file.sha256)
            }
        }
        let cost = try transfer
        return "fetched \(cost.fetchedBytes) of \(cost.totalBytes) bytes; \(reused) of \(seen.count) files already on the device"
    }

    /// What this update's transfer cost, across restarts, against the full size of its files.
    var transfer: DeviceAPI.Transfer {
        get throws {
            var seen = Set<SHA256Digest>()
            // Saturating: each size is at most 1 PiB, but a signed manifest may list many.
            let total = try manifest.files.reduce(UInt64(0)) { total, file in
                guard seen.insert(file.sha256).inserted else { return total }
                let (sum, overflow) = total.addingReportingOverflow(file.size)
                return overflow ? .max : sum
            }
            return DeviceAPI.Transfer(fetchedBytes: min(journal.transfer.fetchedBytes, total), totalBytes: total)
        }
    }

    /// Fetches one file into downloads/, returning the bytes received.
    mutating func fetch(_ file: Manifest.FileEntry) throws -> UInt64 {
        guard let fetcher else { throw HTTPClientError.transport("not connected to the server") }
        let partial = layout.partialDownload(file.sha256)
        var received: UInt64 = 0
        var attempt = 0
        while true {
            attempt += 1
            let before = FileSystem.fileSize(partial) ?? 0
            let result: HTTPClient.DownloadResult
            do {
                result = try fetcher.fetch(file.sha256, to: partial, expectedSize: file.size, progress: progress(for: file, from: before))
            } catch let error as HTTPClientError {
                if error.refusesContent { try countRefused(file, error) }
                let now = FileSystem.fileSize(partial) ?? 0
                received += now > before ? now - before : 0
                journal.transfer.fetchedBytes += now > before ? now - before : 0
                guard error.isTransferProblem, now > before, attempt < Self.transferAttemptsPerCycle else {
                    // What arrived stays counted when the next cycle resumes.
                    try saveJournal()
                    throw error
                }
                log.info("\(label): \(file.path): \(error); resuming at byte \(now)")
                agent.clock.pause(seconds: Double(min(attempt, 4)) * 0.25)
                continue
            }
            received += result.received
            journal.transfer.fetchedBytes += result.received
            if before > 0 && result.resumed { log.info("\(label): \(file.path) resumed at byte \(before)") }
            let size = FileSystem.fileSize(partial) ?? 0
            if size < file.size {
                // The answer ended early without an error (a proxy that cuts it short).
                guard attempt < Self.transferAttemptsPerCycle else {
                    throw HTTPClientError.transport("'\(file.path)' keeps ending early (at byte \(size) of \(file.size))")
                }
                continue
            }
            guard result.sha256 == file.sha256 else {
                try countCorrupt("'\(file.path)' arrived complete but does not match its signed SHA-256", discarding: partial)
                continue
            }
            try FileSystem.rename(partial, to: layout.download(file.sha256))
            try FileSystem.syncDirectory(layout.downloads)
            journal.transfer.refused = 0
            return received
        }
    }

    /// Counts a cycle in which the server refused `file`'s content, and always throws: the
    /// error itself (the next cycle tries again), or at the limit the end of the update.
    mutating func countRefused(_ file: Manifest.FileEntry, _ error: HTTPClientError) throws -> Never {
        journal.transfer.refused += 1
        try saveJournal()
        guard journal.transfer.refused < Self.refusedDownloadLimit else {
            throw UpdateProblem.contentRefused(path: file.path, error: error.description, cycles: journal.transfer.refused)
        }
        throw error
    }

    /// Counts a corrupt file, then discards it (in that order, so that a crash between the
    /// two cannot make the count forget it); gives up this deployment's attempt at the limit.
    mutating func countCorrupt(_ problem: String, discarding file: String?) throws {
        journal.transfer.corrupt += 1
        let count = journal.transfer.corrupt
        try saveJournal()
        // Removed before it is fetched again; one that cannot be removed now is replaced then.
        if let file { try? FileSystem.remove(file) }
        guard count < Self.corruptDownloadLimit else { throw UpdateProblem.corruptContent(count: count, problem) }
        log.error("\(label): \(problem) (\(count) of \(Self.corruptDownloadLimit - 1) allowed); fetching it again")
    }

    private func progress(for file: Manifest.FileEntry, from before: UInt64) -> (UInt64, UInt64) -> Void {
        let crash = agent.environment.crash
        let log = self.log
        let name = "\(label): \(file.path)"
        let midway = file.size / 2
        var crashed = false
        var nextReport = UInt64(0)
        return { done, total in
            if !crashed, done >= midway, done > before, done < file.size {
                crashed = true
                crash.reached(.downloadMidway)
            }
            // Large files log their progress every tenth.
            if total >= 8 << 20, done >= nextReport {
                log.info("\(name): \(done * 100 / total)% of \(total) bytes")
                nextReport = done + total / 10
            }
        }
    }

    /// Assembles the new slot from verified downloads and unchanged files of the current
    /// slot, then renames it into place. False when a file must be fetched again (it was
    /// damaged since it was checked).
    mutating func stage() throws -> Bool {
        let manifest = try manifest
        let reusable = agent.reusableFiles(for: journal.name)
        let staging = layout.staging(journal.name, journal.slot)
        try FileSystem.remove(staging)
        try Self.createReadableDirectory(staging)
        var folders = Set([staging])
        for file in manifest.files {
            let destination = staging + "/" + file.path.value
            let folder = FileSystem.parent(of: destination)
            try Self.createReadableDirectory(folder)
            folders.insert(folder)
            let download = layout.download(file.sha256)
            let fromDownload = FileSystem.exists(download)
            let source = fromDownload ? download : reusable[file.sha256]
            guard let source, verified.contains(file.sha256) || Self.holds(source, file.sha256) else {
                try countCorrupt("'\(file.path)' changed on the device's disk after it was verified", discarding: fromDownload ? download : nil)
                return false
            }
            verified.insert(file.sha256)
            try place(source, at: destination, permissions: manifest.health?.command == file.path ? 0o555 : 0o444,
                      mayChangeSource: fromDownload)
        }
        for folder in folders.sorted(by: >) { try FileSystem.syncDirectory(folder) }
        let final = layout.slot(journal.name, journal.slot)
        try Self.createReadableDirectory(layout.slots(journal.name))
        try FileSystem.remove(final)
        try FileSystem.rename(staging, to: final)
        try FileSystem.syncDirectory(layout.slots(journal.name))
        return true
    }

    /// Whether the file at `path` holds exactly `digest`'s bytes; a file that cannot be read
    /// does not.
    static func holds(_ path: String, _ digest: SHA256Digest) -> Bool {
        do { return try SHA256Digest.ofFile(at: path) == digest } catch { return false }
    }

    /// 0755 whatever the umask: a self-test running as another user must reach its slot.
    private static func createReadableDirectory(_ path: String) throws {
        try FileSystem.createDirectory(path)
        try FileSystem.setPermissions(path, 0o755)
    }

    /// Hard-links when the file already has the wanted permissions, else copies: a mode
    /// change on a hard link would change the live slot's file too.
    private func place(_ source: String, at destination: String, permissions: mode_t, mayChangeSource: Bool) throws {
        if mayChangeSource, let mode = FileSystem.mode(of: source), mode.links == 1, mode.permissions != permissions {
            try FileSystem.setPermissions(source, permissions)
        }
        if FileSystem.mode(of: source)?.permissions == permissions {
            try FileSystem.hardLink(source, to: destination)
        } else {
            try FileSystem.copyFile(source, to: destination, permissions: permissions)
            try FileSystem.setPermissions(destination, permissions)
        }
    }
}

extension HTTPClientError {
    /// A transfer that broke off or went wrong on the way, as opposed to an answer.
    var isTransferProblem: Bool {
        switch self {
        case .transport, .tooLarge, .invalidAnswer: return true
        case .status, .unknownDevice, .redirectRefused, .insecureURL, .file: return false
        }
    }
}
