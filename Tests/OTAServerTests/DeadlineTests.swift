import Foundation
import Glibc
import OTACore
import TestSupport
import Testing

/// Slow or stalled clients cannot hold `ota-server`'s connections: request heads, idle
/// connections and trickled bodies meet deadlines, connections are limited, TLS is 1.2+.
@Suite("Server deadlines and limits")
struct DeadlineTests {
    /// A raw TCP connection to the server, to misbehave below HTTP clients.
    final class RawConnection {
        let descriptor: Int32

        /// `receiveBuffer`: a small one makes a client that does not read stall at once.
        init(port: Int, receiveBuffer: Int32? = nil) throws {
            descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            if var size = receiveBuffer {
                setsockopt(descriptor, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
            }
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = in_port_t(UInt16(port).bigEndian)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard connected == 0 else { throw TestFailure("cannot connect to port \(port)") }
        }

        deinit { close(descriptor) }

        /// False once the server has closed the connection (a write then fails).
        @discardableResult
        func send(_ text: String) -> Bool {
            let bytes = Array(text.utf8)
            return bytes.withUnsafeBytes { Glibc.send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) } == bytes.count
        }

        /// Reads everything the server sends until it hangs up or `limit` seconds pass: the
        /// bytes read, and whether it hung up.
        func drain(limit: Double) -> (bytes: Int, closed: Bool) {
            let started = Date()
            var total = 0
            var buffer = [UInt8](repeating: 0, count: 1 << 16)
            while Date().timeIntervalSince(started) < limit {
                var poller = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
                guard poll(&poller, 1, 100) > 0 else { continue }
                let count = recv(descriptor, &buffer, buffer.count, 0)
                if count <= 0 { return (total, true) }
                total += count
            }
            return (total, false)
        }

        /// What the server sends within `seconds`, as text.
        func readAvailable(for seconds: Double) -> String {
            let started = Date()
            var received: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 4096)
            while Date().timeIntervalSince(started) < seconds {
                var poller = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
                guard poll(&poller, 1, 100) > 0 else { if !received.isEmpty { break } else { continue } }
                let count = recv(descriptor, &buffer, buffer.count, 0)
                if count <= 0 { break }
                received += buffer[..<count]
            }
            return String(decoding: received, as: UTF8.self)
        }

        /// Seconds until the server closes the connection, or nil if it is still open after `limit`.
        func secondsUntilClosed(limit: Double) -> Double? {
            let started = Date()
            var buffer = [UInt8](repeating: 0, count: 4096)
            while Date().timeIntervalSince(started) < limit {
                var poller = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
                if poll(&poller, 1, 100) > 0 {
                    let count = recv(descriptor, &buffer, buffer.count, 0)
                    if count <= 0 { return Date().timeIntervalSince(started) }
                }
            }
            return nil
        }
    }

    func port(of server: TestServer) -> Int { Int(server.url.split(separator: ":").last!)! }

    @Test("A request head that never completes is closed after --request-timeout")
    func slowHeadIsClosed() throws {
        let server = try TestServer(arguments: ["--request-timeout", "2"])
        let connection = try RawConnection(port: port(of: server))
        connection.send("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        let closed = try #require(connection.secondsUntilClosed(limit: 8), "the server kept a half-sent request head open")
        #expect(closed < 5)
    }

    @Test("An idle keep-alive connection is closed after --request-timeout")
    func idleConnectionIsClosed() throws {
        let server = try TestServer(arguments: ["--request-timeout", "2"])
        let connection = try RawConnection(port: port(of: server))
        #expect(connection.secondsUntilClosed(limit: 8) != nil)
    }

    @Test("A request body trickled a byte at a time is cut, though bytes keep arriving")
    func trickledBodyIsCut() throws {
        let server = try TestServer(arguments: ["--request-timeout", "2"])
        let connection = try RawConnection(port: port(of: server))
        connection.send("POST /api/v1/device/events HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n")
        let started = Date()
        var open = true
        while open && Date().timeIntervalSince(started) < 12 {
            open = connection.send("[") && connection.secondsUntilClosed(limit: 0.5) == nil
        }
        #expect(!open, "the server kept reading a trickled body for 12 s")
        #expect(Date().timeIntervalSince(started) < 8)
    }

    @Test("Strangers' idle connections hold at most half of --max-connections: the oldest gives way, and a new client is served at once")
    func connectionLimit() throws {
        let server = try TestServer(arguments: ["--max-connections", "4", "--request-timeout", "30"])
        // One after the other, so that the server sees them in this order.
        let held = try (0..<4).map { _ in
            let connection = try RawConnection(port: port(of: server))
            Thread.sleep(forTimeInterval: 0.1)
            return connection
        }
        try eventually(timeout: 5, "the two oldest strangers were let go") {
            held.prefix(2).allSatisfy { $0.secondsUntilClosed(limit: 0.1) != nil }
        }
        let served = try run("curl", ["-sS", "--max-time", "3", server.url + "/healthz"])
        #expect(served.status == 0, "\(served)")
        #expect(held[3].secondsUntilClosed(limit: 0.2) == nil, "the newest stranger is still there")
    }

    @Test("TLS below 1.2 is refused; TLS 1.2 is served")
    func tlsMinimumVersion() throws {
        let certificates = TemporaryDirectory("tls")
        try TLSTests().makeCertificates(in: certificates)
        let server = try TestServer(arguments: ["--tls-cert", certificates.file("server.pem"), "--tls-key", certificates.file("server.key")])
        let address = "127.0.0.1:\(port(of: server))"
        // SECLEVEL=0 lets the client offer old versions: the refusal must come from the server.
        func handshake(_ version: String) throws -> ProcessResult {
            try run("/bin/sh", ["-c", "echo | openssl s_client -connect \(address) \(version) -cipher 'DEFAULT@SECLEVEL=0' -CAfile \(certificates.file("ca.pem")) 2>&1"])
        }
        let old = try handshake("-tls1_1")
        #expect(old.stdout.contains("alert protocol version"), "\(old.stdout)")
        let current = try handshake("-tls1_2")
        #expect(current.stdout.contains("TLSv1.2"), "\(current.stdout)")
    }
}
