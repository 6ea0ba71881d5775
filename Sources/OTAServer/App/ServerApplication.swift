import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import NIOCore
import NIOSSL
import OTACore

/// Builds and runs `ota-server`: opens the database (migrating it), loads the trust root and
/// the fleet state, wires the routes, and serves until SIGTERM or SIGINT.
public enum ServerApplication {
    public enum StartError: Error, CustomStringConvertible {
        case trust(String)
        case tls(String)
        case content(String)
        case database(String, String)

        public var description: String {
            switch self {
            case .trust(let reason): return "cannot use the trust root: \(reason)"
            case .tls(let reason): return "cannot set up TLS: \(reason)"
            case .content(let reason): return "cannot use the content store: \(reason)"
            case .database(let which, let reason): return "cannot use the database (\(which)): \(reason)"
            }
        }
    }

    /// Runs the server. `onListening` gets the bound address (useful with port 0).
    public static func run(_ configuration: ServerConfiguration, logger: Logger,
                           onListening: @escaping @Sendable (String) -> Void = { _ in }) async throws {
        let services = try await services(configuration, logger: logger, clock: SystemClock())
        do {
            try await application(services, onListening: onListening).runService()
        } catch {
            await services.db.close()
            throw error
        }
        await services.db.close()
    }

    /// Opens the database (migrating it), loads the trust root, the content store and the
    /// fleet state: everything the routes and the background services work with.
    static func services(_ configuration: ServerConfiguration, logger: Logger, clock: any DomainClock) async throws -> ServerServices {
        let anchor: TrustAnchor
        let onlineKeys: [Ed25519PrivateKey]
        do {
            anchor = try TrustAnchor.load(from: configuration.trustRootPath)
            onlineKeys = try configuration.onlineKeyPaths.map { path in
                do { return try KeyFiles.loadPrivateKey(path) } catch { throw TrustSetupError("cannot load the online key \(path): \(error)") }
            }
        } catch { throw StartError.trust(String(describing: error)) }
        try FileSystem.createDirectory(configuration.dataDirectory, permissions: 0o700)
        let db: any SQLDatabase
        do {
            db = try await configuration.databaseSetting.open(busyTimeout: configuration.databaseBusyTimeoutSeconds, logger: logger)
        } catch {
            throw StartError.database(configuration.databaseSetting.description, String(describing: error))
        }
        do {
            return try await services(configuration, db: db, anchor: anchor, onlineKeys: onlineKeys, logger: logger, clock: clock)
        } catch {
            await db.close()
            throw error
        }
    }

    private static func services(_ configuration: ServerConfiguration, db: any SQLDatabase, anchor: TrustAnchor, onlineKeys: [Ed25519PrivateKey],
                                 logger: Logger, clock: any DomainClock) async throws -> ServerServices {
        let trust: TrustRepository
        do {
            trust = try await TrustRepository.open(anchor: anchor, onlineKeys: onlineKeys,
                                                   lifetimes: .init(timestampSeconds: Int64(configuration.timestampLifetimeSeconds)), db: db)
        } catch { throw StartError.trust(String(describing: error)) }
        let content: any ContentStore
        do { content = try await configuration.content.open(dataDirectory: configuration.dataDirectory) } catch {
            throw StartError.content(String(describing: error))
        }
        try content.removeIncompleteUploads()
        // Devices refuse a content host they cannot parse: better to say so now than to have
        // every download on the fleet refused later.
        if let bad = content.redirectHosts.first(where: { !ContentHost.isValid($0) }) {
            throw StartError.content("the object store's address gives the content host \"\(bad.prefix(80))\", which devices cannot accept (a lower-case DNS name or IP address, optionally :port)")
        }

        let metrics = ServerMetrics()
        let devices = DeviceStore(db: db)
        let deployments = DeploymentStore(db: db, clock: clock)
        let bundles = BundleStore(db: db)
        let events = EventStore(db: db)
        let fleet = try Fleet(stores: .init(devices: devices, deployments: deployments, bundles: bundles, events: events), db: db,
                              metrics: metrics, pollIntervalSeconds: configuration.pollIntervalSeconds, logger: logger, trust: trust,
                              contentHosts: content.redirectHosts, clock: clock)
        try await fleet.load()
        let connections = ConnectionGate(maximumConnections: configuration.maximumConnections, onEvict: { metrics.connectionsDropped.increment() })
        let services = ServerServices(
            configuration: configuration, db: db, trust: trust, tokens: TokenStore(db: db), devices: devices, bundles: bundles,
            deployments: deployments, events: events, quality: QualityStore(db: db), content: content, fleet: fleet, metrics: metrics,
            logger: logger, sessions: try DeviceSessions(secret: try await DeviceSessions.loadSecret(db)),
            registrations: RegistrationLimiter(perMinute: configuration.registrationsPerMinute), connections: connections,
            quotas: configuration.deviceQuotas.map { DeviceQuotas(buckets: $0) },
            failures: FailureLimiter(perMinute: configuration.failedAttemptsPerMinute), clock: clock)
        return services
    }

    /// The routes, behind the JSON error answers, with 405 for a known path's other methods.
    static func router(_ services: ServerServices) -> MethodCheckingRouter<ServerRequestContext> {
        let router = Router(context: ServerRequestContext.self)
        router.add(middleware: LogRequestsMiddleware(.debug))
        router.add(middleware: JSONErrorMiddleware(logger: services.logger))
        ServerRoutes.register(on: router, services)
        return MethodCheckingRouter(router: router)
    }

    /// The HTTP server and the background services around the routes.
    static func application(_ services: ServerServices, onListening: @escaping @Sendable (String) -> Void = { _ in }) throws -> some ApplicationProtocol {
        let configuration = services.configuration
        let logger = services.logger
        let metrics = services.metrics
        let fleet = services.fleet
        let trust = services.trust
        let db = services.db
        let events = services.events
        // Deadlines for slow or stalled clients, and a cap on the slots of connections that
        // have not authenticated (see ConnectionGuard and ConnectionGate), so that strangers
        // cannot hold the server.
        let timeout = TimeAmount.seconds(Int64(configuration.requestTimeoutSeconds))
        let gate = services.connections
        let http1 = HTTPServerBuilder.http1(configuration: .init(
            additionalChannelHandlers: [ConnectionGuard(timeout: timeout, gate: gate, onDrop: { metrics.connectionsDropped.increment() })],
            idleTimeout: timeout))
        let server: HTTPServerBuilder
        let scheme: String
        if let certificate = configuration.tlsCertificatePath, let key = configuration.tlsKeyPath {
            do {
                let chain = try NIOSSLCertificate.fromPEMFile(certificate).map { NIOSSLCertificateSource.certificate($0) }
                var tls = TLSConfiguration.makeServerConfiguration(certificateChain: chain, privateKey: .privateKey(try NIOSSLPrivateKey(file: key, format: .pem)))
                tls.minimumTLSVersion = .tlsv12
                server = try .tls(http1, tlsConfiguration: tls)
            } catch { throw StartError.tls(String(describing: error)) }
            scheme = "https"
        } else {
            server = http1
            scheme = "http"
        }
        let host = configuration.host
        let app = Application(
            router: router(services),
            server: server,
            configuration: .init(address: .hostname(host, port: configuration.port), serverName: "ota-server", backlog: 1024,
                                 availableConnectionsDelegate: MaximumAvailableConnections(configuration.maximumConnections, logger: logger)),
            services: [FleetService(fleet: fleet, events: events, flushIntervalMilliseconds: configuration.flushIntervalMilliseconds, db: db,
                                    logger: logger, retentionSeconds: configuration.eventRetentionSeconds),
                       ChangeFeedService(coherence: fleet.coherence, notifications: db.changeNotifications(),
                                         pollInterval: .milliseconds(configuration.changePollMilliseconds ?? (db.dialect == .postgres ? 5000 : 500)),
                                         logger: logger),
                       TrustRenewalService(trust: trust, db: db, logger: logger)],
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? configuration.port
                let shownHost = host.contains(":") ? "[\(host)]" : host
                onListening("\(scheme)://\(shownHost):\(port)")
            },
            logger: logger
        )
        return app
    }
}
