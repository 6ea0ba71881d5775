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
        var device = device
        if let inventory = request.inventory, inventory != device.inventory {
            device.inventory = inventory
            cache.state.withLock { $0.learn(inventory, of: device.id) }
        }
        let installed = request.installed.sorted { $0.name < $1.name }
        let released = trust?.releaseIndex
        var (assignments, joining) = cache.state.withLock { state in
            state.pending.lastSeen[device.id] = now
            let due = state.installedWritten[device.id].map { now - $0 >= FleetCache.State.installedRewriteSeconds } ?? true
            if state.installed[device.id] != installed || due {
                state.installed[device.id] = installed
                state.pending.installed[device.id] = installed
                state.installedWritten[device.id] = now
            }
            if let attributes = request.attributes { state.pending.attributes[device.id] = attributes }
            if let trust = request.trust, state.trust[device.id] != trust {
                state.trust[device.id] = trust
                state.pending.trust[device.id] = trust
            }
            let (offered, joining) = Self.assignments(for: device, installed: installed,
                                                      canShadow: request.features?.contains(DeviceAPI.Feature.shadow.rawValue) == true,
                                                      canPickVariants: request.features?.contains(DeviceAPI.Feature.variants.rawValue) == true,
                                                      released: released, now: now, state: state)
            return (offered.map { state.live[$0].assignmentJSON }, joining)
        }
        for member in try await admit(joining, device: device, now: now) {
            let json = cache.state.withLock { state -> [UInt8]? in
                guard let index = state.liveIndex(member.deploymentID) else { return nil }
                return member.member.state.isUnsuccessful ? nil : state.live[index].assignmentJSON
            }
            if let json { assignments.append(json) }
        }
        metrics.checkins.increment()
        return writer.plain(assignments)
    }

    /// A DDI client's poll: what an agent's check-in decides, from what the server knows the
    /// device runs (its client reports outcomes, not an inventory). `released`: the verified,
    /// unexpired release metadata (nil: nothing may go to a DDI device).
    func poll(_ device: DeviceIdentity, released: TrustRepository.ReleaseIndex?, channel: Channel) async throws -> [DeploymentID] {
        let now = clock.now.secondsSinceEpoch
        var (offered, joining) = cache.state.withLock { state in
            state.pending.lastSeen[device.id] = now
            let (offered, joining) = Self.assignments(for: device, installed: state.installed[device.id] ?? [], canShadow: false,
                                                      released: released, ddiChannel: channel, now: now, state: state)
            return (offered.map { state.live[$0].plan.id }, joining)
        }
        for member in try await admit(joining, device: device, now: now) where !member.member.state.isUnsuccessful {
            offered.append(member.deploymentID)
        }
        metrics.checkins.increment()
        return offered
    }

    /// Joins the deployments the device may join now (the database decides, with each one's
    /// rate limit); returns the memberships it has in them afterwards.
    private func admit(_ joining: [Admission], device: DeviceIdentity, now: Int64) async throws -> [(deploymentID: DeploymentID, member: FleetCache.Member)] {
        var joined: [(deploymentID: DeploymentID, member: FleetCache.Member)] = []
        for admission in joining {
            guard let member = try await admissions.submit(admission) else {
                cache.state.withLock { $0.refusing[admission.deploymentID] = now + 1 }
                continue
            }
            let known = cache.state.withLock { state -> Bool in
                guard let index = state.liveIndex(admission.deploymentID) else { return false }
                state.live[index].learn(member, of: device.id)
                return true
            }
            if known { joined.append((admission.deploymentID, member)) }
        }
        return joined
    }

    /// For each bundle name, the newest live deployment that targets the device and fits its
    /// hardware decides. A device joins a deployment's current phase when it first checks
    /// in (`joining`: the database decides, with the rate limit); failed devices are not
    /// offered the bundle again. A deployment with a shadow phase is offered only to agents
    /// that can run one: an older agent would skip it and serve an unproven model.
    /// Returns the offered deployments as indices into `state.live`.
    static func assignments(for device: DeviceIdentity, installed: [DeviceAPI.InstalledBundle], canShadow: Bool, canPickVariants: Bool = false,
                            released: TrustRepository.ReleaseIndex?, ddiChannel: Channel? = nil, now: Int64,
                            state: FleetCache.State) -> (offered: [Int], joining: [Admission]) {
        var decided = Set<BundleName>()
        var result: [Int] = []
        var joining: [Admission] = []
        // An update the device has started is finished before any newer deployment of the
        // same name: a newer deployment supersedes the older only where it has not started.
        for (index, live) in state.live.enumerated() {
            guard let member = live.members[device.id], member.state == .downloading || member.state == .installing,
                  live.kind.isClientImage == (device.protocol == .ddi), !decided.contains(live.plan.bundleName) else { continue }
            // A DDI client checks no release: one withdrawn or expired stops it here, mid-way too.
            if device.protocol == .ddi,
               released?.contains(channel: ddiChannel ?? .stable, name: live.plan.bundleName, version: live.version, digest: live.digest) != true { continue }
            decided.insert(live.plan.bundleName)
            if !installed.contains(where: { $0.name == live.plan.bundleName && $0.digest == live.digest }) { result.append(index) }
        }
        for index in state.live.indices {
            // Read what is needed without copying the whole `Live` value (its members).
            let plan = state.live[index].plan
            let name = plan.bundleName
            guard !decided.contains(name), state.live[index].compatible.contains(device.hardware), plan.targets(device),
                  state.live[index].hasVariant(for: device.inventory, canPickVariants: canPickVariants),
                  canShadow || plan.shadow == nil, state.live[index].kind.isClientImage == (device.protocol == .ddi) else { continue }
            // A device that reported its channel gets only what is released on it: it would
            // refuse anything else (and an older agent, which reports none, checks no release).
            // A DDI client checks no release metadata at all, so the server does it for it:
            // `released` is then the verified, unexpired metadata of its channel, or nothing.
            let channel = device.protocol == .ddi ? ddiChannel : state.trust[device.id]?.channel
            if device.protocol == .ddi && released == nil { continue }
            if let released, let channel,
               !released.contains(channel: channel, name: name, version: state.live[index].version, digest: state.live[index].digest) { continue }
            decided.insert(name)
            let digest = state.live[index].digest
            if installed.contains(where: { $0.name == name && $0.digest == digest }) { continue }
            let active = plan.status == .active
            if let member = state.live[index].members[device.id] {
                if member.state.isUnsuccessful { continue }
                // A DDI client reports no inventory: its outcome is what the server knows.
                if device.protocol == .ddi && member.state == .succeeded { continue }
                if !active && member.state == .pending { continue }
            } else {
                guard active else { continue }
                let phase = plan.phase(of: device)
                guard phase <= plan.currentPhase, state.refusing[plan.id].map({ now > $0 }) ?? true else { continue }
                joining.append(Admission(deploymentID: plan.id, deviceID: device.id, phase: phase))
                continue
            }
            result.append(index)
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
