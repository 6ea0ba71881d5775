import OTAClient
import OTACore

/// Events wait here, on disk, until the server acknowledges them: an outcome reported just
/// before a crash or while offline still reaches the server.
final class Outbox {
    private let path: String
    private(set) var pending: [PendingEvent]
    static let capacity = 1000

    init(path: String) throws {
        self.path = path
        pending = try StateFile.read([PendingEvent].self, from: path) ?? []
    }

    func add(_ event: PendingEvent) throws {
        pending.append(event)
        if pending.count > Self.capacity { pending.removeFirst(pending.count - Self.capacity) }
        try StateFile.write(pending, to: path)
    }

    /// Sends what is pending, oldest first, in batches. Stops at the first failure.
    func flush(_ client: DeviceClient) throws {
        while !pending.isEmpty {
            let batch = Array(pending.prefix(200))
            try client.report(batch)
            pending.removeFirst(batch.count)
            try StateFile.write(pending, to: path)
        }
    }
}
