import Foundation
import Glibc
import OTAClient
import OTACore
import TestSupport
import Testing

/// Strangers and misbehaving devices against a real `ota-server`: whatever they send, they
/// cannot hold its connections, lock out enrollment, grow its database without bound, make
/// it hammer its content store, or learn which devices exist.
@Suite("Nothing from the network can starve the server or the fleet")
struct AbuseTests {
    typealias Raw = DeadlineTests.RawConnection

    func port(of server: TestServer) -> Int { Int(server.url.split(separator: ":").last!)! }

    /// Seconds a command or request took.
    func timed<T>(_ body: () throws -> T) rethrows -> (T, Double) {
        let started = Date()
        let value = try body()
        return (value, Date().timeIntervalSince(started))
    }

    @Test("With --max-connections 8, eight trickling strangers never keep /healthz or a device's check-in from being answered within seconds")
    func tricklersCannotLockOut() throws {
        let server = try TestServer(arguments: ["--max-connections", "8", "--request-timeout", "5"])
        let device = try server.registerDevice("d1")
        let body = String(repeating: "x", count: 1100)
        let head = "POST /api/v1/device/register HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 60000\r\n\r\n"
        var strangers: [Raw] = []
        for _ in 0..<8 {
            let connection = try Raw(port: port(of: server))
            connection.send(head)
            strangers.append(connection)
        }
        // The strangers send 1.1 KiB every 2 seconds and reconnect when dropped; meanwhile
        // /healthz and a device's check-in are answered within seconds each time.
        for _ in 0..<6 {
            for index in strangers.indices where !strangers[index].send(body) {
                let fresh = try Raw(port: port(of: server))
                fresh.send(head)
                strangers[index] = fresh
            }
            let (health, healthSeconds) = try timed { try run("curl", ["-sS", "--max-time", "8", server.url + "/healthz"]) }
            #expect(health.status == 0 && health.stdout.contains("ok"), "\(health)")
            #expect(healthSeconds < 4, "/healthz took \(healthSeconds) s")
            let (answer, checkinSeconds) = try timed { try device.checkin(.init(installed: [])) }
            #expect(answer.pollIntervalSeconds == 1)
            #expect(checkinSeconds < 4, "the check-in took \(checkinSeconds) s")
            Thread.sleep(forTimeInterval: 2)
        }
        // No stranger held its connection through the attack: each was dropped at its deadline.
        #expect(try server.metric("ota_connections_dropped_total") > 0)
    }

    @Test("A client that never reads its answer loses its connection once nothing moves for --request-timeout")
    func nonReaderIsDropped() throws {
        let server = try TestServer(arguments: ["--request-timeout", "2"])
        let bytes = SecureRandom.bytes(24 << 20)
        try server.publish(name: "m", version: "1.0.0", files: ["model.onnx": bytes], chunked: false)
        _ = try server.deploy("m", "1.0.0")
        let device = try server.registerDevice("d1")
        _ = try device.checkin(.init(installed: []))
        let path = DeviceAPI.contentPathPrefix + SHA256Digest.of(bytes).hex
        let headers = try device.signedHeaders("GET", path, body: [])
        let connection = try Raw(port: port(of: server), receiveBuffer: 4096)
        connection.send("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\n" + headers.map { "\($0.key): \($0.value)\r\n" }.joined() + "\r\n")
        // It reads nothing for 9 s: the buffers fill, no byte moves, and the server hangs up.
        // Reading now gets what was buffered and then the end, not the whole file.
        Thread.sleep(forTimeInterval: 9)
        let (received, closed) = connection.drain(limit: 20)
        #expect(closed && received < bytes.count, "read \(received) of \(bytes.count) bytes; closed: \(closed)")
    }

    @Test("A body declared larger than its route takes is refused before it is read")
    func declaredTooLarge() throws {
        let server = try TestServer(arguments: ["--request-timeout", "30"])
        let connection = try Raw(port: port(of: server))
        connection.send("POST /api/v1/device/register HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100000000\r\n\r\n{")
        let answer = connection.readAvailable(for: 5)
        #expect(answer.hasPrefix("HTTP/1.1 413"), "\(answer.prefix(200))")
    }

    @Test("Junk registrations cannot use up enrollment: failures are limited per address, and a valid token still registers")
    func junkRegistrations() throws {
        let server = try TestServer(arguments: ["--trusted-proxy", "127.0.0.1", "--registrations-per-minute", "10",
                                                "--failed-attempts-per-minute", "5"])
        let key = try Ed25519PrivateKey.generate()
        let junk = #"{"device_id":"junk","hardware":"hw","public_key":"\#(Base64.encode(key.publicKey.raw))","proof":{"created":0,"nonce":"00000000000000000000000000000000","signature":"\#(Base64.encode([UInt8](repeating: 0, count: 64)))"}}"#
        func register(from address: String) throws -> Int {
            try server.request("POST", DeviceAPI.registerPath, headers: ["X-Forwarded-For": "203.0.113.9, \(address)"], body: Array(junk.utf8)).status
        }
        // One address, many failures: refused before anything is verified after the fifth.
        let statuses = try (0..<30).map { _ in try register(from: "10.0.0.1") }
        #expect(statuses.prefix(5).allSatisfy { $0 == 401 }, "\(statuses)")
        #expect(statuses.dropFirst(5).allSatisfy { $0 == 429 }, "\(statuses)")
        // Hundreds of addresses, one failure each: none of it counts against the fleet's ten.
        for index in 0..<300 { #expect(try register(from: "10.1.\(index / 256).\(index % 256)") == 401) }
        // A real device, from yet another address, registers with a valid token meanwhile.
        let valid = try StrictJSON.encode(DeviceAPI.RegisterRequest(
            enrollmentToken: try server.enrollmentToken(), deviceID: "cam-1", hardware: "test-hw", publicKey: Base64.encode(key.publicKey.raw),
            proof: try DeviceProof.sign(.register, deviceID: "cam-1", key: key)))
        let answer = try server.request("POST", DeviceAPI.registerPath, headers: ["X-Forwarded-For": "10.2.0.1"], body: Array(valid))
        #expect(answer.status == 201, "\(answer)")
    }

    @Test("The device API does not tell which devices exist: an unknown id and a wrong key get the same answer")
    func noExistenceOracle() throws {
        let server = try TestServer()
        let known = try Ed25519PrivateKey.generate()
        _ = try server.registerDevice("cam-1", key: known)
        let stranger = try Ed25519PrivateKey.generate()
        func session(_ text: String, signedBy key: Ed25519PrivateKey) throws -> (Int, String) {
            let id = try DeviceID(text)
            let body = try StrictJSON.encode(DeviceAPI.SessionRequest(deviceID: id, proof: try DeviceProof.sign(.session, deviceID: id, key: key)))
            let answer = try server.request("POST", DeviceAPI.sessionPath, body: Array(body))
            return (answer.status, String(decoding: answer.body, as: UTF8.self).replacingOccurrences(of: text, with: "ID"))
        }
        let unknown = try session("cam-404", signedBy: stranger)
        let wrongKey = try session("cam-1", signedBy: stranger)
        #expect(unknown.0 == 401 && unknown == wrongKey, "\(unknown) / \(wrongKey)")
        #expect(try session("cam-1", signedBy: known).0 == 201)
        // Registering a taken id without a valid token says the token is wrong, not that the id is taken.
        func register(_ text: String, token: String?) throws -> String {
            let id = try DeviceID(text)
            let key = try Ed25519PrivateKey.generate()
            let body = try StrictJSON.encode(DeviceAPI.RegisterRequest(enrollmentToken: token, deviceID: id, hardware: "test-hw",
                                                                       publicKey: Base64.encode(key.publicKey.raw),
                                                                       proof: try DeviceProof.sign(.register, deviceID: id, key: key)))
            return String(decoding: try server.request("POST", DeviceAPI.registerPath, body: Array(body)).body, as: UTF8.self)
        }
        for token in [nil, "ota_enr_not-a-token"] {
            let taken = try register("cam-1", token: token)
            let free = try register("cam-2", token: token)
            #expect(!taken.contains("already"), "\(taken)")
            #expect(taken.replacingOccurrences(of: "cam-1", with: "ID") == free.replacingOccurrences(of: "cam-2", with: "ID"), "\(taken) / \(free)")
        }
        // The device itself, registering again with its own key, is told where it stands.
        let again = try DeviceClient(server.httpConfiguration(), credentials: .key(deviceID: "cam-1", key: known))
        #expect(try again.register(.init(enrollmentToken: nil, deviceID: "cam-1", hardware: "test-hw", publicKey: Base64.encode(known.publicKey.raw),
                                         proof: try DeviceProof.sign(.register, deviceID: "cam-1", key: known))).status == .accepted)
    }

    /// The database's size on disk: its file and its write-ahead log.
    func databaseBytes(_ server: TestServer) -> UInt64 {
        let path = server.dataPath + "/registry.sqlite"
        return (FileSystem.fileSize(path) ?? 0) + (FileSystem.fileSize(path + "-wal") ?? 0)
    }

    @Test("One device sending 25 batches of a megabyte grows the database by less than 5 MB; honest bursts are all taken")
    func eventFlood() throws {
        guard TestServer.postgres == nil else { return } // the size on disk is SQLite's
        let server = try TestServer(pollInterval: 60)
        let flood = try server.registerDevice("flood")
        let honest = try server.registerDevice("honest")
        Thread.sleep(forTimeInterval: 1)
        let before = databaseBytes(server)
        let detail = String(repeating: "d", count: 4000)
        let batch = DeviceAPI.EventsRequest(events: (0..<240).map { _ in .init(deploymentID: nil, bundleName: "m", version: "1.0.0", state: .downloading, detail: detail) })
        let body = Array(try StrictJSON.encode(batch))
        #expect(body.count > 900_000 && body.count <= DeviceAPI.EventsRequest.maximumBytes)
        var statuses: [Int] = []
        for _ in 0..<25 { statuses.append(try server.request("POST", DeviceAPI.eventsPath, device: flood, body: body).status) }
        #expect(statuses.first == 202 && statuses.dropFirst().allSatisfy { $0 == 429 }, "\(statuses)")
        let retry = try server.request("POST", DeviceAPI.eventsPath, device: flood, body: body)
        #expect(Int(retry.headers["retry-after"] ?? "") ?? 0 > 0)
        // An outbox a day offline (a thousand events), flushed in the agent's batches, is all taken.
        for start in stride(from: 0, to: 1000, by: 200) {
            let events = (start..<(start + 200)).map { index in
                DeviceAPI.Event(deploymentID: nil, bundleName: "m", version: "1.0.0", state: .downloading, detail: "event \(index)")
            }
            try honest.report(events)
        }
        #expect(try server.sql("SELECT COUNT(*) FROM events WHERE device_id = 'honest'").stdout.trimmed == "1000")
        let grown = Int64(databaseBytes(server)) - Int64(before)
        #expect(grown < 5_000_000, "the database grew by \(grown) bytes")
        #expect(try server.metric("ota_rate_limited_total") >= 24)
    }

    @Test("Check-ins past a device's quota get 429 with the Retry-After its bucket needs; the re-check-in after an update does not")
    func checkinQuota() throws {
        let server = try TestServer(pollInterval: 60)
        let device = try server.registerDevice("d1")
        let body = Array(#"{"installed":[]}"#.utf8)
        // Thirty at once, and one more a few seconds: a device cannot go much faster than that.
        var answered = 0
        var refused: HTTPResult?
        while refused == nil && answered < 40 {
            let answer = try server.request("POST", DeviceAPI.checkinPath, device: device, body: body)
            if answer.status == 429 { refused = answer } else { #expect(answer.status == 200); answered += 1 }
        }
        #expect((30...32).contains(answered), "\(answered) check-ins before the first 429")
        let refusal = try #require(refused)
        #expect(refusal.status == 429, "\(refusal)")
        #expect((1...60).contains(Int(refusal.headers["retry-after"] ?? "") ?? 0), "\(refusal.headers)")
        // Another device is not affected, and a real agent updating (check-in, events, the
        // re-check-in right after the commit, then its next cycles) never meets its quotas.
        let other = try server.registerDevice("d2")
        _ = try other.checkin(.init(installed: []))
        try server.publish(name: "m", version: "1.0.0", files: ["model.onnx": Array("weights".utf8)])
        _ = try server.deploy("m", "1.0.0")
        let agent = try TestAgent(server, id: "cam-1")
        for _ in 0..<3 { #expect(try agent.once().status == 0) }
        try agent.checkCurrentSlot("m", holds: ["model.onnx": Array("weights".utf8)])
        #expect(try agent.status()["events_waiting"] as? Int == 0)
    }

    @Test("4,096 tiny ranges cost at most 16 reads of the store and twice the bytes returned plus 1 MiB; the device asks again for the rest")
    func rangesCostWhatTheyReturn() throws {
        let s = try ChunkedContentTests.Setup()
        let spaced = s.chunks.prefix(4096).map { #"{"offset": \#($0.offset), "length": 1}"# }
        let reads = try s.server.metric("ota_range_store_reads_total")
        let bytesRead = try s.server.metric("ota_range_store_read_bytes_total")
        let answer = try s.ranges(#"{"ranges": [\#(spaced.joined(separator: ","))]}"#)
        #expect(answer.status == 200)
        let made = try s.server.metric("ota_range_store_reads_total") - reads
        let read = try s.server.metric("ota_range_store_read_bytes_total") - bytesRead
        #expect(made <= 16, "\(made) reads of the store")
        #expect(read <= Double(2 * answer.body.count + (1 << 20)), "read \(read) bytes for \(answer.body.count)")
        // What came is a prefix of what was asked: each byte the first of its chunk.
        #expect(!answer.body.isEmpty && answer.body.count <= s.chunks.count)
        #expect(answer.body == s.chunks.prefix(answer.body.count).map { s.bytes[Int($0.offset)] })
        // Tiny ranges close together inside one chunk cost one read.
        let dense = (0..<4096).map { #"{"offset": \#($0 * 2), "length": 1}"# }
        let before = try s.server.metric("ota_range_store_reads_total")
        let denseAnswer = try s.ranges(#"{"ranges": [\#(dense.joined(separator: ","))]}"#)
        #expect(denseAnswer.body == (0..<4096).map { s.bytes[$0 * 2] })
        #expect(try s.server.metric("ota_range_store_reads_total") - before <= 2)
    }
}
