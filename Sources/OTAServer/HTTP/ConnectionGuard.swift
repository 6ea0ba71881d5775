import NIOCore
import NIOHTTPTypes

/// Deadlines that a slow or stalled client cannot stretch, one handler per connection (after
/// HTTP decoding; it is set up with the connection, before any TLS handshake):
///
/// - the next request head must be complete within `timeout` of the connection opening or the
///   previous response ending, however it trickles in (TLS handshake included);
/// - a request body must be complete within `timeout` plus its declared length at
///   `minimumBodyRate`: a total deadline set when the head arrives, not a rate per window that
///   a trickle can meet forever (a body without a declared length gets `timeout`);
/// - once the response is complete, what is left of a request body must arrive within
///   `timeout` (a refused upload cannot hold the connection with the rest of its body);
/// - a response whose bytes make no progress to the client for `timeout` is dropped: a
///   client that never reads cannot hold its slot, while an honest one throttled to 1 KiB/s
///   keeps going.
///
/// Every connection also stands in the `ConnectionGate` until a request on it authenticates.
final class ConnectionGuard: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    let timeout: TimeAmount
    let minimumBodyRate: Int64
    let gate: ConnectionGate?
    /// Told of every connection this guard closes.
    let onDrop: @Sendable () -> Void
    /// The response bytes waiting to go out (NIO's buffer); a seam for tests.
    let pendingBytes: (ChannelHandlerContext) -> Int

    private var deadline: Scheduled<Void>?
    private var readingRequest = false
    private var responding = false
    private var responseEnded = false
    /// While a response is written: the bytes still buffered at the last look, and when they
    /// last went down.
    private var buffered = 0
    private var lastProgress = NIODeadline.uptimeNanoseconds(0)
    private var watchdog: RepeatedTask?

    init(timeout: TimeAmount, minimumBodyRate: Int64 = 16 * 1024, gate: ConnectionGate?, onDrop: @escaping @Sendable () -> Void = {},
         pendingBytes: @escaping (ChannelHandlerContext) -> Int = { (try? $0.channel.syncOptions?.getOption(.bufferedWritableBytes)) ?? 0 }) {
        self.timeout = timeout
        self.minimumBodyRate = minimumBodyRate
        self.gate = gate
        self.onDrop = onDrop
        self.pendingBytes = pendingBytes
    }

    /// The body's whole allowance, from the head: the fixed part plus its declared size at the
    /// minimum rate, never more than a day. Without a body (GET) the end follows at once. The
    /// declared length is the client's word, so the sum saturates instead of overflowing.
    static func bodyAllowance(declared: Int64, timeout: TimeAmount, rate: Int64) -> TimeAmount {
        let day: Int64 = 86_400
        let extraSeconds = min(max(declared, 0) / max(rate, 1), day)
        let (sum, overflow) = timeout.nanoseconds.addingReportingOverflow(extraSeconds * 1_000_000_000)
        return .nanoseconds(overflow ? Int64.max : min(sum, timeout.nanoseconds + day * 1_000_000_000))
    }

    func handlerAdded(context: ChannelHandlerContext) {
        gate?.opened(context.channel)
        waitForHead(context)
    }

    func handlerRemoved(context: ChannelHandlerContext) { stopTimers() }

    func channelInactive(context: ChannelHandlerContext) {
        stopTimers()
        gate?.closed(context.channel)
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            readingRequest = true
            responseEnded = false
            let declared = head.headerFields[.contentLength].flatMap { Int64($0) } ?? 0
            schedule(context, in: Self.bodyAllowance(declared: declared, timeout: timeout, rate: minimumBodyRate),
                     reason: "request body")
        case .body:
            break
        case .end:
            readingRequest = false
            cancelDeadline()
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head:
            responding = true
            startWatchdog(context)
        case .body:
            break
        case .end:
            responding = false
            responseEnded = true
            stopWatchdog()
            if readingRequest {
                // The handler answered without the whole body (a refusal): the rest of it
                // gets no more than `timeout`.
                schedule(context, in: timeout, reason: "the rest of a refused request body")
            } else {
                waitForHead(context)
            }
        }
        context.write(data, promise: promise)
    }

    private func waitForHead(_ context: ChannelHandlerContext) {
        schedule(context, in: timeout, reason: "request head")
    }

    private func schedule(_ context: ChannelHandlerContext, in amount: TimeAmount, reason: StaticString) {
        cancelDeadline()
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        deadline = context.eventLoop.scheduleTask(in: amount) {
            let (handler, context) = bound.value
            // A response being written is watched by the watchdog instead.
            guard !handler.responding else { return }
            handler.drop(context)
        }
    }

    private func startWatchdog(_ context: ChannelHandlerContext) {
        stopWatchdog()
        buffered = 0
        lastProgress = context.eventLoop.now
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        let period = TimeAmount.nanoseconds(max(timeout.nanoseconds / 4, 50_000_000))
        watchdog = context.eventLoop.scheduleRepeatedTask(initialDelay: period, delay: period) { _ in
            let (handler, context) = bound.value
            handler.checkProgress(context)
        }
    }

    /// Progress is bytes leaving the server's buffer for the client; none for `timeout` ends
    /// the connection.
    private func checkProgress(_ context: ChannelHandlerContext) {
        let now = context.eventLoop.now
        let pending = pendingBytes(context)
        if pending == 0 || pending < buffered { lastProgress = now }
        buffered = pending
        if now - lastProgress > timeout { drop(context) }
    }

    private func drop(_ context: ChannelHandlerContext) {
        stopTimers()
        onDrop()
        context.close(promise: nil)
    }

    private func cancelDeadline() {
        deadline?.cancel()
        deadline = nil
    }

    private func stopWatchdog() {
        watchdog?.cancel()
        watchdog = nil
    }

    private func stopTimers() {
        cancelDeadline()
        stopWatchdog()
    }
}
