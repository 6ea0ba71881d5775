import OTACore

/// Everything `ota-server serve` can be told.
public struct ServerConfiguration: Sendable {
    /// Folder holding `registry.sqlite` and the local content store (or the upload spool).
    public var dataDirectory: String
    public var host: String
    public var port: Int
    /// Trust root that published bundles must satisfy.
    public var trustRootPath: String
    public var tlsCertificatePath: String?
    public var tlsKeyPath: String?
    /// How often devices are told to check in.
    public var pollIntervalSeconds: Int
    /// Largest accepted content upload.
    public var maximumContentSize: UInt64
    /// How often batched check-in writes reach the database.
    public var flushIntervalMilliseconds: Int
    /// A connection is closed when idle this long, when a request head takes longer to
    /// arrive, or when a request body brings less than 1 KiB in this long.
    public var requestTimeoutSeconds: Int
    /// Connections served at once; more wait in the listen backlog.
    public var maximumConnections: Int
    /// Whether devices registered before device keys may still use their bearer tokens (the
    /// transition; each binds a key at its next contact). The operator ends it.
    public var legacyDeviceTokens: Bool
    /// Registrations admitted per minute, across all enrollment tokens.
    public var registrationsPerMinute: Int
    /// Whether GET /metrics needs a viewer token.
    public var metricsNeedToken: Bool
    /// Private keys of the online roles (snapshot, timestamp, check-in answers); a TUF root needs one.
    public var onlineKeyPaths: [String] = []
    /// How long a timestamp the server signs is valid; it renews it at half that.
    public var timestampLifetimeSeconds: Int = 86_400
    /// The registry's database; SQLite at `databasePath` unless set.
    public var database: DatabaseSetting?
    /// How long a database write waits for another writer before its request is answered 503.
    public var databaseBusyTimeoutSeconds: Double = 10
    /// Where content blobs are kept.
    public var content: ContentStoreSetting = .local
    /// Load balancers whose `X-Forwarded-For` names the client (per-address limits).
    public var trustedProxies: [IPNetwork] = []
    /// Failed registrations and session requests an address may make a minute.
    public var failedAttemptsPerMinute = 30
    /// Per-device quotas (`DeviceQuotas`); nil turns them off.
    public var deviceQuotas: [DeviceQuotas.Kind: DeviceQuotas.Bucket]?
    /// Events and model figures older than this are pruned (nil keeps them).
    public var eventRetentionSeconds: Int64? = 90 * 86_400
    /// How often the change feed is read whatever happens; nil: every 5 s on PostgreSQL
    /// (whose notifications wake the reader at once), twice a second on SQLite.
    public var changePollMilliseconds: Int?
    /// The hawkBit DDI API for devices that keep their own update client.
    public var ddi = DDISettings()

    public init(dataDirectory: String, host: String = "127.0.0.1", port: Int = 8080, trustRootPath: String,
                tlsCertificatePath: String? = nil, tlsKeyPath: String? = nil, pollIntervalSeconds: Int = 60,
                maximumContentSize: UInt64 = 64 << 30, flushIntervalMilliseconds: Int = 500,
                requestTimeoutSeconds: Int = 30, maximumConnections: Int = 4096, legacyDeviceTokens: Bool = true,
                registrationsPerMinute: Int = 600, metricsNeedToken: Bool = false) {
        self.legacyDeviceTokens = legacyDeviceTokens
        self.registrationsPerMinute = registrationsPerMinute
        self.metricsNeedToken = metricsNeedToken
        self.dataDirectory = dataDirectory
        self.host = host
        self.port = port
        self.trustRootPath = trustRootPath
        self.tlsCertificatePath = tlsCertificatePath
        self.tlsKeyPath = tlsKeyPath
        self.pollIntervalSeconds = pollIntervalSeconds
        self.maximumContentSize = maximumContentSize
        self.flushIntervalMilliseconds = flushIntervalMilliseconds
        self.requestTimeoutSeconds = requestTimeoutSeconds
        self.maximumConnections = maximumConnections
        deviceQuotas = DeviceQuotas.defaults(pollInterval: pollIntervalSeconds)
    }

    public var databasePath: String { dataDirectory + "/registry.sqlite" }
    var databaseSetting: DatabaseSetting { database ?? .sqlite(path: databasePath) }
}
