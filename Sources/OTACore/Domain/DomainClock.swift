#if canImport(Glibc)
import Glibc
#endif

/// Where the agent and the server read the time of day (expiry, update age, soak times,
/// stale trust, sessions, quotas, retention) and measure intervals (backoff, rates). One seam,
/// so that tests move time instead of waiting for it (`TestClock` in TestSupport).
public protocol DomainClock: Sendable {
    /// The time of day.
    var now: Timestamp { get }
    /// Seconds on a clock that never jumps, for intervals and rates (not for dates).
    var monotonicSeconds: Double { get }
}

/// The machine's clocks.
public struct SystemClock: DomainClock {
    public init() {}

    public var now: Timestamp { Timestamp(clamping: Int64(time(nil))) }

    public var monotonicSeconds: Double {
        var value = timespec()
        clock_gettime(CLOCK_MONOTONIC, &value)
        return Double(value.tv_sec) + Double(value.tv_nsec) / 1e9
    }
}

extension Timestamp {
    /// The machine's time of day as seconds since 1970 (where no clock was handed in yet).
    public static func epochSeconds() -> Int64 { SystemClock().now.secondsSinceEpoch }
    /// The machine's time of day, RFC 3339.
    public static func now() -> String { SystemClock().now.rfc3339 }
    /// The machine's monotonic clock.
    public static func monotonicSeconds() -> Double { SystemClock().monotonicSeconds }
}
