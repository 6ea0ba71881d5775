import Logging
import OTACore
import ServiceLifecycle

/// Renews snapshot and timestamp before they expire, so devices keep a fresh view.
struct TrustRenewalService: Service {
    let trust: TrustRepository
    /// Only the leading instance renews; the others take its metadata from the change feed.
    let db: any SQLDatabase
    let logger: Logger

    func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do { if await db.holdsLeadership() { try await trust.renew(force: false) } } catch { logger.error("cannot renew the timestamp (devices will see stale trust): \(error)") }
            // Short steps, so that a graceful shutdown is not held up.
            for _ in 0..<30 where !Task.isShuttingDownGracefully { try? await Task.sleep(for: .seconds(1)) }
        }
    }
}
