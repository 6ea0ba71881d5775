import Logging
import ServiceLifecycle

/// Keeps this instance's check-in caches coherent with the database: reads the change feed
/// about twice a second and applies it. A deployment paused on another instance stops being
/// offered here within a poll; a deleted device stops authenticating here within a poll.
struct ChangeFeedService: Service {
    let fleet: Fleet
    let feed: ChangeFeed
    /// Where the feed ended when the fleet was loaded.
    let cursor: Int64
    let logger: Logger
    static let pollMilliseconds = 500

    func run() async throws {
        var cursor = self.cursor
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            try? await Task.sleep(for: .milliseconds(Self.pollMilliseconds))
            do {
                // Pages until caught up: a burst (a rollout to a large fleet) is read in a few.
                while true {
                    let page = try await feed.read(after: cursor)
                    if page.missed {
                        logger.warning("this instance fell behind the change feed; reloading the fleet state from the database")
                        try await fleet.load()
                        try await fleet.trust?.reload()
                    } else {
                        try await fleet.apply(page.changes)
                    }
                    cursor = page.last
                    guard page.rows >= ChangeFeed.pageSize else { break }
                }
            } catch {
                // The database is away: the next poll continues from the same place (what was
                // applied of the page is applied again, which is harmless).
                logger.error("cannot read the change feed (will retry): \(error)")
            }
        }
    }
}
