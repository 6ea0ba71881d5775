import OTACore
import Synchronization

/// How much each device may ask of the server: check-ins, event batches (by count and by
/// bytes) and metrics reports, as token buckets whose rates follow the poll interval. An
/// honest agent never meets them (it checks in once per interval, again right after an
/// update, and flushes a day's outbox at once); a device that floods gets 429 with the
/// `Retry-After` its bucket needs, which the agent honours, and nothing it sent is stored.
///
/// A full bucket always takes one request, however large (it then owes what it took): a
/// batch larger than the bucket can still be delivered, once, after the device was quiet.
/// Per instance: behind a load balancer each instance counts what reaches it.
public final class DeviceQuotas: Sendable {
    public enum Kind: Int, Sendable, CaseIterable {
        case checkin, eventCount, eventBytes, metrics

        /// How `--device-quota` names it.
        public var optionName: String {
            switch self {
            case .checkin: return "checkins"
            case .eventCount: return "events"
            case .eventBytes: return "event-bytes"
            case .metrics: return "metrics"
            }
        }
    }

    public struct Bucket: Sendable, Equatable {
        /// What a full bucket holds.
        public var capacity: Double
        /// Refill per second.
        public var rate: Double
        public init(capacity: Double, rate: Double) {
            self.capacity = capacity
            self.rate = rate
        }
    }

    let buckets: [Kind: Bucket]
    /// Devices tracked at most; buckets that have refilled are forgotten first.
    let maximumDevices: Int

    private struct Level { var tokens: Double; var at: Double }
    private let levels = Mutex([DeviceID: [Level?]]())

    init(buckets: [Kind: Bucket], maximumDevices: Int = 1_000_000) {
        self.buckets = buckets
        self.maximumDevices = maximumDevices
    }

    /// The defaults for a fleet polling every `pollInterval` seconds: ten check-ins per
    /// interval (30 at once), a thousand events (a full agent outbox) and 1 MiB of them at
    /// once refilled over ten intervals, a metrics report per interval (10 at once).
    public static func defaults(pollInterval: Int) -> [Kind: Bucket] {
        let interval = Double(max(1, pollInterval))
        return [
            .checkin: Bucket(capacity: 30, rate: 10 / interval),
            .eventCount: Bucket(capacity: 1000, rate: 100 / interval),
            .eventBytes: Bucket(capacity: 1_048_576, rate: 1_048_576 / (10 * interval)),
            .metrics: Bucket(capacity: 10, rate: 1 / interval),
        ]
    }

    /// Takes `costs` from the device's buckets, all or nothing. Nil when taken; otherwise the
    /// seconds until they would be there.
    func take(_ deviceID: DeviceID, _ costs: [Kind: Double], now: Double) -> Int? {
        levels.withLock { levels in
            var current = levels[deviceID] ?? Array(repeating: nil, count: Kind.allCases.count)
            var wait = 0.0
            for (kind, cost) in costs {
                guard let bucket = buckets[kind] else { continue }
                let level = Self.refilled(current[kind.rawValue], bucket, now: now)
                current[kind.rawValue] = level
                // A full bucket takes anything; otherwise the cost must be there.
                if level.tokens >= bucket.capacity || level.tokens >= cost { continue }
                wait = max(wait, (min(cost, bucket.capacity) - level.tokens) / max(bucket.rate, 1e-9))
            }
            if wait > 0 {
                levels[deviceID] = current
                return Int(min(wait.rounded(.up), 86_400))
            }
            for (kind, cost) in costs where buckets[kind] != nil {
                current[kind.rawValue]!.tokens -= cost
            }
            if levels[deviceID] == nil && levels.count >= maximumDevices { Self.forgetRefilled(&levels, buckets, now: now, keep: maximumDevices / 2) }
            levels[deviceID] = current
            return nil
        }
    }

    private static func refilled(_ level: Level?, _ bucket: Bucket, now: Double) -> Level {
        guard let level else { return Level(tokens: bucket.capacity, at: now) }
        let elapsed = max(0, now - level.at)
        return Level(tokens: min(bucket.capacity, level.tokens + elapsed * bucket.rate), at: now)
    }

    /// Drops devices whose buckets are all full again (they lose nothing), then, if still
    /// too many, the rest down to `keep`.
    private static func forgetRefilled(_ levels: inout [DeviceID: [Level?]], _ buckets: [Kind: Bucket], now: Double, keep: Int) {
        levels = levels.filter { _, current in
            buckets.contains { kind, bucket in refilled(current[kind.rawValue], bucket, now: now).tokens < bucket.capacity }
        }
        if levels.count > keep { levels = Dictionary(uniqueKeysWithValues: levels.prefix(keep).map { ($0.key, $0.value) }) }
    }
}
