import OTACore

/// What check-ins report (last seen, what runs, attributes, trust, inventory) waits in the cache and is
/// written by `flush`, a few hundred devices per statement: a poll costs no fsync.
struct CheckinWriteBehind: Sendable {
    let cache: FleetCache
    let devices: DeviceStore

    /// Writes what check-ins changed since the last flush, in one transaction. On failure the
    /// batch goes back for the next flush (newer values queued meanwhile win).
    func flush() async throws {
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
