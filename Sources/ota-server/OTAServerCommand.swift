import ArgumentParser
import Foundation
import Logging
import OTACore
import OTAServer

@main
struct OTAServerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ota-server",
        abstract: "The fleet registry: devices, bundles, deployments and content, over HTTP.",
        discussion: """
        Start it:
          ota-server token create --data /var/lib/ota --role admin --name me
          ota-server serve --data /var/lib/ota --listen 127.0.0.1:8080 \\
              --trust keys/trust.json --online-key keys/online.key

        The API is described at /openapi.yaml; /healthz answers liveness; /metrics serves Prometheus metrics. SIGTERM or SIGINT drains requests in flight and exits.
        """,
        subcommands: [Serve.self, TokenCommand.self, MigrateTo.self]
    )
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the server.")

    @Option(help: ArgumentHelp("Folder for the database and content (created if missing).", valueName: "dir"))
    var data: String

    @Option(help: ArgumentHelp("Address to listen on; port 0 picks a free one.", valueName: "host:port"))
    var listen = "127.0.0.1:8080"

    @Option(help: ArgumentHelp("""
        The registry's database: DATA/registry.sqlite by default, another SQLite file, or postgres://USER@HOST:PORT/DATABASE[?sslmode=require&pool=8&connect_timeout=5] for PostgreSQL, which several instances can share (the password from PGPASSWORD).
        """, valueName: "path|url"))
    var database: String?

    @Option(help: ArgumentHelp("Trust root: TUF root metadata (otactl trust create), or a legacy trust root. Published bundles must be signed by its release keys.", valueName: "root.json"))
    var trust: String

    @Option(help: ArgumentHelp("Private key of the online roles the root names (snapshot, timestamp, check-in answers); needed with a TUF root. Repeat while rotating it.", valueName: "file"))
    var onlineKey: [String] = []

    @Option(help: ArgumentHelp("How long each timestamp the server signs is valid (renewed at half). Devices see a server that stops renewing as stale trust within this time.", valueName: "duration"))
    var timestampLifetime = "1d"

    @Option(help: ArgumentHelp("TLS certificate chain (PEM); with --tls-key serves HTTPS.", valueName: "file"))
    var tlsCert: String?

    @Option(help: ArgumentHelp("TLS private key (PEM).", valueName: "file"))
    var tlsKey: String?

    @Option(help: "Seconds between device check-ins.")
    var pollInterval = 60

    @Option(help: "Largest content upload, in MiB.")
    var maxContentMib = 65_536

    @Option(help: ArgumentHelp("""
        The deadline for a request head (from the connection opening or the previous answer, TLS included), and the fixed part of a body's deadline (plus its declared size at 16 KiB/s); an answer that makes no progress to the client this long is dropped.
        """, valueName: "seconds"))
    var requestTimeout = 30

    @Option(help: "Connections served at once; further ones wait in the listen backlog. Connections that have not yet authenticated hold at most half of them.")
    var maxConnections = 4096

    @Option(help: ArgumentHelp("A load balancer (address or CIDR block) whose X-Forwarded-For names the client, for per-address limits. Repeat for more.", valueName: "cidr"))
    var trustedProxy: [String] = []

    @Option(help: "Failed registrations and session requests one address (an IPv6 /64) may make per minute before it is refused for the rest of the minute.")
    var failedAttemptsPerMinute = 30

    @Option(help: ArgumentHelp("""
        Change a per-device quota: NAME=BURST:PER_INTERVAL, NAME one of checkins, events, event-bytes, metrics (BURST at once, refilled by PER_INTERVAL every poll interval); or 'off' for none. Defaults: checkins=30:10, events=1000:100, event-bytes=1048576:104857, metrics=10:1. Repeat for more.
        """, valueName: "quota"))
    var deviceQuota: [String] = []

    @Option(help: ArgumentHelp("Prune events and model figures older than this (figures a live rollout's gates read are kept), e.g. 90d; 'forever' keeps them.", valueName: "duration"))
    var eventRetention = "90d"

    @Option(help: ArgumentHelp("Whether devices registered before device keys may still use their bearer tokens: accept (the transition; each binds a key at its next contact) or refuse.", valueName: "accept|refuse"))
    var legacyDeviceTokens = "accept"

    @Option(help: "Device registrations admitted per minute, across all enrollment tokens.")
    var registrationsPerMinute = 600

    @Flag(help: "Require a viewer token for GET /metrics.")
    var metricsNeedToken = false

    @Option(help: ArgumentHelp("How long a database write waits for another writer's lock; after that its request is answered 503 with Retry-After.", valueName: "seconds"))
    var databaseTimeout = 10.0

    @Option(help: ArgumentHelp("How often this instance reads the change feed whatever happens (other instances' changes reach it at once through PostgreSQL's notifications; this is the fallback). Default: 5 on PostgreSQL, 0.5 on SQLite.", valueName: "seconds"))
    var changePoll: Double?

    @Option(help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel = "info"

    @OptionGroup(title: "Content store")
    var content: ContentStoreOptions

    @OptionGroup(title: "hawkBit DDI (devices that keep SWUpdate or RAUC)")
    var ddi: DDIOptions

    func validate() throws {
        guard (tlsCert == nil) == (tlsKey == nil) else { throw ValidationError("give both --tls-cert and --tls-key, or neither") }
        guard (1...86_400).contains(pollInterval) else { throw ValidationError("--poll-interval must be 1 to 86400 seconds") }
        guard (1...3600).contains(requestTimeout) else { throw ValidationError("--request-timeout must be 1 to 3600 seconds") }
        guard (1...1_000_000).contains(maxConnections) else { throw ValidationError("--max-connections must be 1 to 1000000") }
        guard ["accept", "refuse"].contains(legacyDeviceTokens) else { throw ValidationError("--legacy-device-tokens must be accept or refuse") }
        guard (1...1_000_000).contains(registrationsPerMinute) else { throw ValidationError("--registrations-per-minute must be 1 to 1000000") }
        guard databaseTimeout >= 0.1, databaseTimeout <= 600 else { throw ValidationError("--database-timeout must be 0.1 to 600 seconds") }
        if let changePoll, !(0.1...3600).contains(changePoll) { throw ValidationError("--change-poll must be 0.1 to 3600 seconds") }
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("unknown --log-level \(logLevel)") }
        guard (1...100_000).contains(failedAttemptsPerMinute) else { throw ValidationError("--failed-attempts-per-minute must be 1 to 100000") }
        for proxy in trustedProxy where IPNetwork(proxy) == nil {
            throw ValidationError("--trusted-proxy '\(proxy)' is not an address or a CIDR block like 10.0.0.0/8 or fd00::/8")
        }
        _ = try quotas()
        _ = try retention()
        _ = try ListenAddress(listen)
    }

    func run() async throws {
        let address = try ListenAddress(listen)
        var configured = Logger(label: "ota-server") { StreamLogHandler.standardError(label: $0) }
        configured.logLevel = Logger.Level(rawValue: logLevel) ?? .info
        let logger = configured
        var configuration = ServerConfiguration(
            dataDirectory: data, host: address.host, port: address.port, trustRootPath: trust, tlsCertificatePath: tlsCert,
            tlsKeyPath: tlsKey, pollIntervalSeconds: pollInterval, maximumContentSize: UInt64(maxContentMib) << 20,
            requestTimeoutSeconds: requestTimeout, maximumConnections: maxConnections, legacyDeviceTokens: legacyDeviceTokens == "accept",
            registrationsPerMinute: registrationsPerMinute, metricsNeedToken: metricsNeedToken)
        configuration.onlineKeyPaths = onlineKey
        guard let lifetime = DurationText.seconds(timestampLifetime), lifetime >= 60 else {
            throw ValidationError("--timestamp-lifetime must be a duration of at least 60s, like 1d or 6h")
        }
        configuration.timestampLifetimeSeconds = lifetime
        configuration.content = try content.setting()
        configuration.ddi = try ddi.settings()
        configuration.databaseBusyTimeoutSeconds = databaseTimeout
        configuration.changePollMilliseconds = changePoll.map { Int($0 * 1000) }
        configuration.trustedProxies = trustedProxy.compactMap(IPNetwork.init)
        configuration.failedAttemptsPerMinute = failedAttemptsPerMinute
        configuration.deviceQuotas = try quotas()
        configuration.eventRetentionSeconds = try retention()
        do { configuration.database = try DatabaseSetting.parse(database, dataDirectory: data, environment: ProcessInfo.processInfo.environment) } catch {
            throw ValidationError("--database: \(error)")
        }
        do {
            try await ServerApplication.run(configuration, logger: logger) { url in
                // One line on stdout, flushed, so that scripts and tests know where it listens.
                FileHandle.standardOutput.write(Data("ota-server listening on \(url)\n".utf8))
                logger.info("listening", metadata: ["url": "\(url)", "data": "\(data)"])
            }
        } catch {
            FileHandle.standardError.write(Data("ota-server: error: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }
}

extension Serve {
    /// `--device-quota` on top of the defaults for the poll interval.
    func quotas() throws -> [DeviceQuotas.Kind: DeviceQuotas.Bucket]? {
        if deviceQuota == ["off"] { return nil }
        var buckets = DeviceQuotas.defaults(pollInterval: pollInterval)
        for text in deviceQuota {
            let parts = text.split(separator: "=", maxSplits: 1).map(String.init)
            let numbers = parts.count == 2 ? parts[1].split(separator: ":").compactMap { Double($0) } : []
            guard parts.count == 2, let kind = DeviceQuotas.Kind.allCases.first(where: { $0.optionName == parts[0] }), numbers.count == 2,
                  numbers.allSatisfy({ $0 > 0 && $0 <= 1e12 }) else {
                throw ValidationError("--device-quota '\(text)': write NAME=BURST:PER_INTERVAL with NAME checkins, events, event-bytes or metrics (or 'off' alone)")
            }
            buckets[kind] = DeviceQuotas.Bucket(capacity: numbers[0], rate: numbers[1] / Double(pollInterval))
        }
        return buckets
    }

    func retention() throws -> Int64? {
        if eventRetention == "forever" { return nil }
        guard let seconds = DurationText.seconds(eventRetention), seconds >= 3600 else {
            throw ValidationError("--event-retention must be a duration of at least 1h, like 90d, or 'forever'")
        }
        return Int64(seconds)
    }
}

struct ListenAddress {
    let host: String
    let port: Int

    init(_ text: String) throws {
        var hostPart: Substring
        let portPart: Substring
        if text.hasPrefix("["), let close = text.firstIndex(of: "]") {
            hostPart = text[text.index(after: text.startIndex)..<close]
            portPart = text[close...].dropFirst(2)
        } else if let colon = text.lastIndex(of: ":") {
            hostPart = text[..<colon]
            portPart = text[text.index(after: colon)...]
        } else {
            throw ValidationError("--listen must be host:port, e.g. 127.0.0.1:8080 or [::1]:8080")
        }
        if hostPart.isEmpty { hostPart = "0.0.0.0" }
        guard let port = Int(portPart), (0...65_535).contains(port) else { throw ValidationError("--listen has an invalid port in '\(text)'") }
        host = String(hostPart)
        self.port = port
    }
}

struct TokenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "token",
        abstract: "Create, list and revoke admin-API tokens (run on the server host).",
        discussion: """
        Roles: viewer (read), publisher (+ upload and publish bundles), operator (+ deployments, devices, enrollment tokens), admin (everything, including the audit log). Only a hash of each token is stored: copy it when it is shown.
        """,
        subcommands: [Create.self, List.self, Revoke.self]
    )

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a token and print it once.")
        @Option(help: ArgumentHelp("The server's data folder.", valueName: "dir")) var data: String
        @Option(help: ArgumentHelp("The server's --database, if it has one (a postgres:// URL or a SQLite file).", valueName: "path|url")) var database: String?
        @Option(help: "viewer, publisher, operator or admin.") var role: String
        @Option(help: "Who or what the token is for (shown in the audit log).") var name = "token"
        @Option(help: ArgumentHelp("Lifetime, e.g. 12h or 90d; without it the token lasts until revoked.", valueName: "duration"))
        var expiresIn: String?
        @Flag(help: "Print the result as JSON.") var json = false

        func validate() throws {
            if let expiresIn, (DurationText.seconds(expiresIn) ?? 0) < 1 {
                throw ValidationError("--expires-in must be a duration like 12h or 90d")
            }
        }

        func run() async throws {
            guard let role = AdminAPI.Role(rawValue: role) else {
                throw ValidationError("--role must be viewer, publisher, operator or admin")
            }
            let expires = expiresIn.flatMap(DurationText.seconds)
            let (id, secret) = try await TokenAdministration.withStore(data, database: database, environment: ProcessInfo.processInfo.environment) {
                try await $0.createAdminToken(role: role, name: name, expiresInSeconds: expires)
            }
            if json {
                print(String(decoding: try StrictJSON.encode(["id": id.rawValue, "role": role.rawValue, "name": name, "token": secret]), as: UTF8.self))
            } else {
                print(secret)
                FileHandle.standardError.write(Data("created \(role.rawValue) token \(id) (\(name)); it is shown only this once\n".utf8))
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List tokens (never their secrets).")
        @Option(help: ArgumentHelp("The server's data folder.", valueName: "dir")) var data: String
        @Option(help: ArgumentHelp("The server's --database, if it has one.", valueName: "path|url")) var database: String?

        func run() async throws {
            let tokens = try await TokenAdministration.withStore(data, database: database, environment: ProcessInfo.processInfo.environment) {
                try await $0.listAdminTokens()
            }
            print("ID               ROLE       REVOKED  CREATED               NAME")
            for token in tokens {
                print("\(token.id.rawValue.padding(toLength: 16, withPad: " ", startingAt: 0)) \(token.role.rawValue.padding(toLength: 10, withPad: " ", startingAt: 0)) \((token.revoked ? "yes" : "no").padding(toLength: 8, withPad: " ", startingAt: 0)) \(token.createdAt)  \(token.name)")
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a token by id.")
        @Option(help: ArgumentHelp("The server's data folder.", valueName: "dir")) var data: String
        @Option(help: ArgumentHelp("The server's --database, if it has one.", valueName: "path|url")) var database: String?
        @Argument(help: "Token id (tok_…).") var id: String

        func validate() throws {
            guard TokenID(rawValue: id) != nil else { throw ValidationError("'\(id.prefix(64))' is not a token id (tok_…)") }
        }

        func run() async throws {
            let id = TokenID(checked: id)
            guard try await TokenAdministration.withStore(data, database: database, environment: ProcessInfo.processInfo.environment, {
                try await $0.revokeAdminToken(id: id)
            }) else {
                FileHandle.standardError.write(Data("ota-server: error: no active token \(id)\n".utf8))
                throw ExitCode(1)
            }
            print("revoked \(id)")
        }
    }
}
