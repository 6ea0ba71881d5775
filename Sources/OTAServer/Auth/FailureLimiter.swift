import OTACore
import Synchronization

/// Failed unauthenticated attempts (a registration or a session whose proof, token or device
/// does not check out), counted per client address over the last minute. Past `perMinute`,
/// that address is refused before anything is verified: strangers cannot make the server
/// spend Ed25519 verifications and transactions for free, and their failures never use up
/// what the fleet shares (`RegistrationLimiter` counts only registrations that succeed).
///
/// Many addresses together are held too: past `globalPerMinute` failures in all, an address
/// that failed even once in the last minute waits for the minute to pass. Addresses with no
/// recent failure (the fleet's devices, renewing their sessions) are still served: a flood
/// from many addresses costs each of them its address, and never locks the fleet out. The
/// table is bounded: at `maximumAddresses`, addresses whose failures
/// are all older than a minute are forgotten first, then those with the fewest failures.
final class FailureLimiter: Sendable {
    let perMinute: Int
    let globalPerMinute: Int
    let maximumAddresses: Int
    private struct State {
        var table: [ClientAddress: [Int64]] = [:]
        var recent: [Int64] = []
    }
    private let state = Mutex(State())

    init(perMinute: Int, globalPerMinute: Int? = nil, maximumAddresses: Int = 100_000) {
        self.perMinute = perMinute
        self.globalPerMinute = globalPerMinute ?? max(perMinute * 100, 1000)
        self.maximumAddresses = maximumAddresses
    }

    /// Whether `address` may try again now (nil, an address the socket did not give, is held
    /// only by the global budget).
    func allows(_ address: ClientAddress?, now: Int64) -> Bool {
        state.withLock { state in
            state.recent.removeAll { $0 <= now - 60 }
            let flooded = state.recent.count >= globalPerMinute
            // Without an address the caller cannot be told apart from the flood.
            guard let address else { return !flooded }
            guard var times = state.table[address] else { return true }
            times.removeAll { $0 <= now - 60 }
            state.table[address] = times.isEmpty ? nil : times
            return times.count < (flooded ? 1 : perMinute)
        }
    }

    func failed(_ address: ClientAddress?, now: Int64) {
        state.withLock { state in
            state.recent.removeAll { $0 <= now - 60 }
            if state.recent.count < globalPerMinute { state.recent.append(now) }
            guard let address else { return }
            if state.table[address] == nil, state.table.count >= maximumAddresses {
                state.table = state.table.filter { ($0.value.last ?? 0) > now - 60 }
                if state.table.count >= maximumAddresses {
                    // The fewest failures go first: an attacker's busiest addresses stay held.
                    let keep = state.table.sorted { $0.value.count > $1.value.count }.prefix(maximumAddresses / 2)
                    state.table = Dictionary(uniqueKeysWithValues: keep.map { ($0.key, $0.value) })
                }
            }
            var times = state.table[address, default: []]
            times.removeAll { $0 <= now - 60 }
            times.append(now)
            if times.count > perMinute { times.removeFirst(times.count - perMinute) }
            state.table[address] = times
        }
    }
}

/// At most `perMinute` registrations a minute, across all tokens: an enrollment token in the
/// wrong hands cannot flood the registry. Only registrations that passed the device's proof
/// and the token (or pre-authorisation) count: a slot is reserved before the registration is
/// written, and given back when it fails.
final class RegistrationLimiter: Sendable {
    let perMinute: Int
    private let recent = Mutex([Int64]())

    init(perMinute: Int) { self.perMinute = perMinute }

    func reserve(now: Int64) -> Bool {
        recent.withLock { recent in
            recent.removeAll { $0 <= now - 60 }
            guard recent.count < perMinute else { return false }
            recent.append(now)
            return true
        }
    }

    func giveBack(now: Int64) {
        recent.withLock { recent in
            if let index = recent.lastIndex(of: now) ?? recent.indices.last { recent.remove(at: index) }
        }
    }
}
