import NIOCore
import OTACore
@testable import OTAServer
import Testing

/// The per-address limits on strangers, in process: where a request comes from behind trusted
/// proxies, and how failures are counted and forgotten.
@Suite("Limits on unauthenticated callers")
struct LimiterTests {
    let proxy = IPNetwork("10.0.0.0/8")!
    var peer: SocketAddress { try! SocketAddress(ipAddress: "10.1.2.3", port: 443) }

    @Test("X-Forwarded-For behind a trusted proxy names the client, with or without a port", arguments: [
        ("198.51.100.7", "198.51.100.7"), ("198.51.100.7:52100", "198.51.100.7"), ("[2001:db8::1]:443", "2001:db8:0:0::/64"),
        ("2001:db8::1", "2001:db8:0:0::/64"), ("203.0.113.9, 10.4.4.4", "203.0.113.9"),
    ])
    func forwardedClient(header: String, client: String) {
        #expect(ClientAddress.of(peer: peer, forwardedFor: header, trustedProxies: [proxy])?.description == client)
    }

    @Test("A forwarded hop that is no address is counted under its own text, not under the proxy everyone shares")
    func unparsableHop() {
        let garbage = ClientAddress.of(peer: peer, forwardedFor: "not-an-address", trustedProxies: [proxy])
        let other = ClientAddress.of(peer: peer, forwardedFor: "also garbage", trustedProxies: [proxy])
        let proxyItself = ClientAddress.of(peer: peer, forwardedFor: nil, trustedProxies: [proxy])
        #expect(garbage != nil && garbage != proxyItself && garbage != other)
        #expect(garbage == ClientAddress.of(peer: peer, forwardedFor: "not-an-address", trustedProxies: [proxy]))
    }

    @Test("An address that failed too often this minute is refused; a minute later it may try again")
    func perAddress() {
        let limiter = FailureLimiter(perMinute: 3)
        let address = ClientAddress(raw: [192, 0, 2, 1])
        for _ in 0..<3 { limiter.failed(address, now: 100) }
        #expect(!limiter.allows(address, now: 110))
        #expect(limiter.allows(ClientAddress(raw: [192, 0, 2, 2]), now: 110))
        #expect(limiter.allows(address, now: 161))
    }

    @Test("Past the failures of all addresses together, every address that failed waits for the minute; the fleet's devices are still served")
    func globalBudget() {
        let limiter = FailureLimiter(perMinute: 5, globalPerMinute: 20)
        for index in 0..<20 { limiter.failed(ClientAddress(raw: [198, 51, 100, UInt8(index)]), now: 100) }
        #expect(!limiter.allows(ClientAddress(raw: [198, 51, 100, 1]), now: 101), "an address of the flood waits, below its own limit")
        #expect(limiter.allows(ClientAddress(raw: [203, 0, 113, 1]), now: 101), "an address that never failed (a device renewing its session) is served")
        limiter.failed(ClientAddress(raw: [203, 0, 113, 1]), now: 101)
        #expect(!limiter.allows(ClientAddress(raw: [203, 0, 113, 1]), now: 102), "and waits once it fails")
        #expect(!limiter.allows(nil, now: 102), "a caller without an address cannot be told from the flood")
        #expect(limiter.allows(ClientAddress(raw: [198, 51, 100, 1]), now: 161), "the minute over, all may try again")
    }

    @Test("A full table forgets the addresses with the fewest failures first: the busiest attacker stays held")
    func eviction() {
        let limiter = FailureLimiter(perMinute: 3, globalPerMinute: 1_000_000, maximumAddresses: 4)
        let busy = ClientAddress(raw: [192, 0, 2, 99])
        for _ in 0..<3 { limiter.failed(busy, now: 100) }
        for index in 0..<10 { limiter.failed(ClientAddress(raw: [198, 51, 100, UInt8(index)]), now: 100) }
        #expect(!limiter.allows(busy, now: 101))
    }
}
