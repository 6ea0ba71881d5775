import OTACore

/// The agent's configuration file (JSON); every key is described in docs/agent.md, "Configuration".
public struct AgentConfig: Codable, Equatable, Sendable {
    /// https://… (http only with `allow_insecure_http`).
    public var serverURL: String
    public var deviceID: DeviceID
    /// Hardware class, matched against a bundle's `compatible` list.
    public var hardware: HardwareClass
    /// Used once, to register (never sent again afterwards); not needed by a device an
    /// operator pre-authorised with its key.
    public var enrollmentToken: String?
    /// This device's Ed25519 private key (PKCS#8 PEM), when provisioned outside the state
    /// folder; by default the agent makes STATE/device.key on first start.
    public var deviceKey: String?
    /// The trust root every bundle must satisfy.
    public var trustRoot: String
    public var stateDir: String
    public var caFile: String?
    public var allowInsecureHTTP: Bool?
    /// Poll interval until the server says otherwise.
    public var pollIntervalSeconds: Int?
    /// Run after a model swap (and after a swap back), e.g. ["systemctl", "reload", "inference"].
    public var reloadCommand: [String]?
    /// Decides whether the new version works: exit 0 means healthy.
    public var healthCommand: [String]?
    public var healthTimeoutSeconds: Int?
    /// Tells the application to run (OTA_SHADOW_ACTION=start) or stop running a candidate
    /// model beside the live one; without it this device takes no deployment with a shadow
    /// phase. See docs/agent.md, "Shadow phase and live figures".
    public var shadowCommand: [String]?
    /// Writes the live model's figures to OTA_METRICS_REPORT, every `metrics_interval_s`.
    public var metricsCommand: [String]?
    public var metricsIntervalSeconds: Int?
    /// The release channel this device follows (default stable): it installs only bundles the
    /// release metadata lists for it. Set on the device, so a server cannot move it.
    public var channel: Channel?
    /// Whether a bundle's own `health.command` self-test may run on this device.
    public var allowBundleHealthCheck: Bool?
    /// The unprivileged user a bundle self-test runs as when the agent is root (default nobody).
    public var bundleHealthUser: String?
    /// An update older than this ends: abandoned before activation, rolled back after.
    public var maxUpdateAgeSeconds: Int?
    /// Install handlers by bundle kind (e.g. "firmware": "/usr/lib/ota/handlers/firmware").
    public var handlers: [String: String]?
    /// Run when a handler asks for a reboot, e.g. ["systemctl", "reboot"].
    public var rebootCommand: [String]?
    public var maxDownloadBytesPerSecond: Int64?
    /// A transfer below 1 KiB/s for this long is cut and resumed later (default 60).
    public var stallTimeoutSeconds: Int?
    /// The longest a check-in or report may take in all (default 120).
    public var requestTimeoutSeconds: Int?
    public var attributes: [String: String]?
    /// Prints what the device has beyond what the agent reads itself (accelerators, runtimes;
    /// it may also override the architecture, CPU features and memory) as the JSON of a
    /// device inventory. See docs/agent.md, "Inventory".
    public var inventoryCommand: [String]?
    public var inventoryTimeoutSeconds: Int?
    /// How often the inventory is read again (it is sent only when it changed).
    public var inventoryIntervalSeconds: Int?
    /// Hosts (`host` or `host:port`) content downloads may be redirected to, besides those the
    /// server names in its signed answers (a CDN or object store in front of it).
    public var contentHosts: [String]?
    /// Ignored: a device no longer chooses its tags (its enrollment token or an operator
    /// does). Kept so that older configs still load.
    public var tags: [Tag]?

    enum CodingKeys: String, CodingKey {
        case serverURL = "server_url", deviceID = "device_id", hardware
        case enrollmentToken = "enrollment_token", deviceKey = "device_key", trustRoot = "trust_root", stateDir = "state_dir", caFile = "ca_file"
        case allowInsecureHTTP = "allow_insecure_http", pollIntervalSeconds = "poll_interval_s"
        case reloadCommand = "reload_command", healthCommand = "health_command", healthTimeoutSeconds = "health_timeout_s"
        case shadowCommand = "shadow_command", metricsCommand = "metrics_command", metricsIntervalSeconds = "metrics_interval_s", channel
        case allowBundleHealthCheck = "allow_bundle_health_check", bundleHealthUser = "bundle_health_user"
        case maxUpdateAgeSeconds = "max_update_age_s", handlers, rebootCommand = "reboot_command"
        case maxDownloadBytesPerSecond = "max_download_bytes_per_s", attributes, tags
        case stallTimeoutSeconds = "stall_timeout_s", requestTimeoutSeconds = "request_timeout_s", contentHosts = "content_hosts"
        case inventoryCommand = "inventory_command", inventoryTimeoutSeconds = "inventory_timeout_s"
        case inventoryIntervalSeconds = "inventory_interval_s"
    }

    public struct Invalid: Error, CustomStringConvertible {
        public let description: String
    }

    /// Loads and checks a config file; relative paths in it are taken from the file's folder.
    public static func load(from path: String) throws -> AgentConfig {
        let bytes: [UInt8]
        do { bytes = try FileSystem.readFile(path, limit: 1 << 20) } catch {
            throw Invalid(description: "cannot read the config: \(error)")
        }
        var config: AgentConfig
        do { config = try StrictJSON.decodeRejectingUnknownFields(AgentConfig.self, from: bytes, what: "config \(path)") } catch {
            throw Invalid(description: String(describing: error))
        }
        let base = FileSystem.parent(of: FileSystem.absolute(path))
        func resolve(_ value: String) -> String { value.hasPrefix("/") ? value : base + "/" + value }
        config.trustRoot = resolve(config.trustRoot)
        config.stateDir = resolve(config.stateDir)
        config.caFile = config.caFile.map(resolve)
        config.deviceKey = config.deviceKey.map(resolve)
        config.handlers = config.handlers?.mapValues(resolve)
        if let problem = config.problem { throw Invalid(description: "config \(path): \(problem)") }
        return config
    }

    var problem: String? {
        let url = serverURL.lowercased()
        if !url.hasPrefix("https://") && !url.hasPrefix("http://") { return "server_url must start with https://" }
        if url.hasPrefix("http://") && allowInsecureHTTP != true {
            return "server_url is plain http; use https, or set allow_insecure_http for local development"
        }
        if let interval = pollIntervalSeconds, !(1...86_400).contains(interval) { return "poll_interval_s must be 1 to 86400" }
        if let timeout = healthTimeoutSeconds, !(1...86_400).contains(timeout) { return "health_timeout_s must be 1 to 86400" }
        if let stall = stallTimeoutSeconds, !(1...3600).contains(stall) { return "stall_timeout_s must be 1 to 3600" }
        if let timeout = requestTimeoutSeconds, !(1...3600).contains(timeout) { return "request_timeout_s must be 1 to 3600" }
        if let age = maxUpdateAgeSeconds, !(60...(90 * 86_400)).contains(age) { return "max_update_age_s must be 60 to 7776000 (90 days)" }
        if let user = bundleHealthUser, user.isEmpty || user.utf8.count > 64 || user.contains(where: { $0 == "/" || $0 == ":" }) {
            return "bundle_health_user must be a user name"
        }
        if let interval = metricsIntervalSeconds, !(10...86_400).contains(interval) { return "metrics_interval_s must be 10 to 86400" }
        if let timeout = inventoryTimeoutSeconds, !(1...300).contains(timeout) { return "inventory_timeout_s must be 1 to 300" }
        if let interval = inventoryIntervalSeconds, !(60...86_400).contains(interval) { return "inventory_interval_s must be 60 to 86400" }
        for command in [reloadCommand, healthCommand, rebootCommand, shadowCommand, metricsCommand, inventoryCommand].compactMap({ $0 }) where command.isEmpty {
            return "a command must name a program: [\"/path/to/program\", \"arg\", ...]"
        }
        for (kind, _) in handlers ?? [:] {
            let parsed: BundleKind
            do { parsed = try BundleKind(kind) } catch { return "handlers: \(error)" }
            if parsed.isModel { return "kind '\(kind)' is built in; it cannot have a handler" }
        }
        if let speed = maxDownloadBytesPerSecond, speed < 1024 { return "max_download_bytes_per_s must be at least 1024" }
        if let hosts = contentHosts, hosts.count > 64 || hosts.contains(where: { !ContentHost.isValid($0) }) {
            return "content_hosts: at most 64, each a lower-case host or host:port (no scheme, no path)"
        }
        return nil
    }

    var healthTimeout: Int { healthTimeoutSeconds ?? 60 }
    var defaultPollInterval: Int { pollIntervalSeconds ?? 60 }
    var metricsInterval: Int64 { Int64(metricsIntervalSeconds ?? 300) }
    var inventoryTimeout: Int { inventoryTimeoutSeconds ?? 10 }
    var inventoryInterval: Int64 { Int64(inventoryIntervalSeconds ?? 3600) }
    /// Three days: room for a large model over a slow link, short of wedging a device.
    var maxUpdateAge: Int64 { Int64(maxUpdateAgeSeconds ?? 3 * 86_400) }
}
