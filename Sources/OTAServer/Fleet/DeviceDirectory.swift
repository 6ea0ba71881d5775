import OTACore

/// Who a device-API request comes from: its bearer secret or its session, answered from the
/// cache when the device was seen before, else from the database (and cached, unless the
/// device changed while it was read).
struct DeviceDirectory: Sendable {
    let cache: FleetCache
    let devices: DeviceStore

    /// The device behind a bearer secret (a device registered before device keys).
    func authenticate(secret: String) async throws -> DeviceIdentity? {
        let hash = Secret.hash(secret)
        let (known, changes) = cache.state.withLock { ($0.identities[hash], $0.identityChanges) }
        if let known { return known }
        guard let identity = try await devices.identity(tokenHash: hash) else { return nil }
        cache.state.withLock { state in
            // A change to any device since the read started (a reject or a delete, here or
            // through the change feed) may be this one's: then what was read is not cached.
            guard state.identityChanges == changes else { return }
            state.identities[hash] = identity
            state.tokenHashes[identity.id] = hash
        }
        return identity
    }

    /// The accepted device a session claims, if the session's key is still the device's.
    func authenticate(session claim: DeviceSessions.Claim) async throws -> DeviceIdentity? {
        let (known, generation) = cache.state.withLock { ($0.keyed[claim.deviceID], $0.generations[claim.deviceID, default: 0]) }
        if let known { return known.epoch == claim.epoch ? known.identity : nil }
        guard let device = try await devices.keyedDevice(id: claim.deviceID), device.status == .accepted else { return nil }
        cache.state.withLock { state in
            if state.generations[claim.deviceID, default: 0] == generation { state.keyed[claim.deviceID] = (device.identity, device.sessionEpoch) }
        }
        return device.sessionEpoch == claim.epoch ? device.identity : nil
    }

    /// A device's tags, group, key or standing changed: read again at its next request. What
    /// it runs and the deployments it joined stay.
    func changed(_ deviceID: DeviceID) {
        cache.state.withLock { state in
            if let hash = state.tokenHashes.removeValue(forKey: deviceID) { state.identities[hash] = nil }
            state.keyed[deviceID] = nil
            state.generations[deviceID, default: 0] += 1
            state.identityChanges += 1
        }
    }

    /// A device was deleted: everything about it goes, writes waiting for the flush included.
    func deleted(_ deviceID: DeviceID) {
        changed(deviceID)
        cache.state.withLock { state in
            state.installed[deviceID] = nil
            state.installedWritten[deviceID] = nil
            for index in state.live.indices { state.live[index].members[deviceID] = nil }
            state.pending.lastSeen[deviceID] = nil
            state.pending.installed[deviceID] = nil
            state.pending.attributes[deviceID] = nil
            state.pending.trust[deviceID] = nil
            state.pending.inventory[deviceID] = nil
            state.trust[deviceID] = nil
        }
    }
}
