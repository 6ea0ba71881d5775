import Logging
import OTACore

/// Keeps the cache coherent with the database, on every instance, by one path: the change
/// feed (`ChangeFeed`), which triggers write in the transaction of every change. It is read
/// on a timer or a notification (`ChangeFeedService`), and right after this instance writes
/// (`catchUp`), so that an operator reads their own write at once on the instance that made
/// it. Catch-ups run one at a time, in order.
actor FleetCoherence {
    let feed: ChangeFeed
    let directory: DeviceDirectory
    let rollouts: RolloutService
    let trust: TrustRepository?
    let logger: Logger
    /// Reloads the whole cache (after falling behind a pruned feed).
    let reloadAll: @Sendable () async throws -> Void
    private var cursor: Int64 = 0
    private var running: Task<Void, any Error>?

    init(feed: ChangeFeed, directory: DeviceDirectory, rollouts: RolloutService, trust: TrustRepository?, logger: Logger,
         reloadAll: @escaping @Sendable () async throws -> Void) {
        self.feed = feed
        self.directory = directory
        self.rollouts = rollouts
        self.trust = trust
        self.logger = logger
        self.reloadAll = reloadAll
    }

    /// Where the feed ended before the cache was loaded: nothing committed after the load is
    /// missed (what is applied twice is harmless).
    func start(at cursor: Int64) { self.cursor = cursor }

    /// Reads and applies everything committed since the last catch-up. A catch-up asked for
    /// while one runs starts after it, so it sees what its caller committed.
    func catchUp() async throws {
        let previous = running
        let next = Task {
            // The previous one's failure is its caller's to report; this one reads again.
            _ = await previous?.result
            try await self.readToEnd()
        }
        running = next
        try await next.value
    }

    private func readToEnd() async throws {
        // Pages until caught up: a burst (a rollout to a large fleet) is read in a few.
        while true {
            let page = try await feed.read(after: cursor)
            if page.missed {
                logger.warning("this instance fell behind the change feed; reloading the fleet state from the database")
                try await reloadAll()
                try await trust?.reload()
            } else {
                try await apply(page.changes)
            }
            cursor = page.last
            guard page.rows >= ChangeFeed.pageSize else { return }
        }
    }

    /// Applies what the feed says changed. Everything here is idempotent: an instance sees its
    /// own changes come back, and after a load it may see a change it already loaded. It
    /// throws only while the database is away (the page is read again); a change that cannot
    /// be applied otherwise is logged and passed, so that one bad row never stops the changes
    /// behind it (a rejected device must stop authenticating here whatever else happened).
    private func apply(_ changes: [ChangeFeed.Change]) async throws {
        var deploymentIDs: [DeploymentID] = []
        var trustChanged = false
        for change in changes {
            switch change {
            case .device(let id): directory.changed(id)
            case .deviceDeleted(let id): directory.deleted(id)
            case .deployment(let id): if !deploymentIDs.contains(id) { deploymentIDs.append(id) }
            case .trust: trustChanged = true
            case .quality(let id): rollouts.qualityChanged(id)
            case .membership: break
            }
        }
        // Deployments first, so that a new one is there for the memberships that follow it.
        for id in deploymentIDs {
            do { try await rollouts.reload(id) } catch let error where !(error is SQLUnavailable) {
                logger.error("cannot take deployment \(id) from the change feed: \(error)")
            }
        }
        rollouts.cache.state.withLock { state in
            for case .membership(let deploymentID, let deviceID, let member) in changes {
                guard let index = state.liveIndex(deploymentID) else { continue }
                guard let member else {
                    state.live[index].members[deviceID] = nil
                    continue
                }
                state.live[index].learn(member, of: deviceID)
            }
        }
        if trustChanged {
            do { try await trust?.reload() } catch let error where !(error is SQLUnavailable) {
                logger.error("cannot take the trust metadata another instance published: \(error); devices are served the previous version")
            }
        }
    }
}
