import NIOCore
import NIOHTTPTypes

/// Closes a connection whose request body trickles in: below `minimumBytes` in any window
/// of `window` while a request is being read. Hummingbird's idle timeout already bounds a
/// request head that never completes (no part arrives) and a body that stops; this bounds a
/// body that never stops arriving, a byte at a time, holding a connection for good.
final class SlowRequestGuard: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart

    let window: TimeAmount
    let minimumBytes: Int
    private var reading = false
    private var bytesInWindow = 0
    private var timer: Scheduled<Void>?

    init(window: TimeAmount, minimumBytes: Int = 1024) {
        self.window = window
        self.minimumBytes = minimumBytes
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head:
            reading = true
            bytesInWindow = 0
            schedule(context)
        case .body(let buffer):
            bytesInWindow += buffer.readableBytes
        case .end:
            reading = false
            timer?.cancel()
            timer = nil
        }
        context.fireChannelRead(data)
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        context.fireChannelInactive()
    }

    private func schedule(_ context: ChannelHandlerContext) {
        timer?.cancel()
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleTask(in: window) {
            let (handler, context) = loopBound.value
            guard handler.reading else { return }
            if handler.bytesInWindow < handler.minimumBytes {
                context.close(promise: nil)
            } else {
                handler.bytesInWindow = 0
                handler.schedule(context)
            }
        }
    }
}
