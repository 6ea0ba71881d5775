import OTACore

/// hawkBit's DDI API over the same fleet as the device API: a poll is a check-in (the same
/// targeting, phases, rate limits and release checks decide), an action is a device's
/// membership in a deployment, and feedback becomes the events agents report
/// (`DDIFeedback`). Nothing here is a second system: DDI is a second wire protocol.
struct DDIService: Sendable {
    let checkins: CheckinService
    let rollouts: RolloutService
    let cache: FleetCache
    let store: DDIStore
    let digests: ArtifactDigests
    let devices: DeviceStore
    let bundles: BundleStore
    let storedFiles: StoredFiles
    let trust: TrustRepository
    let settings: DDISettings
    let pollIntervalSeconds: Int
    let clock: any DomainClock

    /// The answer to a poll: the action to stop, else the action to run, else a request for
    /// the device's attributes when the server has none.
    func base(_ caller: DDICaller) async throws -> DDI.Base {
        let device = caller.identity
        let offered = try await checkins.poll(device, released: trust.unexpiredReleaseIndex(at: clock.now), channel: settings.channel)
        var links: [String: DDI.Link] = [:]
        if let cancelling = try await store.cancelling(device: device.id) {
            links["cancelAction"] = DDI.Link("\(caller.controllerURL)/cancelAction/\(cancelling.number)")
        } else if let action = cache.state.withLock({ state in
            state.live.filter { offered.contains($0.plan.id) }.map { ($0.plan.seq, $0.members[device.id]?.state ?? .pending) }.min { $0.0 < $1.0 }
        }), DDIAction.numbers.contains(action.0) {
            links["deploymentBase"] = DDI.Link("\(caller.controllerURL)/deploymentBase/\(action.0)?c=\(Self.changeHash(action.0, action.1))")
        } else if try await devices.attributes(id: device.id)?.isEmpty ?? false {
            // Only while no action is shown: SWUpdate installs nothing while it is asked for
            // attributes it was not configured to send.
            links["configData"] = DDI.Link("\(caller.controllerURL)/configData")
        }
        return DDI.Base(sleep: DDISettings.sleep(seconds: pollIntervalSeconds), links: links)
    }

    /// hawkBit's `?c=`: changes when the action does, so clients can tell (rauc-hawkbit needs
    /// one to parse the link; no client relies on its value).
    static func changeHash(_ number: Int64, _ state: AdminAPI.MembershipState) -> Int32 {
        var hash: UInt32 = 2_166_136_261
        for byte in "\(number)/\(state.rawValue)".utf8 { hash = (hash ^ UInt32(byte)) &* 16_777_619 }
        return Int32(bitPattern: hash)
    }

    /// The device's action `number`, which must exist.
    func action(_ caller: DDICaller, _ number: Int64) async throws -> DDIAction {
        guard DDIAction.numbers.contains(number), let action = try await store.action(number: number, device: caller.identity.id) else {
            throw APIError.notFound("controller \(caller.identity.id) has no action \(number)")
        }
        return action
    }

    /// What to download and install for an action; with `installed`, the installed base of a
    /// finished one. An open action's image must still be released: DDI clients check no
    /// release metadata, so a release withdrawn or expired stops them here.
    func deploymentBase(_ caller: DDICaller, _ action: DDIAction, installed: Bool = false) async throws -> DDI.DeploymentBase {
        guard let (bundleID, bundle) = try await bundles.find(id: action.bundleID), bundle.kind.isClientImage else {
            throw APIError.notFound("action \(action.number) has no client image")
        }
        if !installed { try checkReleased(bundle) }
        var artifacts: [DDI.Artifact] = []
        for file in bundle.files ?? [] {
            let name = Self.filename(file.path)
            let digests = try await self.digests.digests(of: file.sha256)
            let href = "\(caller.controllerURL)/softwaremodules/\(bundleID)/artifacts/\(Self.escaped(name))"
            artifacts.append(DDI.Artifact(filename: name, hashes: .init(sha1: digests.sha1, md5: digests.md5, sha256: file.sha256.hex), size: file.size,
                                          links: ["download": .init(href), "download-http": .init(href),
                                                  "md5sum": .init(href + ".MD5SUM"), "md5sum-http": .init(href + ".MD5SUM")]))
        }
        let metadata = bundle.metadata.flatMap(Self.metadata)
        let chunk = DDI.Chunk(part: "os", version: bundle.version.description, name: bundle.name.rawValue, artifacts: artifacts, metadata: metadata)
        return DDI.DeploymentBase(id: String(action.number), deployment: .init(download: .forced, update: .forced, chunks: [chunk]))
    }

    /// The file a DDI client asks for: a file of a client image it may download (a bundle of
    /// one of its own deployments), by the name its deployment gave it.
    func artifact(_ caller: DDICaller, module: Int64, filename: String) async throws -> (AdminAPI.BundleFile, StoredFile, LegacyDigests?) {
        let wantsChecksum = filename.hasSuffix(".MD5SUM")
        let name = wantsChecksum ? String(filename.dropLast(".MD5SUM".count)) : filename
        guard let (_, bundle) = try await bundles.find(id: module), bundle.kind.isClientImage,
              let file = bundle.files?.first(where: { Self.filename($0.path) == name }),
              try await checkins.mayDownload(caller.identity, digest: file.sha256, deployments: rollouts.deployments) else {
            throw APIError.notFound("controller \(caller.identity.id) has no artifact \(PayloadPath.printable(String(filename.prefix(128)))) in module \(module)")
        }
        try checkReleased(bundle)
        guard let stored = try await storedFiles.locate(file.sha256) else {
            throw APIError(.notFound, .contentMissing, "artifact \(name) is not stored on this server")
        }
        return (file, stored, wantsChecksum ? try await digests.digests(of: file.sha256) : nil)
    }

    /// Released on the DDI channel, in release metadata that has not expired.
    func checkReleased(_ bundle: AdminAPI.Bundle) throws {
        guard let released = trust.unexpiredReleaseIndex(at: clock.now),
              released.contains(channel: settings.channel, name: bundle.name, version: bundle.version, digest: bundle.digest) else {
            throw APIError(.notFound, .notReleased, "\(bundle.name) \(bundle.version) is no longer released on \(settings.channel) (or the release metadata expired)")
        }
    }

    static func filename(_ path: String) -> String { String(path.split(separator: "/").last ?? Substring(path)) }

    static func escaped(_ name: String) -> String {
        name.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(.init(charactersIn: "/?#"))) ?? name
    }

    /// A bundle's metadata as hawkBit's key/value list: its top-level text values.
    static func metadata(_ value: JSONValue) -> [DDI.Metadata]? {
        guard case .object(let fields) = value else { return nil }
        let pairs = fields.compactMap { key, value -> DDI.Metadata? in
            guard case .string(let text) = value else { return nil }
            return DDI.Metadata(key: key, value: text)
        }.sorted { $0.key < $1.key }
        return pairs.isEmpty ? nil : pairs
    }
}
