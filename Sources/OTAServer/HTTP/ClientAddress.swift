import HTTPTypes
import Hummingbird
import NIOCore
import OTACore

/// The address a request comes from, as limits count it: an IPv4 address, or the /64 an
/// IPv6 address is in (one host usually holds a whole /64, so counting single IPv6
/// addresses would count nothing). Behind load balancers named with `--trusted-proxy`, the
/// client is the right-most address of `X-Forwarded-For` that is not one of them.
struct ClientAddress: Hashable, Sendable, CustomStringConvertible {
    /// 4 bytes, or the first 8 bytes of an IPv6 address.
    let bytes: [UInt8]

    var description: String {
        if bytes.count == 9 { return "an unparsable forwarded address" }
        return bytes.count == 4 ? bytes.map(String.init).joined(separator: ".")
            : stride(from: 0, to: 8, by: 2).map { String(UInt16(bytes[$0]) << 8 | UInt16(bytes[$0 + 1]), radix: 16) }.joined(separator: ":") + "::/64"
    }

    /// An IPv4 or IPv6 address's bytes, from the socket address.
    static func rawBytes(_ address: SocketAddress) -> [UInt8]? {
        switch address {
        case .v4(let v4): return withUnsafeBytes(of: v4.address.sin_addr) { Array($0) }
        case .v6(let v6):
            let bytes = withUnsafeBytes(of: v6.address.sin6_addr) { Array($0) }
            // An IPv4 client on a dual-stack socket (::ffff:a.b.c.d) counts as that IPv4 address.
            if bytes[0..<10].allSatisfy({ $0 == 0 }) && bytes[10] == 0xff && bytes[11] == 0xff { return Array(bytes[12..<16]) }
            return bytes
        default: return nil
        }
    }

    /// An address as `X-Forwarded-For` or `--trusted-proxy` writes it: `a.b.c.d`, an IPv6
    /// address, `a.b.c.d:port` or `[v6]:port`.
    static func parse(_ text: some StringProtocol) -> [UInt8]? {
        var trimmed = String(text).trimmed
        guard !trimmed.isEmpty, trimmed.utf8.count <= 64 else { return nil }
        if trimmed.hasPrefix("["), let close = trimmed.firstIndex(of: "]") {
            trimmed = String(trimmed[trimmed.index(after: trimmed.startIndex)..<close])
        } else if trimmed.filter({ $0 == ":" }).count == 1, let colon = trimmed.firstIndex(of: ":") {
            trimmed = String(trimmed[..<colon])
        }
        guard let address = try? SocketAddress(ipAddress: trimmed, port: 0) else { return nil }
        return rawBytes(address)
    }

    init(raw: [UInt8]) { bytes = raw.count == 16 ? Array(raw[0..<8]) : raw }

    /// A forwarded hop that is no address at all: counted under its own text (hashed), so
    /// that garbage in `X-Forwarded-For` neither escapes the limits nor lands them on the
    /// proxy's own address, which every honest client behind it shares.
    init(unparsable hop: some StringProtocol) {
        bytes = [0xff] + SHA256Digest.of(Array(String(hop).utf8)).bytes.prefix(8)
    }

    /// The client behind `peer`: `peer` itself, unless it is a trusted proxy and the request
    /// says whom it forwards.
    static func of(peer: SocketAddress?, forwardedFor: String?, trustedProxies: [IPNetwork]) -> ClientAddress? {
        guard let peer, var raw = rawBytes(peer) else { return nil }
        guard !trustedProxies.isEmpty, let forwardedFor, forwardedFor.utf8.count <= 2048 else { return ClientAddress(raw: raw) }
        // Walk from the nearest hop back while each hop is a proxy we trust.
        var hops = forwardedFor.split(separator: ",").reversed().makeIterator()
        while trustedProxies.contains(where: { $0.contains(raw) }), let hop = hops.next() {
            guard let next = parse(hop) else { return ClientAddress(unparsable: hop.trimmed) }
            raw = next
        }
        return ClientAddress(raw: raw)
    }
}

/// An address block, as `--trusted-proxy` names it: `10.0.0.0/8`, `fd00::/8` or one address.
public struct IPNetwork: Sendable, Equatable, CustomStringConvertible {
    let bytes: [UInt8]
    let prefixLength: Int
    public let description: String

    public init?(_ text: String) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count), let raw = ClientAddress.parse(parts[0]) else { return nil }
        let bits = raw.count * 8
        if parts.count == 2 {
            guard let length = Int(parts[1]), (0...bits).contains(length) else { return nil }
            prefixLength = length
        } else {
            prefixLength = bits
        }
        bytes = raw
        description = text
    }

    func contains(_ address: [UInt8]) -> Bool {
        guard address.count == bytes.count else { return false }
        var left = prefixLength
        for index in bytes.indices where left > 0 {
            let bits = min(8, left)
            let mask = UInt8(truncatingIfNeeded: 0xff << (8 - bits))
            guard address[index] & mask == bytes[index] & mask else { return false }
            left -= bits
        }
        return true
    }
}

extension HTTPField.Name {
    static let xForwardedFor = Self("X-Forwarded-For")!
}
