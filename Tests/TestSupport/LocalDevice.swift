#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Logging
import OTAAgent
import OTACore

/// A device in process: an agent config and state folder, an `InMemoryFleet` for its server
/// and a `TestClock` for its time. Each `cycle` builds a fresh `Agent` over the same state, as
/// a restarted process would; `cycle(crashingAt:)` stops the agent dead at a crash point (its
/// thread ends there, nothing after it runs), as a power cut would.
public final class LocalDevice: @unchecked Sendable {
    public let dir = TemporaryDirectory("ota-device")
    public let fleet: InMemoryFleet
    public let clock: TestClock
    /// Signs bundles (the release key of the device's trust root).
    public let releaseKey: Ed25519PrivateKey
    public let repository: TUFRepository?
    public let id: DeviceID
    public var config: [String: Any]
    /// Where the agent reads the device's architecture, CPU features and memory.
    public var inventoryProbe = InventoryProbe(procRoot: "/nonexistent", machine: { "x86_64" })

    /// `tuf`: a TUF root (signed answers, release metadata) instead of a legacy one.
    /// `serverClock`: the fleet's own clock, when the device's must differ from it.
    /// `modelSigning`: the TUF root's model-signing policy (implies `tuf`).
    public init(_ id: DeviceID = "dev-1", tuf: Bool = false, config extra: [String: Any] = [:], clock: TestClock = TestClock(),
                serverClock: TestClock? = nil, modelSigning: ModelSigningPolicy? = nil) throws {
        self.id = id
        self.clock = clock
        fleet = InMemoryFleet()
        releaseKey = try Ed25519PrivateKey.generate()
        if tuf || modelSigning != nil {
            let repository = try TUFRepository(release: releaseKey, clock: serverClock ?? clock, modelSigning: modelSigning)
            self.repository = repository
            fleet.repository = repository
            try FileSystem.writeAtomically(repository.trustRoot, to: dir.file("trust.json"))
        } else {
            repository = nil
            try FileSystem.writeAtomically(try TrustRoot(keys: [releaseKey.publicKey], threshold: 1).encoded(), to: dir.file("trust.json"))
        }
        config = ["server_url": "http://127.0.0.1:9", "device_id": id.rawValue, "hardware": "test-hw", "trust_root": "trust.json",
                  "state_dir": "state", "allow_insecure_http": true, "health_command": ["/bin/sh", "-c", "exit 0"],
                  "enrollment_token": "enr-test"]
        for (key, value) in extra { config[key] = value }
    }

    public var statePath: String { dir.file("state") }

    /// A bundle signed by the device's release key.
    public func bundle(_ version: SemanticVersion, name: BundleName = "digits", files: [String: [UInt8]]? = nil, kind: BundleKind = .model,
                       compatible: [HardwareClass] = ["test-hw"], variants: [Manifest.Variant]? = nil) throws -> TestBundle {
        try TestBundle(name, version, files: files ?? ["model.onnx": Array("weights \(version)".utf8)], kind: kind,
                       compatible: compatible, signer: releaseKey, variants: variants)
    }

    /// Offers `bundle` (and, with a TUF root, releases it on the stable channel).
    public func deploy(_ bundle: TestBundle, deploymentID: DeploymentID = "dep_1", shadow: ShadowPolicy? = nil) throws {
        try repository?.release(bundle)
        fleet.assign(bundle, deploymentID: deploymentID, shadow: shadow)
    }

    /// A fresh agent over this device's state, with `crash` at its crash points.
    public func agent(crash: CrashInjection = .none) throws -> Agent {
        try FileSystem.writeAtomically(Array(try JSONSerialization.data(withJSONObject: config, options: [.sortedKeys])), to: dir.file("agent.json"))
        let environment = AgentEnvironment(clock: clock, connector: fleet, crash: crash, logger: .readable("ota-agent", level: .critical, clock: clock),
                                           inventoryProbe: inventoryProbe)
        return try Agent(config: try AgentConfig.load(from: dir.file("agent.json")), environment: environment)
    }

    /// One check-in cycle.
    @discardableResult
    public func cycle() throws -> Agent.CycleOutcome { try agent().cycle() }

    /// Runs one cycle on a thread of its own that ends dead at `point`; true when the agent
    /// reached it. What the agent wrote until then stays, as after a power cut.
    public func cycle(crashingAt point: CrashPoint) throws -> Bool {
        let agent = try agent(crash: CrashInjection { reached in if reached == point { pthread_exit(nil) } })
        let outcome = CycleBox { _ = agent.cycle() }
        var thread = pthread_t()
        let box = Unmanaged.passRetained(outcome).toOpaque()
        guard pthread_create(&thread, nil, { raw in
            let box = Unmanaged<CycleBox>.fromOpaque(raw!).takeUnretainedValue()
            box.body()
            box.finished = true
            return nil
        }, box) == 0 else { throw TestFailure("cannot start a thread") }
        pthread_join(thread, nil)
        let finished = outcome.finished
        Unmanaged<CycleBox>.fromOpaque(box).release()
        return !finished
    }

    // MARK: What the device holds

    public var journalExists: Bool { !((try? FileSystem.list(statePath + "/journal")) ?? []).isEmpty }

    /// The slot `current/NAME` names, or nil.
    public func currentSlot(_ name: String = "digits") -> String? {
        FileSystem.readSymlink(statePath + "/current/" + name).map { FileSystem.basename(of: $0) }
    }

    /// The files of the live slot of `name`, by path.
    public func liveFiles(_ name: String = "digits") throws -> [String: [UInt8]] {
        guard let slot = currentSlot(name) else { return [:] }
        let folder = statePath + "/slots/\(name)/\(slot)"
        var files: [String: [UInt8]] = [:]
        for path in try TestAgent.files(under: folder) { files[path] = try FileSystem.readFile(folder + "/" + path, limit: 1 << 28) }
        return files
    }

    /// `ota-agent status --json`, decoded.
    public func status() throws -> StatusReport { try agent().statusReport() }

    /// The states the fleet received, in order.
    public var reported: [DeviceAPI.UpdateState] { fleet.events.map(\.state) }
}

private final class CycleBox: @unchecked Sendable {
    let body: () -> Void
    var finished = false
    init(_ body: @escaping () -> Void) { self.body = body }
}
