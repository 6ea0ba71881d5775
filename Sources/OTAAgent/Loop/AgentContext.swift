import OTAClient
import OTACore

/// What every part of the agent shares: configuration, trust, the state folder, the outbox.
final class AgentContext {
    let config: AgentConfig
    /// The device's root, releases and answer checks (`DeviceTrust`).
    let trust: DeviceTrust
    let layout: StateLayout
    let outbox: Outbox
    let crash: CrashHook
    let log: AgentLog
    private(set) var ledger: Ledger
    /// Shadow phases this process has told the application to start (see `Updater.shadow`).
    var startedShadows = Set<String>()

    init(config: AgentConfig, crash: CrashHook, log: AgentLog) throws {
        self.config = config
        self.crash = crash
        self.log = log
        layout = StateLayout(root: config.stateDir)
        try layout.create()
        try FileSystem.createDirectory(layout.trustDirectory, permissions: 0o755)
        trust = DeviceTrust(anchor: try TrustAnchor.load(from: config.trustRoot), layout: layout, channel: config.channel ?? Release.defaultChannel)
        outbox = try Outbox(path: layout.outbox, log: log)
        ledger = try StateFile.read(Ledger.self, from: layout.root + "/ledger.json") ?? Ledger()
    }

    func installer(for kind: String) throws -> any Installer {
        if kind == "model" { return ModelInstaller(layout: layout, reloadCommand: config.reloadCommand, crash: crash) }
        guard let handler = config.handlers?[kind] else { throw InstallError(description: "no install handler for kind '\(kind)' in the config") }
        return HandlerInstaller(handler: handler, layout: layout, timeoutSeconds: max(config.healthTimeout, 600))
    }

    func record(_ name: String) throws -> InstalledRecord? {
        try StateFile.read(InstalledRecord.self, from: layout.record(name))
    }

    func records() throws -> [InstalledRecord] {
        try FileSystem.list(layout.installed).filter { $0.hasSuffix(".json") }.compactMap { file in
            try StateFile.read(InstalledRecord.self, from: layout.installed + "/" + file)
        }
    }

    func journals() throws -> [Journal] {
        try FileSystem.list(layout.journals).filter { $0.hasSuffix(".json") }.compactMap { file in
            try StateFile.read(Journal.self, from: layout.journals + "/" + file)
        }
    }

    /// Files of the committed slot by digest, to reuse instead of downloading again (their
    /// bytes are checked against the digest before use).
    func reusableFiles(for name: String) -> [SHA256Digest: String] {
        guard let record = try? record(name) else { return [:] }
        let slot = layout.slot(name, record.slot)
        var found: [SHA256Digest: String] = [:]
        for file in record.files where FileSystem.fileSize(slot + "/" + file.path.value) == file.size {
            found[file.sha256] = slot + "/" + file.path.value
        }
        return found
    }

    func recordFailure(_ name: String, _ version: String) throws {
        ledger.recordFailure(name, version)
        try saveLedger()
    }

    /// Remembers an assignment that ended without an install, so it is not taken again.
    func noteEnded(_ key: String) throws -> Bool { try noteRefusal(key) }

    func noteRefusal(_ key: String) throws -> Bool {
        let first = ledger.noteRefusal(key)
        if first { try saveLedger() }
        return first
    }

    private func saveLedger() throws { try StateFile.write(ledger, to: layout.root + "/ledger.json") }

    /// Removes slots other than `keep`, leftover staging folders, and downloads that no
    /// update in progress needs. Best effort: a leftover costs disk, not correctness.
    func cleanUp(_ name: String, keep: [String]) {
        for slot in (try? FileSystem.list(layout.slots(name))) ?? [] where !keep.contains(slot) {
            try? FileSystem.remove(layout.slot(name, slot))
        }
        try? FileSystem.remove(layout.root + "/staging/" + name)
        let needed = Set(((try? journals()) ?? []).flatMap { journal in
            ((try? Manifest.decode(journal.envelope.payload))?.files ?? []).map(\.sha256.hex)
        })
        for file in (try? FileSystem.list(layout.downloads)) ?? [] where !needed.contains(String(file.prefix(64))) {
            try? FileSystem.remove(layout.downloads + "/" + file)
        }
    }
}
