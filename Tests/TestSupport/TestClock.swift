import OTAAgent
import OTACore
import Synchronization

/// A clock that moves only when a test moves it: expiry, update age, soak times, sessions and
/// retention are tried by advancing it, never by waiting. A pause (the agent's wait between
/// attempts) moves it too, and returns at once.
public final class TestClock: AgentClock, @unchecked Sendable {
    private let state: Mutex<(now: Int64, monotonic: Double)>

    public init(_ start: Timestamp = "2026-12-01T00:00:00Z") {
        state = Mutex((start.secondsSinceEpoch, 1_000))
    }

    public var now: Timestamp { Timestamp(clamping: state.withLock { $0.now }) }
    public var monotonicSeconds: Double { state.withLock { $0.monotonic } }

    /// Moves both clocks forward (or the time of day back, with a negative value, as a reset
    /// real-time clock does; the monotonic clock never goes back).
    public func advance(seconds: Int64) {
        state.withLock { state in
            state.now += seconds
            state.monotonic += Double(max(0, seconds))
        }
    }

    /// Sets the time of day (a device whose clock was reset).
    public func set(_ time: Timestamp) { state.withLock { $0.now = time.secondsSinceEpoch } }

    public func pause(seconds: Double) {
        state.withLock { state in
            state.monotonic += max(0, seconds)
            state.now += Int64(max(0, seconds).rounded(.up))
        }
    }
}
