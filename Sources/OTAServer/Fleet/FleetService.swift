import Logging
import OTACore
import ServiceLifecycle

/// Runs beside the HTTP server: flushes batched check-in writes and, on the leading instance,
/// advances rollouts on their soak timers and prunes the change feed. The two loops run
/// apart, so a slow leadership check never holds up the flushes. On shutdown (SIGTERM) it
/// flushes once more so nothing is lost.
struct FleetService: Service {
    let fleet: Fleet
    let events: EventStore
    let flushIntervalMilliseconds: Int
    let db: any SQLDatabase
    let logger: Logger
    /// Events and figures older than this are pruned (nil keeps them).
    var retentionSeconds: Int64? = nil
    /// Long enough for an instance that lost the database for a while to catch up by reading
    /// the feed instead of reloading everything.
    static let feedRetentionSeconds: Int64 = 600

    func run() async throws {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await flushes() }
            group.addTask { await leadership() }
        }
        do { try await fleet.writeBehind.flush() } catch { logger.error("final check-in flush failed: \(error)") }
    }

    private var running: Bool { !Task.isShuttingDownGracefully && !Task.isCancelled }

    private func flushes() async {
        while running {
            try? await Task.sleep(for: .milliseconds(flushIntervalMilliseconds))
            do { try await fleet.writeBehind.flush() } catch { logger.error("check-in flush failed (will retry): \(error)") }
        }
    }

    /// Up to ten batches a minute: a backlog goes away over a few minutes, never in one long
    /// write.
    private func pruneEvents() async {
        guard let retentionSeconds else { return }
        let cutoff = fleet.clock.now.adding(seconds: -retentionSeconds)
        var pruned = 0
        do {
            for _ in 0..<10 where running {
                let rows = try await events.prune(receivedBefore: cutoff)
                pruned += rows
                if rows == 0 { break }
            }
        } catch { logger.error("cannot prune old events: \(error)") }
        if pruned > 0 { logger.info("pruned \(pruned) events and figures received before \(cutoff)") }
    }

    private func leadership() async {
        var ticks = 0
        while running {
            for _ in 0..<4 where running { try? await Task.sleep(for: .milliseconds(500)) }
            let leads = await db.holdsLeadership()
            fleet.metrics.leader.set(Int64(leads ? 1 : 0))
            guard leads, running else { continue }
            await fleet.rollouts.tick()
            fleet.metrics.rolloutTicks.increment()
            ticks += 1
            if ticks % 30 == 1 {
                do { try await ChangeFeed(db: db).prune(olderThan: Self.feedRetentionSeconds, now: fleet.clock.now.secondsSinceEpoch) } catch { logger.error("cannot prune the change feed: \(error)") }
                await pruneEvents()
            }
        }
    }
}
