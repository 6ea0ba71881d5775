import Logging
import ServiceLifecycle

/// Keeps this instance's caches coherent with the database: catches up with the change feed
/// about twice a second. A deployment paused on another instance stops being offered here
/// within a poll; a deleted device stops authenticating here within a poll.
struct ChangeFeedService: Service {
    let coherence: FleetCoherence
    let logger: Logger
    static let pollMilliseconds = 500

    func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            try? await Task.sleep(for: .milliseconds(Self.pollMilliseconds))
            do { try await coherence.catchUp() } catch {
                // The database is away: the next poll continues from the same place (what was
                // applied of the page is applied again, which is harmless).
                logger.error("cannot read the change feed (will retry): \(error)")
            }
        }
    }
}
