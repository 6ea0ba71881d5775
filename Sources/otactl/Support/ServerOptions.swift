import ArgumentParser
import Foundation
import OTAClient
import OTACore

/// Where the server is and who we are: flags, or OTA_SERVER / OTA_TOKEN (or OTA_TOKEN_FILE) /
/// OTA_CA_FILE. A token on the command line is visible to every user in `ps`; prefer the
/// environment or a file.
struct ServerOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Server URL (default: $OTA_SERVER).", valueName: "url"))
    var server: String?

    @Option(help: ArgumentHelp("Admin-API token (default: $OTA_TOKEN). Visible in `ps`: prefer --token-file or $OTA_TOKEN.", valueName: "token"))
    var token: String?

    @Option(help: ArgumentHelp("File holding the admin-API token (default: $OTA_TOKEN_FILE).", valueName: "file"))
    var tokenFile: String?

    @Option(help: ArgumentHelp("CA bundle to verify the server's certificate (default: $OTA_CA_FILE or the system's).", valueName: "file"))
    var caFile: String?

    @Flag(help: "Allow plain http to a host other than loopback (development only).")
    var insecureHttp = false

    /// The server's URL: `--server`, or `$OTA_SERVER`.
    func url() throws -> String {
        guard let url = server ?? ProcessInfo.processInfo.environment["OTA_SERVER"], !url.isEmpty else {
            throw Failure("no server given: pass --server URL or set OTA_SERVER")
        }
        return url
    }

    func client() throws -> AdminClient {
        let environment = ProcessInfo.processInfo.environment
        let url = try url()
        var secret = token ?? environment["OTA_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }
        if secret == nil, let file = tokenFile ?? environment["OTA_TOKEN_FILE"] {
            secret = try Failure.wrap("cannot read the token file \(file)") { try FileSystem.readText(file, limit: 4096).trimmed }
        }
        guard let secret, !secret.isEmpty else {
            throw Failure("no token given: set OTA_TOKEN, pass --token-file FILE, or --token TOKEN (create one with `ota-server token create`)")
        }
        let configuration = HTTPClientConfiguration(baseURL: url, caFile: caFile ?? environment["OTA_CA_FILE"],
                                                    allowInsecureHTTP: insecureHttp, allowLoopbackHTTP: true, userAgent: "otactl/1")
        let client = try Failure.wrap("") { try AdminClient(configuration, token: secret) }
        // A server whose database or content store is away for a moment answers 503: wait
        // as it asks, a few times, before giving up (about two minutes in all).
        client.api.unavailableRetries = 4
        client.api.onRetry = { message, seconds in
            Terminal.log.warning("the server is unavailable (\(message)); retrying in \(seconds) s")
        }
        return client
    }
}

extension Failure {
    /// Runs a server call, mapping errors to the documented exit codes.
    static func remote<T>(_ body: () throws -> T) throws -> T {
        do { return try body() } catch let error as HTTPClientError {
            switch error {
            case .transport, .insecureURL, .invalidAnswer: throw Failure(error.description, exitCode: Failure.unreachable)
            case .status: throw Failure(error.description, exitCode: Failure.refused)
            default: throw Failure(error.description)
            }
        }
    }
}

/// Durations like 30s, 10m, 2h, 1d (plain numbers are seconds).
func parseDuration(_ text: String, option: String) throws -> Int {
    guard let seconds = DurationText.seconds(text) else { throw ValidationError("\(option) must be a duration like 30s, 10m, 2h or 1d") }
    return seconds
}
