import Logging
import ServiceLifecycle

/// Runs beside the HTTP server: flushes batched check-in writes and advances rollouts on
/// their soak timers; on shutdown (SIGTERM) it flushes once more so nothing is lost.
struct FleetService: Service {
    let fleet: Fleet
    let flushIntervalMilliseconds: Int
    let logger: Logger

    func run() async throws {
        var sinceTick = 0
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            try? await Task.sleep(for: .milliseconds(flushIntervalMilliseconds))
            do { try await fleet.flush() } catch { logger.error("check-in flush failed (will retry): \(error)") }
            sinceTick += flushIntervalMilliseconds
            if sinceTick >= 2_000 {
                sinceTick = 0
                await fleet.tick()
            }
        }
        do { try await fleet.flush() } catch { logger.error("final check-in flush failed: \(error)") }
    }
}
