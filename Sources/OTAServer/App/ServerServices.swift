import Hummingbird
import Logging
import OTACore

/// The server's parts, built once at start: stores over the database, the fleet's services
/// around their cache, and the limits strangers meet. Controllers take from it only what
/// they use (`ServerRoutes`).
struct ServerServices: Sendable {
    let configuration: ServerConfiguration
    let db: any SQLDatabase
    let trust: TrustRepository
    let tokens: TokenStore
    let devices: DeviceStore
    let bundles: BundleStore
    let deployments: DeploymentStore
    let events: EventStore
    let quality: QualityStore
    let content: any ContentStore
    let fleet: Fleet
    let metrics: ServerMetrics
    let logger: Logger
    let sessions: DeviceSessions
    let registrations: RegistrationLimiter
    let connections: ConnectionGate
    /// Per-device quotas; nil when the operator turned them off.
    let quotas: DeviceQuotas?
    let failures: FailureLimiter
    let clock: any DomainClock
}

/// Every route of the API, by controller, and how each is put behind the auth its access
/// asks for. `table` is what the OpenAPI test compares with openapi.yaml.
enum ServerRoutes {
    static var table: [RouteInfo] {
        SystemController.routes.map(\.info) + DeviceEnrollmentController.anonymousRoutes.map(\.info)
            + DeviceEnrollmentController.deviceRoutes.map(\.info) + CheckinController.routes.map(\.info) + ContentController.routes.map(\.info)
            + PublishingController.routes.map(\.info) + DeploymentController.routes.map(\.info) + DeviceAdminController.routes.map(\.info)
            + FleetAdminController.routes.map(\.info) + TrustController.routes.map(\.info) + DDIController.routes.map(\.info)
    }

    static func register(on router: Router<ServerRequestContext>, _ s: ServerServices) {
        let fleet = s.fleet
        let enrollment = DeviceEnrollmentController(
            devices: s.devices, sessions: s.sessions, registrations: s.registrations, failures: s.failures, connections: s.connections,
            coherence: fleet.coherence, trustedProxies: s.configuration.trustedProxies, db: s.db, metrics: s.metrics, logger: s.logger,
            clock: s.clock)
        let auth = RouteAuth(
            device: DeviceAuthentication(directory: fleet.directory, sessions: s.sessions, legacyDeviceTokens: s.configuration.legacyDeviceTokens,
                                         clock: s.clock),
            ddi: DDIAuthMiddleware(directory: fleet.directory, devices: s.devices, settings: s.configuration.ddi,
                                   scheme: s.configuration.tlsCertificatePath == nil ? "http" : "https", connections: s.connections),
            tokens: s.tokens, connections: s.connections, metricsNeedToken: s.configuration.metricsNeedToken)
        auth.add(SystemController(db: s.db, metrics: s.metrics), SystemController.routes, to: router)
        auth.add(enrollment, DeviceEnrollmentController.anonymousRoutes, to: router)
        auth.add(enrollment, DeviceEnrollmentController.deviceRoutes, to: router)
        auth.add(CheckinController(checkins: fleet.checkins, rollouts: fleet.rollouts, trust: s.trust, quality: s.quality, devices: s.devices,
                                   quotas: s.quotas, metrics: s.metrics, clock: s.clock),
                 CheckinController.routes, to: router)
        auth.add(ContentController(checkins: fleet.checkins, deployments: s.deployments, storedFiles: StoredFiles(content: s.content, bundles: s.bundles),
                                   content: s.content, metrics: s.metrics),
                 ContentController.routes, to: router)
        let storedFiles = StoredFiles(content: s.content, bundles: s.bundles)
        let artifactDigests = ArtifactDigests(store: DDIStore(db: s.db), storedFiles: storedFiles, content: s.content)
        auth.add(PublishingController(bundles: s.bundles, content: s.content, trust: s.trust, artifactDigests: artifactDigests,
                                      maximumContentSize: s.configuration.maximumContentSize, metrics: s.metrics, logger: s.logger),
                 PublishingController.routes, to: router)
        auth.add(DeploymentController(deployments: s.deployments, bundles: s.bundles, trust: s.trust, coherence: fleet.coherence, logger: s.logger),
                 DeploymentController.routes, to: router)
        auth.add(DeviceAdminController(devices: s.devices, writeBehind: fleet.writeBehind, coherence: fleet.coherence, clock: s.clock),
                 DeviceAdminController.routes, to: router)
        auth.add(FleetAdminController(tokens: s.tokens, quality: s.quality, db: s.db), FleetAdminController.routes, to: router)
        auth.add(TrustController(trust: s.trust, devices: s.devices, coherence: fleet.coherence, db: s.db, logger: s.logger, clock: s.clock),
                 TrustController.routes, to: router)
        let ddi = DDIService(checkins: fleet.checkins, rollouts: fleet.rollouts, cache: fleet.cache, store: DDIStore(db: s.db), digests: artifactDigests,
                             devices: s.devices, bundles: s.bundles, storedFiles: storedFiles, trust: s.trust,
                             settings: s.configuration.ddi, pollIntervalSeconds: s.configuration.pollIntervalSeconds, clock: s.clock)
        auth.add(DDIController(ddi: ddi, files: FileResponse(content: s.content, metrics: s.metrics), quotas: s.quotas, metrics: s.metrics, clock: s.clock),
                 DDIController.routes, to: router)
    }
}

/// Puts routes behind their auth: device routes behind `DeviceAuthMiddleware` in a group of
/// `DeviceContext`, admin routes behind `AdminAuthMiddleware` for their role in a group of
/// `AdminContext`, so that a handler can only be reached by the caller its context names.
struct RouteAuth: Sendable {
    let device: DeviceAuthentication
    let ddi: DDIAuthMiddleware
    let tokens: TokenStore
    let connections: ConnectionGate
    let metricsNeedToken: Bool

    func add<C: Sendable>(_ controller: C, _ routes: [Route<C, ServerRequestContext>], to router: Router<ServerRequestContext>) {
        for route in routes {
            let group = router.group()
            if route.access == .metrics { group.add(middleware: MetricsAuthMiddleware(needsToken: metricsNeedToken, tokens: tokens)) }
            let handler = route.handler(controller)
            group.on(RouterPath(route.path), method: route.method) { request, context in try await handler(request, context) }
        }
    }

    func add<C: Sendable>(_ controller: C, _ routes: [Route<C, DeviceContext>], to router: Router<ServerRequestContext>) {
        let group = router.group().add(middleware: DeviceAuthMiddleware(authentication: device, connections: connections))
            .group(context: DeviceContext.self)
        for route in routes {
            let handler = route.handler(controller)
            group.on(RouterPath(route.path), method: route.method) { request, context in try await handler(request, context) }
        }
    }

    func add<C: Sendable>(_ controller: C, _ routes: [Route<C, DDIContext>], to router: Router<ServerRequestContext>) {
        let group = router.group().add(middleware: ddi).group(context: DDIContext.self)
        for route in routes {
            let handler = route.handler(controller)
            group.on(RouterPath(route.path), method: route.method) { request, context in try await handler(request, context) }
        }
    }

    func add<C: Sendable>(_ controller: C, _ routes: [Route<C, AdminContext>], to router: Router<ServerRequestContext>) {
        for route in routes {
            let group = router.group().add(middleware: AdminAuthMiddleware(role: route.role, tokens: tokens, connections: connections))
                .group(context: AdminContext.self)
            let handler = route.handler(controller)
            group.on(RouterPath(route.path), method: route.method) { request, context in try await handler(request, context) }
        }
    }
}
