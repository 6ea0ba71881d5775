import Hummingbird
import NIOCore

/// What every request carries besides itself: the connection it came on, for the address it
/// came from (per-source limits) and for `ConnectionGate` (a request that authenticates
/// proves its connection).
struct ServerRequestContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    let channel: any Channel

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }

    /// The peer's address as the socket sees it (a load balancer's, behind one).
    var peerAddress: SocketAddress? { channel.remoteAddress }
}
