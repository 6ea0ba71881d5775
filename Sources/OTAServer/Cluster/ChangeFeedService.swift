import Logging
import ServiceLifecycle

/// Keeps this instance's caches coherent with the database by reading the change feed: at
/// once when the database says another instance committed a change (PostgreSQL's
/// notifications), and every `pollInterval` whatever happens, should notifications be lost.
/// A deployment paused on another instance stops being offered here within moments; a
/// deleted device stops authenticating here.
struct ChangeFeedService: Service {
    let coherence: FleetCoherence
    /// Wake-ups from the database (nil for SQLite, which one instance uses alone).
    let notifications: AsyncStream<Void>?
    let pollInterval: Duration
    let logger: Logger

    func run() async throws {
        await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { group in
                if let notifications {
                    group.addTask { for await _ in notifications { await catchUp() } }
                }
                group.addTask {
                    while !Task.isCancelled {
                        do { try await Task.sleep(for: pollInterval) } catch { return }
                        await catchUp()
                    }
                }
            }
        }
    }

    private func catchUp() async {
        do { try await coherence.catchUp() } catch {
            // The database is away: the next wake-up continues from the same place (what was
            // applied of the page is applied again, which is harmless).
            logger.error("cannot read the change feed (will retry): \(error)")
        }
    }
}
