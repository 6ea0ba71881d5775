import Logging
import OTACore

/// The fleet as the hot paths see it, one service per concern around one cache:
///
///     DeviceDirectory      who a device request comes from (sessions, bearer tokens)
///     CheckinService       what a check-in answers, and which content a device may fetch
///     RolloutService       live deployments, device events, the rollout policy
///     CheckinWriteBehind   what check-ins report, written in batches
///     FleetCoherence       the change feed, the one path that keeps the cache true
struct Fleet: Sendable {
    let cache: FleetCache
    let directory: DeviceDirectory
    let checkins: CheckinService
    let rollouts: RolloutService
    let writeBehind: CheckinWriteBehind
    let coherence: FleetCoherence
    let metrics: ServerMetrics
    let clock: any DomainClock

    struct Stores: Sendable {
        let devices: DeviceStore
        let deployments: DeploymentStore
        let bundles: BundleStore
        let events: EventStore
    }

    /// `contentHosts`: where content downloads are redirected (the object store), named in
    /// every answer so that devices follow redirects there and nowhere else.
    init(stores: Stores, db: any SQLDatabase, metrics: ServerMetrics, pollIntervalSeconds: Int, logger: Logger, trust: TrustRepository?,
         contentHosts: [String], clock: any DomainClock) throws {
        let cache = FleetCache()
        self.cache = cache
        self.metrics = metrics
        self.clock = clock
        directory = DeviceDirectory(cache: cache, devices: stores.devices)
        checkins = CheckinService(cache: cache, deployments: stores.deployments,
                                  writer: try CheckinAnswerWriter(pollIntervalSeconds: pollIntervalSeconds, contentHosts: contentHosts),
                                  trust: trust, metrics: metrics, clock: clock)
        let rollouts = RolloutService(cache: cache, deployments: stores.deployments, bundles: stores.bundles, events: stores.events,
                                      metrics: metrics, logger: logger, clock: clock)
        self.rollouts = rollouts
        writeBehind = CheckinWriteBehind(cache: cache, devices: stores.devices)
        coherence = FleetCoherence(feed: ChangeFeed(db: db), directory: directory, rollouts: rollouts, trust: trust, logger: logger,
                                   reloadAll: { try await Self.load(cache, stores: stores, rollouts: rollouts, clock: clock) })
        self.stores = stores
    }

    let stores: Stores

    /// Loads device identities, live deployments and their memberships, then follows the
    /// change feed from where it ended before the load.
    func load() async throws {
        let cursor = try await coherence.feed.end()
        try await Self.load(cache, stores: stores, rollouts: rollouts, clock: clock)
        await coherence.start(at: cursor)
    }

    private static func load(_ cache: FleetCache, stores: Stores, rollouts: RolloutService, clock: any DomainClock) async throws {
        var live: [FleetCache.Live] = []
        for plan in try await stores.deployments.livePlans() { live.append(try await rollouts.makeLive(plan)) }
        let memberships = try await stores.deployments.liveMemberships()
        let (identities, keyed) = try await stores.devices.allIdentities()
        let installed = try await stores.devices.allInstalled()
        let now = clock.now.secondsSinceEpoch
        cache.state.withLock { state in
            // What check-ins reported since and is not flushed yet is newer than the database.
            state.installed = installed.merging(state.pending.installed) { _, reported in reported }
            state.installedWritten = state.installedWritten.merging(installed.mapValues { _ in now }) { queued, _ in queued }
            state.identities = identities
            state.keyed = keyed
            state.tokenHashes = Dictionary(identities.map { ($0.value.id, $0.key) }, uniquingKeysWith: { first, _ in first })
            state.live = live
            for membership in memberships {
                guard let index = state.liveIndex(membership.deploymentID) else { continue }
                state.live[index].members[membership.deviceID] = .init(phase: membership.phase, state: membership.state, assignedEpoch: 0)
            }
        }
    }
}
