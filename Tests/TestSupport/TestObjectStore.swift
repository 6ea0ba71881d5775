import Foundation
import OTAClient
import OTACore
#if canImport(Glibc)
import Glibc
#endif

/// An S3-compatible object store on loopback: moto's server mode (PyPI `moto[server]`,
/// installed by scripts/install-deps.sh test). It checks that requests are signed, not the
/// signatures themselves; our presigned URLs are checked against AWS's published example.
public final class TestObjectStore: @unchecked Sendable {
    public static var executable: String { DemoApp.repository + "/.venv/bin/moto_server" }
    public static let accessKeyID = "ota-test-key"
    public static let secretAccessKey = "ota-test-secret/with+odd=chars"

    public let url: String
    public var port: Int { Int(url.split(separator: ":").last!)! }
    private let process: Process
    private let logPath: String
    private let dir = TemporaryDirectory("ota-s3")

    /// What `ota-server` needs in its environment to sign requests.
    public var environment: [String: String] { ["AWS_ACCESS_KEY_ID": Self.accessKeyID, "AWS_SECRET_ACCESS_KEY": Self.secretAccessKey] }

    /// Starts moto (on `port`, or a free one) and waits until it answers. moto keeps
    /// everything in memory: a new one on the same port is a store that lost its data.
    public init(port: Int? = nil) throws {
        guard FileManager.default.isExecutableFile(atPath: Self.executable) else {
            throw TestFailure("\(Self.executable) is missing: run scripts/install-deps.sh test (it installs moto[server])")
        }
        let port = try port ?? Self.freePort()
        url = "http://127.0.0.1:\(port)"
        logPath = dir.file("moto.log")
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        process = Process()
        process.executableURL = URL(fileURLWithPath: Self.executable)
        process.arguments = ["-H", "127.0.0.1", "-p", String(port)]
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        process.standardOutput = log
        process.standardError = log
        try process.run()
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            if let answer = try? request("GET", "/"), answer.status > 0 { return }
            usleep(100_000)
        }
        throw TestFailure("moto_server did not start: \((try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "")")
    }

    deinit { stop() }

    /// SIGKILL: a child of the test runner has SIGTERM blocked.
    public func stop() {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    public func createBucket(_ name: String) throws {
        let answer = try request("PUT", "/\(name)")
        guard answer.status == 200 else { throw TestFailure("creating bucket \(name): \(answer.status) \(String(decoding: answer.body, as: UTF8.self))") }
    }

    /// The keys in `bucket`, sorted.
    public func keys(in bucket: String) throws -> [String] {
        let answer = try request("GET", "/\(bucket)?list-type=2&max-keys=1000")
        guard answer.status == 200 else { throw TestFailure("listing \(bucket): \(answer.status)") }
        let text = String(decoding: answer.body, as: UTF8.self)
        return text.components(separatedBy: "<Key>").dropFirst().map { String($0.prefix { $0 != "<" }) }.sorted()
    }

    /// A signed request to the store (`path` is /BUCKET/KEY).
    public func request(_ method: String, _ path: String, headers: [String: String] = [:]) throws -> HTTPResult {
        var configuration = HTTPClientConfiguration(baseURL: url, allowLoopbackHTTP: true, requestTimeoutSeconds: 10)
        configuration.awsSigning = .init(region: "us-east-1", service: "s3", accessKeyID: Self.accessKeyID, secretAccessKey: Self.secretAccessKey)
        return try HTTPClient(configuration).send(method, path, headers: headers)
    }

    /// An unsigned GET of a full URL.
    public static func fetch(_ url: String, headers: [String: String] = [:]) throws -> HTTPResult {
        let split = url.range(of: "/", range: url.index(url.startIndex, offsetBy: 8)..<url.endIndex)!.lowerBound
        return try HTTPClient(HTTPClientConfiguration(baseURL: String(url[..<split]), allowLoopbackHTTP: true, requestTimeoutSeconds: 10))
            .send("GET", String(url[split...]), headers: headers)
    }

    /// A port nothing listens on now (the kernel's pick for a socket bound to port 0).
    public static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestFailure("socket failed") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard bound else { throw TestFailure("bind failed") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
