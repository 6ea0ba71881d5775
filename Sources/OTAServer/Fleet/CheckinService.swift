import OTACore

/// Answers check-ins from the cache: records what the device runs (written later, in batches,
/// by `CheckinWriteBehind`) and decides its assignments. Only joining a deployment waits for
/// the database, which decides admissions in group-committed transactions (`Admissions`).
struct CheckinService: Sendable {
    let cache: FleetCache
    let admissions: GroupCommit<Admission, FleetCache.Member?>
    let writer: CheckinAnswerWriter
    /// What is released on which channel (nil with a legacy trust root).
    let trust: TrustRepository?
    let metrics: ServerMetrics
    let clock: any DomainClock

    init(cache: FleetCache, deployments: DeploymentStore, writer: CheckinAnswerWriter, trust: TrustRepository?, metrics: ServerMetrics,
         clock: any DomainClock) {
        self.cache = cache
        self.writer = writer
        self.trust = trust
        self.metrics = metrics
        self.clock = clock
        admissions = GroupCommit { [deployments] requests in try await deployments.admit(requests, clock: clock) }
    }

    func checkin(_ device: DeviceIdentity, _ request: DeviceAPI.CheckinRequest) async throws -> CheckinAnswerWriter.Plain {
        let now = clock.now.secondsSinceEpoch
        let installed = request.installed.sorted { $0.name < $1.name }
        let released = trust?.releaseIndex
        var (assignments, joining) = cache.state.withLock { state in
            state.pending.lastSeen[device.id] = now
            if state.installed[device.id] != installed {
                state.installed[device.id] = installed
                state.pending.installed[device.id] = installed
            }
            if let attributes = request.attributes { state.pending.attributes[device.id] = attributes }
            if let trust = request.trust, state.trust[device.id] != trust {
                state.trust[device.id] = trust
                state.pending.trust[device.id] = trust
            }
            return Self.assignments(for: device, installed: installed, canShadow: request.features?.contains(DeviceAPI.Feature.shadow.rawValue) == true,
                                    released: released, now: now, state: state)
        }
        for admission in joining {
            guard let member = try await admissions.submit(admission) else {
                cache.state.withLock { $0.refusing[admission.deploymentID] = now + 1 }
                continue
            }
            let json = cache.state.withLock { state -> [UInt8]? in
                guard let index = state.liveIndex(admission.deploymentID) else { return nil }
                state.live[index].learn(member, of: device.id)
                return member.state.isUnsuccessful ? nil : state.live[index].assignmentJSON
            }
            if let json { assignments.append(json) }
        }
        metrics.checkins.increment()
        return writer.plain(assignments)
    }

    /// For each bundle name, the newest live deployment that targets the device and fits its
    /// hardware decides. A device joins a deployment's current phase when it first checks
    /// in (`joining`: the database decides, with the rate limit); failed devices are not
    /// offered the bundle again. A deployment with a shadow phase is offered only to agents
    /// that can run one: an older agent would skip it and serve an unproven model.
    static func assignments(for device: DeviceIdentity, installed: [DeviceAPI.InstalledBundle], canShadow: Bool,
                            released: TrustRepository.ReleaseIndex?, now: Int64,
                            state: FleetCache.State) -> (assignments: [[UInt8]], joining: [Admission]) {
        var decided = Set<BundleName>()
        var result: [[UInt8]] = []
        var joining: [Admission] = []
        // An update the device has started is finished before any newer deployment of the
        // same name: a newer deployment supersedes the older only where it has not started.
        for live in state.live {
            guard let member = live.members[device.id], member.state == .downloading || member.state == .installing,
                  !decided.contains(live.plan.bundleName) else { continue }
            decided.insert(live.plan.bundleName)
            if !installed.contains(where: { $0.name == live.plan.bundleName && $0.digest == live.digest }) { result.append(live.assignmentJSON) }
        }
        for index in state.live.indices {
            // Read what is needed without copying the whole `Live` value (its members).
            let plan = state.live[index].plan
            let name = plan.bundleName
            guard !decided.contains(name), state.live[index].compatible.contains(device.hardware), plan.targets(device),
                  canShadow || plan.shadow == nil else { continue }
            // A device that reported its channel gets only what is released on it: it would
            // refuse anything else (and an older agent, which reports none, checks no release).
            if let released, let channel = state.trust[device.id]?.channel,
               !released.contains(channel: channel, name: name, version: state.live[index].version, digest: state.live[index].digest) { continue }
            decided.insert(name)
            let digest = state.live[index].digest
            if installed.contains(where: { $0.name == name && $0.digest == digest }) { continue }
            let active = plan.status == .active
            if let member = state.live[index].members[device.id] {
                if member.state.isUnsuccessful { continue }
                if !active && member.state == .pending { continue }
            } else {
                guard active else { continue }
                let phase = plan.phase(of: device)
                guard phase <= plan.currentPhase, state.refusing[plan.id].map({ now > $0 }) ?? true else { continue }
                joining.append(Admission(deploymentID: plan.id, deviceID: device.id, phase: phase))
                continue
            }
            result.append(state.live[index].assignmentJSON)
        }
        return (result, joining)
    }

    /// Whether `device` may download `digest`: only content of bundles assigned to it. The
    /// database answers when the cache does not know (the device joined through another
    /// instance a moment ago).
    func mayDownload(_ device: DeviceIdentity, digest: SHA256Digest, deployments: DeploymentStore) async throws -> Bool {
        let known = cache.state.withLock { state in
            state.live.contains { $0.members[device.id] != nil && $0.contentDigests.contains(digest) }
        }
        return try await known ? true : deployments.isAssigned(content: digest, to: device.id)
    }

    /// Whether `device` last said it runs this version of this bundle (here, or as far as the
    /// database knows: it may have checked in through another instance).
    func runs(_ device: DeviceIdentity, bundleName: BundleName, version: String, digest: SHA256Digest, devices: DeviceStore) async throws -> Bool {
        let known = cache.state.withLock { state in
            state.installed[device.id]?.contains { $0.name == bundleName && $0.version.description == version && $0.digest == digest } ?? false
        }
        return try await known ? true : devices.runs(deviceID: device.id, bundleName: bundleName, version: version, digest: digest)
    }

    /// The live deployment that brought `digest` of `bundleName` to `device`, if any.
    func deployment(bringing digest: SHA256Digest, of bundleName: BundleName, to device: DeviceIdentity) -> DeploymentID? {
        cache.state.withLock { state in
            state.live.first { $0.plan.bundleName == bundleName && $0.digest == digest && $0.members[device.id] != nil }?.plan.id
        }
    }
}
