import Foundation
import OTACore

/// Where the registry's PostgreSQL database is, and how to talk to it:
/// `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?sslmode=…&pool=…&connect_timeout=…]`.
/// A password is better kept in `PGPASSWORD` than in the URL, which `ps` shows.
public struct PostgresLocation: Sendable, Equatable {
    public enum TLSMode: String, Sendable {
        /// Plain TCP (a database on this machine or a private network).
        case disable
        /// TLS, with the server's certificate verified against the system's CAs.
        case require
        /// `require`, and the certificate must name the host.
        case verifyFull = "verify-full"
    }

    public var host: String
    public var port: Int
    public var user: String
    public var password: String?
    public var database: String
    public var tls: TLSMode
    /// Connections at most, and transactions at once.
    public var poolSize: Int
    public var connectTimeoutSeconds: Int

    public struct Problem: Error, CustomStringConvertible {
        public let description: String
    }

    public init(url: String, environment: [String: String] = [:]) throws {
        func fail(_ why: String) -> Problem { Problem(description: "\(why): the database URL looks like postgres://USER@HOST:PORT/DATABASE?sslmode=disable") }
        guard let schemeEnd = url.range(of: "://"), ["postgres", "postgresql"].contains(url[..<schemeEnd.lowerBound].lowercased()) else {
            throw fail("not a postgres:// URL")
        }
        var rest = String(url[schemeEnd.upperBound...])
        var query = ""
        if let mark = rest.firstIndex(of: "?") {
            query = String(rest[rest.index(after: mark)...])
            rest = String(rest[..<mark])
        }
        guard let slash = rest.firstIndex(of: "/") else { throw fail("no database name") }
        database = Self.decoded(String(rest[rest.index(after: slash)...]))
        var authority = String(rest[..<slash])
        user = "postgres"
        password = environment["PGPASSWORD"].flatMap { $0.isEmpty ? nil : $0 }
        if let at = authority.lastIndex(of: "@") {
            let credentials = authority[..<at]
            authority = String(authority[authority.index(after: at)...])
            if let colon = credentials.firstIndex(of: ":") {
                user = Self.decoded(String(credentials[..<colon]))
                password = Self.decoded(String(credentials[credentials.index(after: colon)...]))
            } else {
                user = Self.decoded(String(credentials))
            }
        }
        port = 5432
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { throw fail("an IPv6 host without its closing ]") }
            host = String(authority[authority.index(after: authority.startIndex)..<close])
            let after = authority[authority.index(after: close)...]
            if after.hasPrefix(":") { guard let number = Int(after.dropFirst()) else { throw fail("a bad port") }; port = number }
        } else if let colon = authority.lastIndex(of: ":") {
            host = String(authority[..<colon])
            guard let number = Int(authority[authority.index(after: colon)...]) else { throw fail("a bad port") }
            port = number
        } else {
            host = authority
        }
        guard !host.isEmpty else { throw fail("no host") }
        guard (1...65_535).contains(port) else { throw fail("port \(port) is out of range") }
        guard !database.isEmpty, !user.isEmpty else { throw fail("no database or user") }
        tls = .disable
        poolSize = 8
        connectTimeoutSeconds = 5
        for pair in query.split(separator: "&") where !pair.isEmpty {
            let parts = pair.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2 else { throw fail("'\(pair)' is not NAME=VALUE") }
            switch parts[0] {
            case "sslmode":
                guard let mode = TLSMode(rawValue: parts[1]) else { throw Problem(description: "sslmode must be disable, require or verify-full, not '\(parts[1].prefix(40))'") }
                tls = mode
            case "pool":
                guard let size = Int(parts[1]), (1...256).contains(size) else { throw Problem(description: "pool must be 1 to 256 connections") }
                poolSize = size
            case "connect_timeout":
                guard let seconds = Int(parts[1]), (1...300).contains(seconds) else { throw Problem(description: "connect_timeout must be 1 to 300 seconds") }
                connectTimeoutSeconds = seconds
            default:
                throw Problem(description: "unknown database URL option '\(parts[0].prefix(40))' (known: sslmode, pool, connect_timeout)")
            }
        }
    }

    /// The URL without its password, for logs and messages.
    public var redacted: String { "postgres://\(user)@\(host.contains(":") ? "[\(host)]" : host):\(port)/\(database)" }

    private static func decoded(_ text: String) -> String { text.removingPercentEncoding ?? text }
}
