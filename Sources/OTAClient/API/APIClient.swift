import OTACore
#if canImport(Glibc)
import Glibc
#endif

/// JSON over `HTTPClient` with a bearer token: the shared plumbing of the typed clients.
public final class APIClient {
    public let http: HTTPClient
    public var token: String?
    /// The largest answer taken into memory; a longer one is cut off there and refused.
    public var maxAnswerBytes: Int64 = 64 << 20
    /// Headers that authenticate a request, computed over its method, path and body bytes
    /// (device requests are signed); when set, it replaces the bearer token.
    public var signer: ((String, String, [UInt8]) throws -> [String: String])?
    /// Answers 503 (a server whose database or content store is away for a moment) are
    /// retried this many times, after the `Retry-After` the server asks for (at most 30 s
    /// each). The server changed nothing, so any request may be sent again. 0 for devices:
    /// the agent's loop backs off on its own.
    public var unavailableRetries = 0
    /// Told before each such wait, with what happened and the seconds it waits.
    public var onRetry: ((String, Int) -> Void)?

    public init(_ configuration: HTTPClientConfiguration, token: String? = nil) throws {
        http = try HTTPClient(configuration)
        self.token = token
    }

    var authorization: [String: String] {
        token.map { ["Authorization": "Bearer \($0)"] } ?? [:]
    }

    /// Sends `body` as JSON and decodes the answer as `T`; error statuses throw.
    public func call<T: Decodable>(_ method: String, _ path: String, body: (some Encodable)? = Optional<Int>.none,
                                   as type: T.Type = T.self) throws -> T {
        let result = try raw(method, path, body: body)
        do { return try StrictJSON.decode(T.self, from: result.body, what: "answer") } catch {
            throw HTTPClientError.invalidAnswer("the server's answer to \(method) \(path) is not what this client understands: \(error)")
        }
    }

    /// Like `call` for answers without a body (204).
    public func send(_ method: String, _ path: String, body: (some Encodable)? = Optional<Int>.none) throws {
        _ = try raw(method, path, body: body)
    }

    public func raw(_ method: String, _ path: String, body: (some Encodable)?) throws -> HTTPResult {
        var headers = authorization
        var payload: HTTPClient.Body = .none
        var bytes: [UInt8] = []
        if let body {
            headers["Content-Type"] = "application/json"
            bytes = Array(try StrictJSON.encode(body))
            payload = .bytes(bytes)
        }
        if let signer { headers.merge(try signer(method, path, bytes)) { _, signed in signed } }
        headers["Accept"] = "application/json"
        return try retryingUnavailable { try http.send(method, path, headers: headers, body: payload, maxResponseBytes: maxAnswerBytes) }
    }

    /// Sends with `send`, waiting and sending again while the server answers 503 (see
    /// `unavailableRetries`); error statuses throw.
    public func retryingUnavailable(_ send: () throws -> HTTPResult) throws -> HTTPResult {
        var attempt = 0
        while true {
            let result = try send()
            if result.isSuccess { return result }
            let error = HTTPClient.statusError(result.status, body: result.body, headers: result.headers)
            guard result.status == 503, attempt < unavailableRetries, case .status(_, _, let message, let retryAfter) = error else { throw error }
            attempt += 1
            let wait = min(30, max(1, retryAfter ?? 5))
            onRetry?(message, wait)
            sleep(UInt32(wait))
        }
    }

    /// Percent-encodes a query value or path segment.
    public static func escape(_ text: String) -> String {
        var out = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                out += "%" + Hex.encode([byte]).uppercased()
            }
        }
        return out
    }

    public static func query(_ items: [(String, String?)]) -> String {
        let present = items.compactMap { name, value in value.map { "\(name)=\(escape($0))" } }
        return present.isEmpty ? "" : "?" + present.joined(separator: "&")
    }
}
