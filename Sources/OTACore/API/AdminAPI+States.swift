extension AdminAPI {
    /// A deployment's status. `completed` is only ever shown: an active deployment in its last
    /// phase with every reached device finished stays active underneath, so that devices
    /// joining later still get it.
    public enum DeploymentStatus: String, Codable, Sendable, CaseIterable {
        case active, paused, cancelled, completed

        /// Whether it can still hand out its bundle (paused ones keep their devices going).
        public var isLive: Bool { self == .active || self == .paused }
        /// Whether watching it any longer would show nothing new.
        public var isOver: Bool { self == .completed || self == .cancelled }
    }

    /// Where one targeted device is in one deployment.
    public enum MembershipState: String, Codable, Sendable, CaseIterable {
        case pending, downloading, installing, succeeded, failed
        case rolledBack = "rolled_back"

        /// Progress only moves forward: a state never replaces a later one.
        public var order: Int {
            switch self {
            case .pending: return 0
            case .downloading: return 1
            case .installing: return 2
            case .succeeded, .failed, .rolledBack: return 3
            }
        }

        /// The device's part in the deployment is over, one way or the other.
        public var isFinal: Bool { order == 3 }
        public var isUnsuccessful: Bool { self == .failed || self == .rolledBack }

        /// The membership state a reported step moves to.
        public init(_ step: DeviceAPI.UpdateState) {
            switch step {
            case .downloading, .downloaded: self = .downloading
            case .shadow, .installing, .healthCheck: self = .installing
            case .succeeded: self = .succeeded
            // An abandoned update ends the device's part in that deployment: it is not offered
            // again there (a new deployment of the same version is).
            case .failed, .abandoned: self = .failed
            case .rolledBack: self = .rolledBack
            }
        }
    }
}

extension DeviceAPI {
    /// How a device runs an installed version.
    public enum InstalledState: String, Codable, Sendable, CaseIterable {
        case committed
        /// On probation: a health check is still to pass (or a reboot to survive).
        case trial
    }
}
