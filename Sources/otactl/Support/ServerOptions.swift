import ArgumentParser
import Foundation
import OTAClient
import OTACore

/// Where the server is and who we are: flags, or OTA_SERVER / OTA_TOKEN / OTA_CA_FILE.
struct ServerOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Server URL (default: $OTA_SERVER).", valueName: "url"))
    var server: String?

    @Option(help: ArgumentHelp("Admin-API token (default: $OTA_TOKEN).", valueName: "token"))
    var token: String?

    @Option(help: ArgumentHelp("CA bundle to verify the server's certificate (default: $OTA_CA_FILE or the system's).", valueName: "file"))
    var caFile: String?

    @Flag(help: "Allow plain http to a host other than loopback (development only).")
    var insecureHttp = false

    func client() throws -> AdminClient {
        let environment = ProcessInfo.processInfo.environment
        guard let url = server ?? environment["OTA_SERVER"], !url.isEmpty else {
            throw Failure("no server given: pass --server URL or set OTA_SERVER")
        }
        guard let secret = token ?? environment["OTA_TOKEN"], !secret.isEmpty else {
            throw Failure("no token given: pass --token TOKEN or set OTA_TOKEN (create one with `ota-server token create`)")
        }
        let configuration = HTTPClientConfiguration(baseURL: url, caFile: caFile ?? environment["OTA_CA_FILE"],
                                                    allowInsecureHTTP: insecureHttp, allowLoopbackHTTP: true, userAgent: "otactl/1")
        return try Failure.wrap("") { try AdminClient(configuration, token: secret) }
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
    let units: [Character: Int] = ["s": 1, "m": 60, "h": 3600, "d": 86_400]
    var number = text
    var factor = 1
    if let last = text.last, let unit = units[last] {
        number = String(text.dropLast())
        factor = unit
    }
    guard let value = Int(number), value >= 0 else { throw ValidationError("\(option) must be a duration like 30s, 10m, 2h or 1d") }
    return value * factor
}
