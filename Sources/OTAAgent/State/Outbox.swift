import Logging
import OTAClient
import OTACore

/// Events wait here, on disk, until the server acknowledges them: an outcome reported just
/// before a crash or while offline still reaches the server.
final class Outbox {
    private let path: String
    private let log: Logger
    private(set) var pending: [PendingEvent]
    static let capacity = 1000

    init(path: String, log: Logger) throws {
        self.path = path
        self.log = log
        // Read one event at a time: an event an older agent wrote that this one cannot read is
        // dropped (it could never be delivered), not a reason to stop the agent.
        var pending: [PendingEvent] = []
        for (index, entry) in (try StateFile.read([JSONValue].self, from: path) ?? []).enumerated() {
            do { pending.append(try StrictJSON.decode(PendingEvent.self, from: try StrictJSON.encode(entry), what: "event \(index + 1)")) } catch {
                log.error("cannot read a queued event (\(error)); dropped")
            }
        }
        self.pending = pending
    }

    /// A batch stays well inside what the server takes at once (`EventsRequest`).
    static let batchCount = 200
    static let batchBytes = 256 * 1024

    func add(_ event: PendingEvent) throws {
        var event = event
        // The server keeps this much of a detail: the rest would only cost the device's quota.
        event.detail = event.detail.truncatedUTF8(to: DeviceAPI.Event.storedDetailBytes)
        pending.append(event)
        if pending.count > Self.capacity { pending.removeFirst(pending.count - Self.capacity) }
        try StateFile.write(pending, to: path)
    }

    /// Sends what is pending, oldest first, in batches. Stops at the first failure that
    /// may pass (no connection, a server error, 429); an event the server refuses as invalid
    /// is logged and dropped, because sending it again can only fail again and would keep
    /// every later event, outcomes included, from ever reaching the server.
    func flush(_ transport: any DeviceTransport) throws {
        while !pending.isEmpty {
            let batch = Self.nextBatch(pending)
            do {
                try transport.report(batch)
            } catch let error as HTTPClientError where error.refusesRequest {
                // Which of them is refused? One at a time tells.
                for event in batch {
                    do { try transport.report([event]) } catch let error as HTTPClientError where error.refusesRequest {
                        log.error("the server refuses the event '\(event.state.rawValue)' for \(event.bundleName) \(event.version); dropped: \(error)")
                    }
                    pending.removeFirst()
                    try StateFile.write(pending, to: path)
                }
                continue
            }
            pending.removeFirst(batch.count)
            try StateFile.write(pending, to: path)
        }
    }

    /// The oldest events that fit one batch (at least one).
    static func nextBatch(_ pending: [PendingEvent]) -> [PendingEvent] {
        var bytes = 0
        var count = 0
        for event in pending.prefix(batchCount) {
            // An event that cannot be encoded goes alone (and fails on its own).
            do { bytes += try StrictJSON.encode(event).count + 1 } catch { bytes += batchBytes }
            if count > 0 && bytes > batchBytes { break }
            count += 1
        }
        return Array(pending.prefix(max(1, count)))
    }
}
