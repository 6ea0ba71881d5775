import NIOCore
import Synchronization

/// Keeps connections that have not proven anything from crowding out the ones that have.
///
/// Every connection starts *unproven* (TLS handshake and request head included) and becomes
/// *proven* when a request on it authenticates as a device or an operator. Unproven
/// connections may hold at most `unprovenShare` of the server's connection slots: when one
/// more arrives, the oldest unproven connection is closed. A crowd of strangers that open
/// connections and trickle their bytes therefore holds at most that share, and a device or
/// an operator connecting meanwhile still gets a slot, proves itself in a few milliseconds,
/// and can no longer be pushed out.
final class ConnectionGate: Sendable {
    let unprovenShare: Int
    let onEvict: @Sendable () -> Void

    private struct State {
        /// Unproven connections by arrival order.
        var order: [UInt64: any Channel] = [:]
        var ids: [ObjectIdentifier: UInt64] = [:]
        var next: UInt64 = 0
        var evicted = 0
    }

    private let state = Mutex(State())

    /// `maximumConnections`: the server's slots; unproven connections get half (at least one).
    init(maximumConnections: Int, onEvict: @escaping @Sendable () -> Void = {}) {
        unprovenShare = max(1, maximumConnections / 2)
        self.onEvict = onEvict
    }

    /// Connections closed to make room, since the start.
    var evictions: Int { state.withLock { $0.evicted } }

    var unprovenCount: Int { state.withLock { $0.order.count } }

    func opened(_ channel: any Channel) {
        let oldest: (any Channel)? = state.withLock { state in
            let id = state.next
            state.next += 1
            state.order[id] = channel
            state.ids[ObjectIdentifier(channel)] = id
            guard state.order.count > unprovenShare, let first = state.order.keys.min(), let victim = state.order.removeValue(forKey: first) else {
                return nil
            }
            state.ids[ObjectIdentifier(victim)] = nil
            state.evicted += 1
            return victim
        }
        if let oldest {
            onEvict()
            oldest.close(promise: nil)
        }
    }

    /// A request on `channel` authenticated: it stays.
    func proved(_ channel: any Channel) {
        state.withLock { state in
            if let id = state.ids.removeValue(forKey: ObjectIdentifier(channel)) { state.order[id] = nil }
        }
    }

    func closed(_ channel: any Channel) { proved(channel) }
}
