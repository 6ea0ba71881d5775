#if canImport(Glibc)
import Glibc
#endif
import OTACore

/// `ota-agent run`: check in at the server's interval with jitter, back off exponentially
/// (with jitter) on errors, honour Retry-After, and stop cleanly on SIGTERM or SIGINT.
///
/// Both signals are blocked and waited for with `sigtimedwait` while sleeping, so an update
/// is never cut off half-way by a stop request: the step in progress finishes first.
public struct Daemon {
    let agent: Agent
    static let backoffBase = 5.0
    static let backoffCap = 900.0
    /// The longest wait a server can ask for (poll interval or Retry-After): beyond it, the
    /// server is not believed, so that it can neither silence a device for good nor
    /// overflow the timer.
    static let longestWait = 86_400.0
    static let shadowCheckSeconds = 3.0

    public init(agent: Agent) { self.agent = agent }

    public enum Exit: Equatable { case stopped, rebootPending }

    public func run() -> Exit {
        var signals = sigset_t()
        sigemptyset(&signals)
        sigaddset(&signals, SIGTERM)
        sigaddset(&signals, SIGINT)
        pthread_sigmask(SIG_BLOCK, &signals, nil)
        var failures = 0
        while true {
            let outcome = agent.cycle()
            if outcome.rebootPending { return .rebootPending }
            let delay: Double
            if outcome.error != nil {
                failures += 1
                let backoff = min(Self.backoffCap, Self.backoffBase * pow(2, Double(min(failures - 1, 20))))
                delay = max(Double(outcome.retryAfterSeconds ?? 0), backoff * Double.random(in: 0.5...1.0))
            } else {
                failures = 0
                // At least a second: a poll interval of 0 would hammer the server.
                delay = Double(max(1, outcome.pollIntervalSeconds)) * Double.random(in: 0.9...1.1)
            }
            // A shadow phase ends on evidence the application writes: look at it often.
            let wait = min(delay, Self.longestWait, outcome.shadowing ? Self.shadowCheckSeconds : .infinity)
            agent.log.info("next check-in in \(Int(wait.rounded()))s")
            if Self.waitForSignal(&signals, seconds: wait) {
                agent.log.info("stopping")
                return .stopped
            }
        }
    }

    /// Sleeps up to `seconds`; true if SIGTERM or SIGINT arrived.
    static func waitForSignal(_ signals: inout sigset_t, seconds: Double) -> Bool {
        var remaining = seconds
        while remaining > 0 {
            let started = CommandRunner.monotonicSeconds()
            var timeout = timespec(tv_sec: Int(remaining), tv_nsec: Int((remaining - remaining.rounded(.down)) * 1e9))
            let signal = sigtimedwait(&signals, nil, &timeout)
            if signal == SIGTERM || signal == SIGINT { return true }
            if signal < 0 && errno != EINTR && errno != EAGAIN { return false }
            remaining -= CommandRunner.monotonicSeconds() - started
            if signal < 0 && errno == EAGAIN { return false }
        }
        return false
    }
}
