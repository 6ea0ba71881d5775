import OTACore

extension Fleet {
    /// Applies what the change feed says changed, here or on another instance. Everything
    /// here is idempotent: an instance sees its own changes come back, and after a load it
    /// may see a change it already loaded. It throws only while the database is away (the
    /// page is read again); a change that cannot be applied otherwise is logged and passed,
    /// so that one bad row never stops the changes behind it (a rejected device must stop
    /// authenticating here whatever else happened).
    func apply(_ changes: [ChangeFeed.Change]) async throws {
        var deploymentIDs: [String] = []
        var trustChanged = false
        for change in changes {
            switch change {
            case .device(let id): refreshIdentity(deviceID: id)
            case .deviceDeleted(let id): forget(deviceID: id)
            case .deployment(let id): if !deploymentIDs.contains(id) { deploymentIDs.append(id) }
            case .trust: trustChanged = true
            case .quality(let id): qualityChanged(deploymentID: id)
            case .membership: break
            }
        }
        // Deployments first, so that a new one is there for the memberships that follow it.
        for id in deploymentIDs {
            do { try await reload(deploymentID: id) } catch let error where !(error is SQLUnavailable) {
                logger.error("cannot take deployment \(id) from the change feed: \(error)")
            }
        }
        state.withLock { state in
            for case .membership(let deploymentID, let deviceID, let member) in changes {
                guard let index = state.live.firstIndex(where: { $0.plan.id == deploymentID }) else { continue }
                guard let member else {
                    state.live[index].members[deviceID] = nil
                    continue
                }
                state.live[index].learn(member, of: deviceID)
            }
        }
        if trustChanged {
            do { try await trust?.reload() } catch let error where !(error is SQLUnavailable) {
                logger.error("cannot take the trust metadata another instance published: \(error); devices are served the previous version")
            }
        }
    }
}

extension Fleet.Live {
    /// Takes what the database says of a membership. It only moves forward, and what was read
    /// a moment ago may be older than a step this instance recorded since, which must not be
    /// lost (a rolled-back device would be offered the update again).
    mutating func learn(_ member: Fleet.Member, of deviceID: String) {
        if let known = members[deviceID], known.state.order > member.state.order { return }
        members[deviceID] = member
    }
}
