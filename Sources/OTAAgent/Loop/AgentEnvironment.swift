#if canImport(Glibc)
import Glibc
#endif
import Logging
import OTAClient
import OTACore

/// The agent's clock: the time of day and intervals (`DomainClock`), and a pause between
/// attempts within a cycle. Tests hand in one they move themselves, so nothing waits.
public protocol AgentClock: DomainClock {
    func pause(seconds: Double)
}

extension SystemClock: AgentClock {
    public func pause(seconds: Double) { usleep(UInt32(max(0, min(seconds, 60)) * 1_000_000)) }
}

/// What the agent takes from outside, and tests replace: the clock, the way to the server,
/// the crash points, where it logs, and where it reads what the device is.
public struct AgentEnvironment {
    public var clock: any AgentClock
    /// How to reach the server; nil: over HTTP as the config says.
    public var connector: (any DeviceConnector)?
    public var crash: CrashInjection
    public var logger: Logger
    /// Where the device's architecture, CPU features and memory are read.
    public var inventoryProbe: InventoryProbe

    public init(clock: any AgentClock = SystemClock(), connector: (any DeviceConnector)? = nil, crash: CrashInjection = .none,
                logger: Logger = .readable("ota-agent"), inventoryProbe: InventoryProbe = .system) {
        self.clock = clock
        self.connector = connector
        self.crash = crash
        self.logger = logger
        self.inventoryProbe = inventoryProbe
    }

    /// The production environment, logging only errors when `quiet`.
    public static func system(quiet: Bool = false) -> AgentEnvironment {
        AgentEnvironment(logger: .readable("ota-agent", level: quiet ? .error : .info))
    }
}
