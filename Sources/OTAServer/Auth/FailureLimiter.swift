import OTACore
import Synchronization

/// Failed unauthenticated attempts (a registration or a session whose proof, token or device
/// does not check out), counted per client address over the last minute. Past `perMinute`,
/// that address is refused before anything is verified: strangers cannot make the server
/// spend Ed25519 verifications and transactions for free, and their failures never use up
/// what the fleet shares (`RegistrationLimiter` counts only registrations that succeed).
///
/// The table is bounded: at `maximumAddresses`, addresses whose failures are all older than a
/// minute are forgotten, and if that is not enough, half of the table (an attacker with that
/// many addresses already has that many minutes' worth of attempts).
final class FailureLimiter: Sendable {
    let perMinute: Int
    let maximumAddresses: Int
    private let table = Mutex([ClientAddress: [Int64]]())

    init(perMinute: Int, maximumAddresses: Int = 100_000) {
        self.perMinute = perMinute
        self.maximumAddresses = maximumAddresses
    }

    /// Whether `address` may try again now (nil, an address the socket did not give, may).
    func allows(_ address: ClientAddress?, now: Int64) -> Bool {
        guard let address else { return true }
        return table.withLock { table in
            guard var times = table[address] else { return true }
            times.removeAll { $0 <= now - 60 }
            table[address] = times.isEmpty ? nil : times
            return times.count < perMinute
        }
    }

    func failed(_ address: ClientAddress?, now: Int64) {
        guard let address else { return }
        table.withLock { table in
            if table[address] == nil, table.count >= maximumAddresses {
                table = table.filter { ($0.value.last ?? 0) > now - 60 }
                if table.count >= maximumAddresses { table = Dictionary(uniqueKeysWithValues: table.prefix(maximumAddresses / 2).map { ($0.key, $0.value) }) }
            }
            var times = table[address, default: []]
            times.removeAll { $0 <= now - 60 }
            times.append(now)
            if times.count > perMinute { times.removeFirst(times.count - perMinute) }
            table[address] = times
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
