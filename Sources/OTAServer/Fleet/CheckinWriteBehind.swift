import OTACore

/// What check-ins report (last seen, what runs, attributes, trust, inventory) waits in the cache and is
/// written by `flush`, a few hundred devices per statement: a poll costs no fsync.
struct CheckinWriteBehind: Sendable {
    let cache: FleetCache
    let devices: DeviceStore
    private let serial = OneAtATime()

    init(cache: FleetCache, devices: DeviceStore) {
        self.cache = cache
        self.devices = devices
    }

    /// Writes what check-ins changed since the last flush, in a few short transactions
    /// (`DeviceStore.write`). On failure the batch goes back for the next flush (newer values
    /// queued meanwhile win). One flush at a time (the timer's, an operator's deleting a
    /// device): interleaved, an older flush's step could commit after a newer one's.
    func flush() async throws {
        try await serial.run { try await flushNow() }
    }

    private func flushNow() async throws {
        let batch = cache.state.withLock { state -> DeviceStore.CheckinBatch in
            defer { state.pending = DeviceStore.CheckinBatch() }
            return state.pending
        }
        guard !batch.isEmpty else { return }
        do { try await devices.write(batch) } catch {
            cache.state.withLock { state in
                for (id, epoch) in batch.lastSeen where state.pending.lastSeen[id] == nil { state.pending.lastSeen[id] = epoch }
                for (id, value) in batch.installed where state.pending.installed[id] == nil { state.pending.installed[id] = value }
                for (id, value) in batch.attributes where state.pending.attributes[id] == nil { state.pending.attributes[id] = value }
                for (id, value) in batch.trust where state.pending.trust[id] == nil { state.pending.trust[id] = value }
                for (id, value) in batch.inventory where state.pending.inventory[id] == nil { state.pending.inventory[id] = value }
            }
            throw error
        }
    }
}

/// Runs bodies one at a time, in the order they were asked for.
actor OneAtATime {
    private var last: Task<Void, any Error>?

    func run(_ body: @escaping @Sendable () async throws -> Void) async throws {
        let previous = last
        let next = Task {
            // The previous one's failure is its caller's to report.
            _ = await previous?.result
            try await body()
        }
        last = next
        try await next.value
    }
}
