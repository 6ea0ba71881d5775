import OTACore

/// Where the agent keeps things under its state folder:
///
///     device.key                this device's Ed25519 key (0600), unless `device_key` names another
///     credentials.json          registration (0600)
///     current/NAME -> ../slots/NAME/SLOT   what the application reads (models)
///     candidate/NAME -> ../slots/NAME/SLOT the model being proven in shadow (serves nothing)
///     reports/NAME.shadow.json  what the application measured in shadow (it writes this)
///     reports/NAME.metrics.json what the application measured of the live model
///     slots/NAME/SLOT/          complete, verified bundle payloads
///     staging/NAME/SLOT.partial being assembled; never pointed at
///     downloads/SHA256[.part]   content being downloaded (resumable)
///     downloads/SHA256.rebuild  a chunked file being rebuilt from held and fetched chunks
///     installed/NAME.json       the committed version of each bundle name
///     journal/NAME.json         the update in progress for a bundle name
///     outbox.json               events not yet delivered to the server
///     ledger.json               versions that failed here, assignments refused or ended
///     status.json               last check-in and last error
struct StateLayout: Sendable {
    let root: String

    var credentials: String { root + "/credentials.json" }
    var deviceKey: String { root + "/device.key" }
    var currentDirectory: String { root + "/current" }
    var downloads: String { root + "/downloads" }
    var outbox: String { root + "/outbox.json" }
    var ledger: String { root + "/ledger.json" }
    var status: String { root + "/status.json" }
    var journals: String { root + "/journal" }
    var installed: String { root + "/installed" }
    var candidateDirectory: String { root + "/candidate" }
    var reports: String { root + "/reports" }
    /// TUF metadata the device trusts (root.json, timestamp.json, snapshot.json, targets.json).
    var trustDirectory: String { root + "/trust" }
    var trustState: String { root + "/trust/state.json" }

    // Bundle names and slots are checked names (`BundleName`, `SlotName`): none is a path.
    func current(_ name: BundleName) -> String { "\(currentDirectory)/\(name)" }
    func candidate(_ name: BundleName) -> String { "\(candidateDirectory)/\(name)" }
    func shadowReport(_ name: BundleName) -> String { "\(reports)/\(name).shadow.json" }
    func metricsReport(_ name: BundleName) -> String { "\(reports)/\(name).metrics.json" }
    func slots(_ name: BundleName) -> String { "\(root)/slots/\(name)" }
    func slot(_ name: BundleName, _ slot: SlotName) -> String { "\(root)/slots/\(name)/\(slot)" }
    func staging(_ name: BundleName, _ slot: SlotName) -> String { "\(root)/staging/\(name)/\(slot).partial" }
    func journal(_ name: BundleName) -> String { "\(journals)/\(name).json" }
    func record(_ name: BundleName) -> String { "\(installed)/\(name).json" }
    func download(_ digest: SHA256Digest) -> String { "\(downloads)/\(digest.hex)" }
    func partialDownload(_ digest: SHA256Digest) -> String { "\(downloads)/\(digest.hex).part" }
    /// A chunked file being rebuilt in place (each chunk at its offset), and the answer to the
    /// last request for its missing chunks.
    func rebuild(_ digest: SHA256Digest) -> String { "\(downloads)/\(digest.hex).rebuild" }
    func fetchedRanges(_ digest: SHA256Digest) -> String { "\(downloads)/\(digest.hex).ranges" }

    /// The link text of `current/NAME` for a slot (relative, so the state folder can move).
    func linkTarget(_ name: BundleName, _ slot: SlotName) -> String { "../slots/\(name)/\(slot)" }

    func create() throws {
        for folder in [root, currentDirectory, candidateDirectory, reports, downloads, journals, installed, root + "/slots", root + "/staging"] {
            try FileSystem.createDirectory(folder, permissions: 0o755)
        }
        // Traversable but not listable: a bundle self-test running as another user reaches its
        // slot by its path, while the secrets are 0600 files it cannot open.
        try FileSystem.setPermissions(root, 0o711)
    }
}

/// Small JSON state files, each written atomically (temporary file, fsync, rename, fsync folder).
enum StateFile {
    static func read<T: Decodable>(_ type: T.Type, from path: String) throws -> T? {
        guard FileSystem.exists(path) else { return nil }
        let bytes = try FileSystem.readFile(path, limit: 16 << 20)
        return try StrictJSON.decode(T.self, from: bytes, what: path)
    }

    static func write<T: Encodable>(_ value: T, to path: String, permissions: UInt32 = 0o644) throws {
        try FileSystem.writeAtomically(Array(try StrictJSON.encode(value, pretty: true)), to: path, permissions: permissions)
    }
}
