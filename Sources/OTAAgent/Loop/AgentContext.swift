import Logging
import OTAClient
import OTACore

/// What every part of the agent shares: configuration, its environment (clock, transport,
/// crash points, log), trust, the state folder, the outbox.
final class AgentContext {
    let config: AgentConfig
    let environment: AgentEnvironment
    /// The device's root, releases and answer checks (`DeviceTrust`).
    let trust: DeviceTrust
    let layout: StateLayout
    let outbox: Outbox
    private(set) var ledger: Ledger
    /// Shadow phases this process has told the application to start (see `Updater.shadow`).
    var startedShadows = Set<String>()
    /// What the device is, sent with check-ins until the server has it.
    let inventory: InventoryReporter

    var clock: any AgentClock { environment.clock }
    var log: Logger { environment.logger }
    func reached(_ point: CrashPoint) { environment.crash.reached(point) }

    init(config: AgentConfig, environment: AgentEnvironment) throws {
        self.config = config
        self.environment = environment
        layout = StateLayout(root: config.stateDir)
        try layout.create()
        try FileSystem.createDirectory(layout.trustDirectory, permissions: 0o755)
        trust = DeviceTrust(anchor: try TrustAnchor.load(from: config.trustRoot), layout: layout,
                            channel: config.channel ?? Release.defaultChannel, clock: environment.clock)
        outbox = try Outbox(path: layout.outbox, log: environment.logger)
        inventory = InventoryReporter(probe: environment.inventoryProbe, config: config, log: environment.logger)
        ledger = try StateFile.read(Ledger.self, from: layout.ledger) ?? Ledger()
    }

    /// How a bundle of `kind` goes live: the built-in model swap, or the device's handler.
    func installer(for kind: BundleKind) throws -> any Installer {
        switch kind {
        case .model:
            return ModelInstaller(layout: layout, reloadCommand: config.reloadCommand, crash: environment.crash)
        case .firmware, .handler, .swupdate, .rauc:
            // The server offers client images only to DDI devices; a handler could take one.
            guard let handler = config.handlers?[kind.name] else { throw UpdateProblem.noHandler(kind) }
            return HandlerInstaller(handler: handler, layout: layout, timeoutSeconds: max(config.healthTimeout, 600))
        }
    }

    /// Whether this device can install bundles of `kind`.
    func canInstall(_ kind: BundleKind) -> Bool { kind.isModel || config.handlers?[kind.name] != nil }

    func record(_ name: BundleName) throws -> InstalledRecord? {
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

    func journal(_ name: BundleName) throws -> Journal? { try StateFile.read(Journal.self, from: layout.journal(name)) }

    /// Files of the committed slot by digest, to reuse instead of downloading again (their
    /// bytes are checked against the digest before use). None when the record is unreadable:
    /// the files are then fetched.
    func reusableFiles(for name: BundleName) -> [SHA256Digest: String] {
        // An unreadable record only costs a download.
        guard let record = try? record(name) else { return [:] }
        let slot = layout.slot(name, record.slot)
        var found: [SHA256Digest: String] = [:]
        for file in record.files where FileSystem.fileSize(slot + "/" + file.path.value) == file.size {
            found[file.sha256] = slot + "/" + file.path.value
        }
        return found
    }

    func recordFailure(_ name: BundleName, _ version: SemanticVersion) throws {
        ledger.recordFailure(name, version)
        try saveLedger()
    }

    /// Remembers an assignment that was refused or ended without an install, so it is not
    /// taken again; true the first time.
    func noteEnded(_ key: AssignmentKey) throws -> Bool {
        let first = ledger.noteEnded(key)
        if first { try saveLedger() }
        return first
    }

    private func saveLedger() throws { try StateFile.write(ledger, to: layout.ledger) }

    /// Removes slots other than `keep`, leftover staging folders, and downloads that no
    /// update in progress needs. Best effort: a leftover costs disk, not correctness, and the
    /// next cleanup tries again.
    func cleanUp(_ name: BundleName, keep: [SlotName]) {
        func entries(_ folder: String) throws -> [String] { FileSystem.exists(folder) ? try FileSystem.list(folder) : [] }
        do {
            for slot in try entries(layout.slots(name)) where !keep.contains(where: { $0.rawValue == slot }) {
                try FileSystem.remove(layout.slots(name) + "/" + slot)
            }
            try FileSystem.remove(layout.root + "/staging/" + name.rawValue)
            var needed = Set<String>()
            for journal in try journals() {
                for file in try Manifest.decode(journal.envelope.payload).files { needed.insert(file.sha256.hex) }
            }
            for file in try entries(layout.downloads) where !needed.contains(String(file.prefix(64))) {
                try FileSystem.remove(layout.downloads + "/" + file)
            }
        } catch {
            log.warning("cleaning up after \(name): \(error); tried again after the next update")
        }
    }
}
