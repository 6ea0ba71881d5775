import Logging
import NIOCore
import Synchronization
import NIOPosix
import PostgresNIO

/// Wakes this instance when another commits a change: `LISTEN ota_registry_changes` on a
/// connection of its own, outside the pool (migration 0008 notifies from the change feed).
/// A notification says only "read the feed now". When the connection is lost, the listener
/// wakes its reader once (whatever was missed meanwhile is read then) and connects again,
/// waiting longer after each failure, never more than half a minute.
final class PostgresChangeListener: Sendable {
    static let channel = "ota_registry_changes"

    private let location: PostgresLocation
    private let logger: Logger
    private let task = Mutex<Task<Void, Never>?>(nil)

    init(location: PostgresLocation, logger: Logger) {
        self.location = location
        self.logger = logger
    }

    /// Starts listening; the wake-ups come until `stop()`, at most one waiting unread (more
    /// would say nothing more).
    func start() -> AsyncStream<Void> {
        let (stream, wake) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        let listening = Task { [location, logger] in
            var failures = 0
            while !Task.isCancelled {
                do {
                    let connection = try await Self.connect(location: location, logger: logger)
                    failures = 0
                    do { try await Self.listen(on: connection, wake: wake) } catch {
                        if !Task.isCancelled { logger.warning("the change notifications' connection ended (polling meanwhile): \(error)") }
                    }
                    try? await connection.close() // Already closed, or ending: nothing to do either way.
                } catch {
                    failures += 1
                    if failures == 1 { logger.warning("cannot listen for change notifications (polling meanwhile): \(error)") }
                }
                if Task.isCancelled { break }
                wake.yield()
                try? await Task.sleep(for: .seconds(min(30, 1 << min(failures, 5)))) // Cancelled: the loop ends.
            }
            wake.finish()
        }
        task.withLock { task in
            task?.cancel()
            task = listening
        }
        return stream
    }

    func stop() {
        task.withLock { task in
            task?.cancel()
            task = nil
        }
    }

    private static func connect(location: PostgresLocation, logger: Logger) async throws -> PostgresConnection {
        try await Deadline.within(seconds: Double(location.connectTimeoutSeconds), what: "the database at \(location.redacted)") {
            try await PostgresConnection.connect(on: MultiThreadedEventLoopGroup.singleton.any(),
                                                 configuration: try PostgresDatabase.connectionConfiguration(location),
                                                 id: 2, logger: logger)
        }
    }

    /// Wakes the reader on every notification until the connection ends (an error) or the
    /// task is cancelled (which closes it).
    private static func listen(on connection: PostgresConnection, wake: AsyncStream<Void>.Continuation) async throws {
        try await withTaskCancellationHandler {
            let notifications = try await connection.listen(channel)
            // Listening from now: what was committed before is read by this first wake-up.
            wake.yield()
            for try await _ in notifications { wake.yield() }
        } onCancel: {
            Task { try? await connection.close() }
        }
    }
}
