import OTACore
import Synchronization

/// What check-ins are answered from: device identities, live deployments and who joined
/// them, what each device runs and trusts, and the check-in writes waiting for the next
/// flush. The database is the source of truth; this is a cache of it that the change feed
/// keeps coherent on every instance (`FleetCoherence`), and a lookup that misses it asks
/// the database.
final class FleetCache: Sendable {
    let state = Mutex(State())

    struct Member: Sendable, Equatable {
        var phase: Int
        var state: AdminAPI.MembershipState
        var assignedEpoch: Int64
    }

    /// A deployment that can still hand out its bundle, with what check-ins need precomputed.
    struct Live: Sendable {
        var plan: DeploymentPlan
        let version: SemanticVersion
        let digest: SHA256Digest
        /// Client images go only to DDI devices, everything else only to agents.
        let kind: BundleKind
        let compatible: Set<HardwareClass>
        /// The requirements of each build, for a bundle with variants (nil: any device).
        let variants: [InventoryCondition?]?
        let contentDigests: Set<SHA256Digest>
        /// This deployment's assignment as JSON, spliced into check-in answers.
        let assignmentJSON: [UInt8]
        var members: [DeviceID: Member] = [:]

        /// Takes what the database says of a membership. It only moves forward, and what was
        /// read a moment ago may be older than a step this instance recorded since, which must
        /// not be lost (a rolled-back device would be offered the update again).
        mutating func learn(_ member: Member, of deviceID: DeviceID) {
            if let known = members[deviceID], known.state.order > member.state.order { return }
            members[deviceID] = member
        }

        /// Whether a device can take this bundle's payload: always for a bundle of one build;
        /// for one with variants, only an agent that picks variants, when one of them fits what
        /// the device last reported. One that fits none is not compatible, like another
        /// hardware class: it is never a member, so it counts as no failure.
        func hasVariant(for inventory: DeviceInventory?, canPickVariants: Bool) -> Bool {
            guard let variants else { return true }
            return canPickVariants && variants.contains { $0?.isMet(by: inventory) ?? true }
        }
    }

    struct State: Sendable {
        /// Devices on bearer tokens (registered before device keys), by token hash.
        var identities: [String: DeviceIdentity] = [:]
        /// Accepted devices with keys, by id, with their session epoch.
        var keyed: [DeviceID: (identity: DeviceIdentity, epoch: String)] = [:]
        /// Bumped by every change to a device, so that a database read that started before
        /// the change is not cached after it (`identityChanges` counts them all, for reads by
        /// token, which do not know the device before they end).
        var generations: [DeviceID: Int] = [:]
        var identityChanges = 0
        var tokenHashes: [DeviceID: String] = [:]
        var installed: [DeviceID: [DeviceAPI.InstalledBundle]] = [:]
        /// When each device's list was last queued for writing or read from the database. An
        /// unchanged list is written again after `installedRewriteSeconds`: with several
        /// instances, another may have written a newer one since (a device on a trial through
        /// it, back on this one after a rollback), and no change feed covers these lists.
        var installedWritten: [DeviceID: Int64] = [:]
        static let installedRewriteSeconds: Int64 = 600
        /// What each device last reported it trusts, so that only changes are written.
        var trust: [DeviceID: DeviceAPI.TrustReport] = [:]
        /// Newest first: for each bundle name the newest deployment that targets a device wins.
        var live: [Live] = []
        var pending = DeviceStore.CheckinBatch()
        /// Deployments that just refused a device (rate limit, paused, phase not open), until
        /// when: their other newcomers are not sent to the database again meanwhile.
        var refusing: [DeploymentID: Int64] = [:]
        /// Each gated deployment's gate checks, for the phase they were made for; dropped when
        /// new figures arrive, so evaluations do not re-read every report each time.
        var gateChecks: [DeploymentID: (phase: Int, checks: [AdminAPI.GateCheck])] = [:]

        func liveIndex(_ id: DeploymentID) -> Int? { live.firstIndex { $0.plan.id == id } }

        /// A device reported a new inventory: its cached identity has it at once (the flush
        /// writes it, and the change feed then brings it to the other instances).
        mutating func learn(_ inventory: DeviceInventory, of deviceID: DeviceID) {
            keyed[deviceID]?.identity.inventory = inventory
            if let hash = tokenHashes[deviceID] { identities[hash]?.inventory = inventory }
            pending.inventory[deviceID] = inventory
            // A read of this device from the database that started before is not cached after
            // it: it would bring back the old inventory until the change feed came round.
            generations[deviceID, default: 0] += 1
            identityChanges += 1
        }
    }
}
