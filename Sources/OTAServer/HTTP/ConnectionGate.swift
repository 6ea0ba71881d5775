import NIOCore
import Synchronization

/// Keeps connections that have not proven anything from crowding out the ones that have.
///
/// Every connection starts *unproven* (TLS handshake and request head included) and becomes
/// *proven* when a request on it authenticates as a device or an operator (or opens a
/// device session). Unproven connections may hold at most `unprovenShare` of the server's
/// connection slots: when one more arrives, the oldest unproven connection of the address
/// that holds the most is closed. A crowd of strangers that open connections and trickle
/// their bytes therefore holds at most that share, mostly at its own expense; a device or an
/// operator connecting meanwhile still gets a slot, proves itself in a few milliseconds, and
/// can no longer be pushed out.
final class ConnectionGate: Sendable {
    let unprovenShare: Int
    let onEvict: @Sendable () -> Void

    private struct State {
        /// Unproven connections by arrival order, with the address each came from.
        var order: [UInt64: (channel: any Channel, address: [UInt8])] = [:]
        var ids: [ObjectIdentifier: UInt64] = [:]
        var perAddress: [[UInt8]: Int] = [:]
        var next: UInt64 = 0
        var evicted = 0

        mutating func remove(_ id: UInt64) -> (any Channel)? {
            guard let entry = order.removeValue(forKey: id) else { return nil }
            ids[ObjectIdentifier(entry.channel)] = nil
            let left = (perAddress[entry.address] ?? 1) - 1
            perAddress[entry.address] = left > 0 ? left : nil
            return entry.channel
        }
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
        let address = channel.remoteAddress.flatMap { ClientAddress.rawBytes($0) }.map { ClientAddress(raw: $0).bytes } ?? []
        let victim: (any Channel)? = state.withLock { state in
            let id = state.next
            state.next += 1
            state.order[id] = (channel, address)
            state.ids[ObjectIdentifier(channel)] = id
            state.perAddress[address, default: 0] += 1
            guard state.order.count > unprovenShare, let crowded = state.perAddress.max(by: { $0.value < $1.value })?.key,
                  let oldest = state.order.filter({ $0.value.address == crowded }).keys.min() else { return nil }
            state.evicted += 1
            return state.remove(oldest)
        }
        if let victim {
            onEvict()
            victim.close(promise: nil)
        }
    }

    /// A request on `channel` authenticated: it stays.
    func proved(_ channel: any Channel) {
        state.withLock { state in
            if let id = state.ids[ObjectIdentifier(channel)] { _ = state.remove(id) }
        }
    }

    func closed(_ channel: any Channel) { proved(channel) }
}
