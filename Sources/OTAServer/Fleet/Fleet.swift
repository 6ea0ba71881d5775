import Foundation
import Logging
import OTACore
import Synchronization

/// The fleet as the hot paths see it. Check-ins are answered from memory: device identities,
/// live deployments, who was assigned what. What check-ins report (last seen, what runs) is
/// written in batches by `flush`, so a poll costs no fsync; a device joining a deployment is
/// decided in the database before it hears of it (`admissions`, group-committed).
///
/// The database is the source of truth. Several instances may share it: this state is then a
/// cache that the change feed keeps coherent (`Fleet+Changes.swift`), and a lookup that misses
/// it asks the database.
final class Fleet: Sendable {
    let devices: DeviceStore
    let deployments: DeploymentStore
    let bundles: BundleStore
    let events: EventStore
    let metrics: ServerMetrics
    let pollIntervalSeconds: Int
    let logger: Logger
    /// What is released on which channel (nil with a legacy trust root).
    let trust: TrustRepository?
    let state = Mutex(State())
    let admissions: GroupCommit<Admission, Member?>

    struct Member: Sendable, Equatable {
        var phase: Int
        var state: AdminAPI.MembershipState
        var assignedEpoch: Int64
    }

    /// A deployment that can still hand out its bundle, with what check-ins need precomputed.
    struct Live: Sendable {
        var plan: DeploymentPlan
        let version: String
        let digest: String
        let compatible: Set<String>
        let contentDigests: Set<String>
        /// This deployment's assignment as JSON, spliced into check-in answers.
        let assignmentJSON: [UInt8]
        var members: [String: Member] = [:]
    }

    struct State: Sendable {
        /// Devices on bearer tokens (registered before device keys), by token hash.
        var identities: [String: DeviceIdentity] = [:]
        /// Accepted devices with keys, by id, with their session epoch.
        var keyed: [String: (identity: DeviceIdentity, epoch: String)] = [:]
        /// Bumped by every change to a device, so that a database read that started before
        /// the change is not cached after it (`identityChanges` counts them all, for reads by
        /// token, which do not know the device before they end).
        var generations: [String: Int] = [:]
        var identityChanges = 0
        var tokenHashes: [String: String] = [:]
        var installed: [String: [DeviceAPI.InstalledBundle]] = [:]
        /// What each device last reported it trusts, so that only changes are written.
        var trust: [String: DeviceAPI.TrustReport] = [:]
        /// Newest first: for each bundle name the newest deployment that targets a device wins.
        var live: [Live] = []
        var pending = DeviceStore.CheckinBatch()
        /// Deployments that just refused a device (rate limit, paused, phase not open), until
        /// when: their other newcomers are not sent to the database again meanwhile.
        var refusing: [String: Int64] = [:]
        /// Each gated deployment's gate checks, for the phase they were made for; dropped when
        /// new figures arrive, so evaluations do not re-read every report each time.
        var gateChecks: [String: (phase: Int, checks: [AdminAPI.GateCheck])] = [:]
    }

    /// Check-in answers are assembled from bytes: `{"assignments":[…],"poll_interval_s":N}`.
    static let answerPrefix = Array("{\"assignments\":[".utf8)
    let answerSuffix: [UInt8]
    let noAssignments: [UInt8]

    /// `contentHosts`: where content downloads are redirected (the object store), named in
    /// every answer so that devices follow redirects there and nowhere else.
    init(devices: DeviceStore, deployments: DeploymentStore, bundles: BundleStore, events: EventStore, metrics: ServerMetrics,
         pollIntervalSeconds: Int, logger: Logger, trust: TrustRepository? = nil, contentHosts: [String] = []) {
        self.trust = trust
        let hosts = contentHosts.isEmpty ? "" : ",\"content_hosts\":" + String(decoding: (try? StrictJSON.encode(contentHosts)) ?? Data("[]".utf8), as: UTF8.self)
        answerSuffix = Array("]\(hosts),\"poll_interval_s\":\(pollIntervalSeconds)}".utf8)
        noAssignments = Self.answerPrefix + answerSuffix
        self.devices = devices
        self.deployments = deployments
        self.bundles = bundles
        self.events = events
        self.metrics = metrics
        self.pollIntervalSeconds = pollIntervalSeconds
        self.logger = logger
        admissions = GroupCommit { [deployments] requests in try await deployments.admit(requests) }
    }

    /// Loads device identities, live deployments and their memberships.
    func load() async throws {
        var live: [Live] = []
        for plan in try await deployments.livePlans() { live.append(try await makeLive(plan)) }
        let memberships = try await deployments.liveMemberships()
        let (identities, keyed) = try await devices.allIdentities()
        state.withLock { state in
            state.identities = identities
            state.keyed = keyed
            state.tokenHashes = Dictionary(identities.map { ($0.value.id, $0.key) }, uniquingKeysWith: { first, _ in first })
            state.live = live
            for membership in memberships {
                guard let index = state.live.firstIndex(where: { $0.plan.id == membership.deploymentID }) else { continue }
                state.live[index].members[membership.deviceID] = Member(phase: membership.phase, state: membership.state, assignedEpoch: 0)
            }
        }
    }

    private func makeLive(_ plan: DeploymentPlan) async throws -> Live {
        guard let (_, bundle) = try await bundles.find(id: plan.bundleID), let envelope = try await bundles.envelope(id: plan.bundleID) else {
            throw RegistryError.corrupt("deployment \(plan.id) names a missing bundle")
        }
        let assignment = DeviceAPI.Assignment(deploymentID: plan.id, name: bundle.name, version: bundle.version, digest: bundle.digest,
                                              envelope: envelope, shadow: plan.shadow)
        return Live(plan: plan, version: bundle.version, digest: bundle.digest, compatible: Set(bundle.compatible),
                    contentDigests: Set((bundle.files ?? []).map(\.sha256)), assignmentJSON: Array(try StrictJSON.encode(assignment)))
    }

    /// Re-reads one deployment after a change (create, control, policy decision), here or on
    /// another instance.
    func reload(deploymentID: String) async throws {
        guard let plan = try await deployments.plan(id: deploymentID) else {
            state.withLock { $0.live.removeAll { $0.plan.id == deploymentID } }
            return
        }
        // A control or a decision may change what the gates decide (a phase, a waiver).
        let known = state.withLock { state in
            state.gateChecks.removeValue(forKey: deploymentID)
            return state.live.contains { $0.plan.id == deploymentID }
        }
        let isLive = plan.status.isLive
        let fresh = isLive && !known ? try await makeLive(plan) : nil
        state.withLock { state in
            if let index = state.live.firstIndex(where: { $0.plan.id == deploymentID }) {
                if isLive { state.live[index].plan = plan } else { state.live.remove(at: index) }
            } else if var fresh {
                fresh.members = [:]
                state.live.append(fresh)
                state.live.sort { $0.plan.seq > $1.plan.seq }
            }
        }
    }

    // MARK: Devices

    /// The device behind a bearer secret, from memory when seen before.
    func authenticate(secret: String) async throws -> DeviceIdentity? {
        let hash = Secret.hash(secret)
        let (known, changes) = state.withLock { ($0.identities[hash], $0.identityChanges) }
        if let known { return known }
        guard let identity = try await devices.identity(tokenHash: hash) else { return nil }
        state.withLock { state in
            // A change to any device since the read started (a reject or a delete, here or
            // through the change feed) may be this one's: then what was read is not cached.
            guard state.identityChanges == changes else { return }
            state.identities[hash] = identity
            state.tokenHashes[identity.id] = hash
        }
        return identity
    }

    /// The accepted device a session claims, if the session's key is still the device's.
    func authenticate(session claim: DeviceSessions.Claim) async throws -> DeviceIdentity? {
        let (known, generation) = state.withLock { ($0.keyed[claim.deviceID], $0.generations[claim.deviceID, default: 0]) }
        if let known { return known.epoch == claim.epoch ? known.identity : nil }
        guard let device = try await devices.keyedDevice(id: claim.deviceID), device.status == .accepted else { return nil }
        state.withLock { state in
            if state.generations[claim.deviceID, default: 0] == generation { state.keyed[claim.deviceID] = (device.identity, device.sessionEpoch) }
        }
        return device.sessionEpoch == claim.epoch ? device.identity : nil
    }

    /// Re-reads a device's tags, group, key and status at its next request (after an operator
    /// changed them). What it runs and the deployments it joined stay.
    func refreshIdentity(deviceID: String) {
        state.withLock { state in
            if let hash = state.tokenHashes.removeValue(forKey: deviceID) { state.identities[hash] = nil }
            state.keyed[deviceID] = nil
            state.generations[deviceID, default: 0] += 1
            state.identityChanges += 1
        }
    }

    /// Drops everything about a deleted device, including writes still waiting for the flush.
    func forget(deviceID: String) {
        state.withLock { state in
            if let hash = state.tokenHashes.removeValue(forKey: deviceID) { state.identities[hash] = nil }
            state.keyed[deviceID] = nil
            state.generations[deviceID, default: 0] += 1
            state.identityChanges += 1
            state.installed[deviceID] = nil
            for index in state.live.indices { state.live[index].members[deviceID] = nil }
            state.pending.lastSeen[deviceID] = nil
            state.pending.installed[deviceID] = nil
            state.pending.attributes[deviceID] = nil
            state.pending.trust[deviceID] = nil
            state.trust[deviceID] = nil
        }
    }

    // MARK: Check-in

    /// Records what the device runs and answers with its assignments: from memory, except
    /// for joining a deployment, which waits for the database to agree.
    func checkin(_ device: DeviceIdentity, _ request: DeviceAPI.CheckinRequest) async throws -> [UInt8] {
        let now = Timestamp.epochSeconds()
        let installed = request.installed.sorted { $0.name < $1.name }
        let released = trust?.releaseIndex
        var (assignments, joining) = state.withLock { state in
            state.pending.lastSeen[device.id] = now
            if state.installed[device.id] != installed {
                state.installed[device.id] = installed
                state.pending.installed[device.id] = installed
            }
            if let attributes = request.attributes { state.pending.attributes[device.id] = attributes }
            if var trust = request.trust {
                // One text form for times, so that the database can compare them.
                trust.targetsExpires = trust.targetsExpires.flatMap(Timestamp.parse).map(Timestamp.format(secondsSinceEpoch:))
                if state.trust[device.id] != trust {
                    state.trust[device.id] = trust
                    state.pending.trust[device.id] = trust
                }
            }
            return Self.assignments(for: device, installed: installed, canShadow: request.features?.contains(DeviceAPI.Feature.shadow.rawValue) == true,
                                    released: released, now: now, state: state)
        }
        for admission in joining {
            guard let member = try await admissions.submit(admission) else {
                state.withLock { $0.refusing[admission.deploymentID] = now + 1 }
                continue
            }
            let json = state.withLock { state -> [UInt8]? in
                guard let index = state.live.firstIndex(where: { $0.plan.id == admission.deploymentID }) else { return nil }
                state.live[index].learn(member, of: device.id)
                return member.state.isUnsuccessful ? nil : state.live[index].assignmentJSON
            }
            if let json { assignments.append(json) }
        }
        metrics.checkins.increment()
        guard !assignments.isEmpty else { return noAssignments }
        var body = Self.answerPrefix
        body.reserveCapacity(assignments.reduce(0) { $0 + $1.count + 1 } + answerSuffix.count + body.count)
        for (index, assignment) in assignments.enumerated() {
            if index > 0 { body.append(UInt8(ascii: ",")) }
            body += assignment
        }
        body += answerSuffix
        return body
    }

    /// For each bundle name, the newest live deployment that targets the device and fits its
    /// hardware decides. A device joins a deployment's current phase when it first checks
    /// in (`joining`: the database decides, with the rate limit); failed devices are not
    /// offered the bundle again. A deployment with a shadow phase is offered only to agents
    /// that can run one: an older agent would skip it and serve an unproven model.
    private static func assignments(for device: DeviceIdentity, installed: [DeviceAPI.InstalledBundle], canShadow: Bool,
                                     released: TrustRepository.ReleaseIndex?, now: Int64, state: State) -> (assignments: [[UInt8]], joining: [Admission]) {
        var decided = Set<String>()
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
    /// database answers when memory does not know (the device joined through another instance
    /// a moment ago).
    func mayDownload(_ device: DeviceIdentity, digest: String) async throws -> Bool {
        let known = state.withLock { state in
            state.live.contains { $0.members[device.id] != nil && $0.contentDigests.contains(digest) }
        }
        return try await known ? true : deployments.isAssigned(content: digest, to: device.id)
    }

    /// Whether `device` last said it runs this version of this bundle (here, or as far as the
    /// database knows: it may have checked in through another instance).
    func runs(_ device: DeviceIdentity, bundleName: String, version: String, digest: String) async throws -> Bool {
        let known = state.withLock { state in
            state.installed[device.id]?.contains { $0.name == bundleName && $0.version == version && $0.digest == digest } ?? false
        }
        return try await known ? true : devices.runs(deviceID: device.id, bundleName: bundleName, version: version, digest: digest)
    }

    /// The live deployment that brought `digest` of `bundleName` to `device`, if any.
    func deployment(bringing digest: String, of bundleName: String, to device: DeviceIdentity) -> String? {
        state.withLock { state in
            state.live.first { $0.plan.bundleName == bundleName && $0.digest == digest && $0.members[device.id] != nil }?.plan.id
        }
    }

    // MARK: Events

    func record(_ reported: [DeviceAPI.Event], from device: DeviceIdentity) async throws {
        let members: [String: Member] = state.withLock { state in
            var found: [String: Member] = [:]
            for live in state.live { if let member = live.members[device.id] { found[live.plan.id] = member } }
            return found
        }
        let changed = try await events.record(reported, from: device)
        for event in reported { metrics.event(event.state) }
        state.withLock { state in
            for (deploymentID, newState) in changed {
                guard let index = state.live.firstIndex(where: { $0.plan.id == deploymentID }) else { continue }
                state.live[index].members[device.id]?.state = newState
            }
        }
        // A shadow verdict moves no count, but the phase's gates may decide on it.
        let judged = reported.filter { $0.shadow != nil }.compactMap(\.deploymentID).filter { members[$0] != nil }
        for deploymentID in Set(judged) { qualityChanged(deploymentID: deploymentID) }
        for deploymentID in Set(changed.map(\.deploymentID) + judged) { try await evaluate(deploymentID: deploymentID) }
    }

    /// New figures for a deployment: its gates are checked again at the next evaluation.
    func qualityChanged(deploymentID: String) {
        _ = state.withLock { $0.gateChecks.removeValue(forKey: deploymentID) }
    }

    /// Applies the rollout policy to one deployment and refreshes it in memory if it changed.
    func evaluate(deploymentID: String) async throws {
        var gates: [AdminAPI.GateCheck] = []
        var gatesPhase: Int?
        if let plan = state.withLock({ $0.live.first { $0.plan.id == deploymentID }?.plan }), plan.gatesHold, plan.status == .active {
            if let cached = state.withLock({ $0.gateChecks[deploymentID] }), cached.phase == plan.currentPhase {
                gates = cached.checks
            } else {
                gates = try await deployments.gateChecks(plan)
                state.withLock { $0.gateChecks[deploymentID] = (plan.currentPhase, gates) }
            }
            gatesPhase = plan.currentPhase
        }
        if let plan = try await deployments.evaluate(id: deploymentID, gates: gates, gatesPhase: gatesPhase) {
            logger.info("deployment \(deploymentID) is now \(plan.status), phase \(plan.currentPhase + 1) of \(plan.phases.count)",
                        metadata: plan.pausedReason.map { ["reason": "\($0)"] } ?? [:])
            try await reload(deploymentID: deploymentID)
        }
    }

    /// Periodic work: soak timers and automatic advances of every active deployment.
    func tick() async {
        let ids = state.withLock { $0.live.filter { $0.plan.status == .active && ($0.plan.autoAdvance || $0.plan.gatesHold) }.map(\.plan.id) }
        for id in ids {
            do { try await evaluate(deploymentID: id) } catch { logger.error("rollout evaluation of \(id) failed: \(error)") }
        }
    }

    // MARK: Write-behind

    /// Writes what check-ins changed since the last flush, in one transaction.
    func flush() async throws {
        let batch = state.withLock { state -> DeviceStore.CheckinBatch in
            defer { state.pending = DeviceStore.CheckinBatch() }
            return state.pending
        }
        guard !batch.isEmpty else { return }
        do { try await devices.write(batch) } catch {
            // Put it back so the next flush retries; newer values already queued win.
            state.withLock { state in
                for (id, epoch) in batch.lastSeen where state.pending.lastSeen[id] == nil { state.pending.lastSeen[id] = epoch }
                for (id, value) in batch.installed where state.pending.installed[id] == nil { state.pending.installed[id] = value }
                for (id, value) in batch.attributes where state.pending.attributes[id] == nil { state.pending.attributes[id] = value }
                for (id, value) in batch.trust where state.pending.trust[id] == nil { state.pending.trust[id] = value }
            }
            throw error
        }
    }
}
