import HTTPTypes
import NIOCore
import NIOEmbedded
import NIOHTTPTypes
@testable import OTAServer
import Testing

/// The deadlines of one connection, on an in-process channel whose clock the test moves: no
/// process, no sleep.
@Suite("Connection deadlines and the share of unauthenticated connections")
struct ConnectionGuardTests {
    /// A connected channel with a guard of `timeout` seconds; `pending` is what the guard sees
    /// waiting to go out to the client.
    final class Pending: @unchecked Sendable { var bytes = 0 }

    /// Connected first, as an accepted connection is when the server sets it up.
    func channel(timeout: Int64 = 10, gate: ConnectionGate? = nil, pending: Pending = Pending(), from address: String = "127.0.0.1") throws -> EmbeddedChannel {
        let channel = EmbeddedChannel()
        try channel.connect(to: try SocketAddress(ipAddress: address, port: 1)).wait()
        try channel.pipeline.syncOperations.addHandler(ConnectionGuard(timeout: .seconds(timeout), gate: gate, pendingBytes: { _ in pending.bytes }))
        return channel
    }

    func head(_ length: Int? = nil) -> HTTPRequestPart {
        var fields = HTTPFields()
        if let length { fields[.contentLength] = String(length) }
        return .head(HTTPRequest(method: .post, scheme: "http", authority: "x", path: "/", headerFields: fields))
    }

    func body(_ count: Int) -> HTTPRequestPart { .body(ByteBuffer(repeating: 0x41, count: count)) }

    @Test("A request head must be complete within the timeout, whatever trickles in before")
    func headDeadline() throws {
        let channel = try channel()
        let loop = channel.embeddedEventLoop
        loop.advanceTime(by: .seconds(9))
        #expect(channel.isActive)
        loop.advanceTime(by: .seconds(2))
        #expect(!channel.isActive)
    }

    @Test("A body gets the timeout plus its declared size at 16 KiB/s, in all: a trickle cannot stretch it")
    func bodyDeadline() throws {
        let channel = try channel()
        let loop = channel.embeddedEventLoop
        try channel.writeInbound(head(160 * 1024))  // 10 s for the body's size, 20 s in all
        for _ in 0..<19 {
            try channel.writeInbound(body(100))
            loop.advanceTime(by: .seconds(1))
        }
        #expect(channel.isActive)
        try channel.writeInbound(body(100))
        loop.advanceTime(by: .seconds(2))
        #expect(!channel.isActive, "a body trickling in still held the connection after its deadline")
    }

    @Test("A hostile Content-Length (2^62, 2^50, negative) neither traps nor buys more than a day",
          arguments: [Int64.max, 1 << 62, 1 << 50, -1, 0])
    func hostileDeclaredLength(declared: Int64) throws {
        let allowance = ConnectionGuard.bodyAllowance(declared: declared, timeout: .seconds(10), rate: 16 * 1024)
        #expect(allowance >= .seconds(10))
        #expect(allowance <= .seconds(10 + 86_400))
        let channel = try channel()
        var fields = HTTPFields()
        fields[.contentLength] = String(declared)
        try channel.writeInbound(HTTPRequestPart.head(HTTPRequest(method: .post, scheme: "http", authority: "x", path: "/", headerFields: fields)))
        channel.embeddedEventLoop.advanceTime(by: .seconds(86_400 + 11))
        #expect(!channel.isActive, "a declared length of \(declared) held the connection for more than a day")
    }

    @Test("A complete request is not cut while its answer is prepared, and the next head gets a fresh deadline")
    func completeRequest() throws {
        let channel = try channel()
        let loop = channel.embeddedEventLoop
        try channel.writeInbound(head(10))
        try channel.writeInbound(body(10))
        try channel.writeInbound(HTTPRequestPart.end(nil))
        loop.advanceTime(by: .seconds(60))
        #expect(channel.isActive, "a request being handled is the server's time, not the client's")
        try channel.writeOutbound(HTTPResponsePart.head(HTTPResponse(status: .ok)))
        try channel.writeOutbound(HTTPResponsePart.end(nil))
        loop.advanceTime(by: .seconds(9))
        #expect(channel.isActive)
        loop.advanceTime(by: .seconds(2))
        #expect(!channel.isActive, "the next head has the timeout again")
    }

    @Test("An answer that makes no progress for the timeout is dropped; a slow one that moves is not")
    func responseProgress() throws {
        let pending = Pending()
        let slow = try channel(pending: pending)
        try slow.writeInbound(head())
        try slow.writeInbound(HTTPRequestPart.end(nil))
        try slow.writeOutbound(HTTPResponsePart.head(HTTPResponse(status: .ok)))
        pending.bytes = 64 * 1024
        // An honest client reading 1 KiB/s: the buffer goes down, slowly, for a minute.
        for _ in 0..<60 {
            slow.embeddedEventLoop.advanceTime(by: .seconds(1))
            pending.bytes -= 1024
        }
        #expect(slow.isActive)
        // Then it stops reading.
        slow.embeddedEventLoop.advanceTime(by: .seconds(20))
        #expect(!slow.isActive)
    }

    @Test("Unauthenticated connections hold at most half the slots: the oldest gives way, a proven one never does")
    func gate() throws {
        let gate = ConnectionGate(maximumConnections: 4)
        let first = try channel(gate: gate)
        let proven = try channel(gate: gate)
        gate.proved(proven)
        let second = try channel(gate: gate)
        let third = try channel(gate: gate)
        #expect(!first.isActive, "the oldest stranger gave way")
        #expect(proven.isActive && second.isActive && third.isActive)
        let fourth = try channel(gate: gate)
        #expect(!second.isActive && third.isActive && fourth.isActive && proven.isActive)
        #expect(gate.unprovenCount == 2 && gate.evictions == 2)
    }

    @Test("When strangers crowd the gate, the address holding the most unproven connections gives way, not a newcomer elsewhere")
    func gateEvictsTheCrowdedAddress() throws {
        let gate = ConnectionGate(maximumConnections: 8)
        let crowd = try (0..<4).map { _ in try channel(gate: gate, from: "192.0.2.7") }
        let other = try channel(gate: gate, from: "198.51.100.1")
        #expect(!crowd[0].isActive, "the crowded address's oldest connection gave way")
        #expect(crowd[1...].allSatisfy(\.isActive) && other.isActive)
        let another = try channel(gate: gate, from: "203.0.113.9")
        #expect(!crowd[1].isActive && other.isActive && another.isActive)
        #expect(gate.unprovenCount == 4)
    }
}
