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
    /// The least time between two reads that notifications start. Each read is a transaction
    /// of its own; read at every notification, a rollout's joins on PostgreSQL cost one read
    /// per admission (60 a second, as many pooled connections taken from check-ins). An
    /// operator's own write is read at once by the request that made it, not through this.
    static let notifiedReadGap: Duration = .milliseconds(100)

    func run() async throws {
        await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { group in
                if let notifications {
                    group.addTask {
                        for await _ in notifications {
                            await catchUp()
                            // Commits come in bursts (every device joining a rollout is one):
                            // what arrives meanwhile waits as one wake-up, read in one go.
                            do { try await Task.sleep(for: Self.notifiedReadGap) } catch { return }
                        }
                    }
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

    /// One read, which the service stops waiting for when it is cancelled (at shutdown): a
    /// read on a connection the database dropped may end only at its transaction's deadline.
    private func catchUp() async {
        await Deadline.answer(within: .infinity, orElse: ()) { [coherence, logger] in
            do { try await coherence.catchUp() } catch {
                // The database is away: the next wake-up continues from the same place (what
                // was applied of the page is applied again, which is harmless).
                logger.error("cannot read the change feed (will retry): \(error)")
            }
        }
    }
}
