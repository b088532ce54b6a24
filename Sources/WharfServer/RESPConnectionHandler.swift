import Atomics
import Logging
import NIOCore
import WharfEngine
import WharfProtocol
import WharfStorage

/// Asks a connection to close once the replies it has produced are sent (CLIENT KILL,
/// idle timeout, server shutdown).
struct GracefulCloseEvent: Sendable {}

/// Another thread left something in the connection's mailbox (pub/sub messages, the reply
/// of a served blocking command).
struct DeliveryEvent: Sendable {}

/// The SwiftNIO transport for one client connection: feeds each read to the connection core
/// and sends all replies of a read batch with one flush.
///
/// Input that ends inside a command is kept until the rest arrives; the decoder resumes
/// where it stopped. When the peer stops reading replies (the channel's write-buffer water
/// marks) the handler turns auto-read off and stops processing, so a client that never
/// reads cannot make the server buffer without bound.
final class RESPConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let core: RESPConnectionCore
    /// Unprocessed input: an incomplete command, or commands left while paused.
    private var pending: ByteBuffer?
    private var paused = false
    private var closed = false
    private var retryScheduled = false
    private let onClose: @Sendable () -> Void
    private let logger: Logger

    /// Replies beyond this size are sent before the batch ends.
    static let eagerFlushBytes = 64 * 1024
    /// Reply buffers that grew past this are dropped after flushing rather than kept.
    static let retainedBufferLimit = 256 * 1024

    init(
        engine: Engine, session: ClientSession, allocator: ByteBufferAllocator, logger: Logger,
        onClose: @escaping @Sendable () -> Void
    ) {
        self.core = RESPConnectionCore(engine: engine, session: session, output: allocator.buffer(capacity: 4096))
        self.logger = logger
        self.onClose = onClose
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var input = self.unwrapInboundIn(data)
        self.core.countInput(input.readableBytes)
        if self.core.isClosing { return }
        if var pending = self.pending {
            self.pending = nil
            pending.writeBuffer(&input)
            input = pending
        }
        if !self.paused { self.run(&input, context: context) }
        if input.readableBytes > 0 && !self.core.isClosing {
            self.pending = input
            if !self.core.checkQueryBuffer(pendingBytes: input.readableBytes) {
                self.pending = nil
                self.closeAfterFlush(context: context)
            }
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        self.flush(context: context)
        context.fireChannelReadComplete()
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.core.disconnect()
        if !self.closed {
            self.closed = true
            self.onClose()
        }
        context.fireChannelInactive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is GracefulCloseEvent {
            self.core.beginClosing()
            self.closeAfterFlush(context: context)
            return
        }
        if event is DeliveryEvent {
            let wasBlocked = self.core.blockedWaiter != nil
            guard self.core.takeDeliveries() else {
                // Past the output buffer limit: closed at once, as Redis does.
                let info = self.core.session.info
                self.logger.warning(
                    "Client closed for overcoming of output buffer limits",
                    metadata: ["id": "\(info.id)", "addr": "\(info.address)", "class": "pubsub"])
                context.close(promise: nil)
                return
            }
            if wasBlocked && self.core.blockedWaiter == nil { self.resumeInput(context: context) }
            self.flush(context: context)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // Connection resets and the like: there is nobody to reply to.
        context.close(promise: nil)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable && self.paused {
            self.paused = false
            if var input = self.pending, !self.core.isClosing {
                self.pending = nil
                self.run(&input, context: context)
                if input.readableBytes > 0 && !self.core.isClosing { self.pending = input }
                self.flush(context: context)
            }
            if !self.paused {
                // Turning auto-read back on also issues the read that was held back.
                try? context.channel.syncOptions?.setOption(.autoRead, value: true)
            }
        }
        context.fireChannelWritabilityChanged()
    }

    /// Processes `input` until it needs more bytes, the peer stops reading, or the
    /// connection is closing.
    private func run(_ input: inout ByteBuffer, context: ChannelHandlerContext) {
        while true {
            switch self.core.process(&input, outputLimit: Self.eagerFlushBytes) {
            case .needInput:
                return
            case .outputFull:
                self.flush(context: context)
                if !context.channel.isWritable {
                    self.paused = true
                    try? context.channel.syncOptions?.setOption(.autoRead, value: false)
                    return
                }
            case .close:
                self.closeAfterFlush(context: context)
                return
            case .blocked:
                if let deadline = self.core.blockedDeadline { self.scheduleTimeout(deadline, context: context) }
                return
            }
        }
    }

    /// Wakes the connection when its blocking command times out.
    private func scheduleTimeout(_ deadline: Int64, context: ChannelHandlerContext) {
        let now = EngineClock.monotonicNanoseconds() / 1_000_000
        let loop = context.eventLoop.assumeIsolatedUnsafeUnchecked()
        loop.scheduleTask(in: .milliseconds(max(0, deadline - now))) {
            if self.core.expireWaitIfDue(now: EngineClock.monotonicNanoseconds() / 1_000_000) {
                self.resumeInput(context: context)
                self.flush(context: context)
            } else if let next = self.core.blockedDeadline, next == deadline {
                // The clock read came a moment early; look again shortly.
                self.scheduleTimeout(deadline, context: context)
            }
        }
    }

    /// A blocking command ended: run the commands that arrived meanwhile.
    private func resumeInput(context: ChannelHandlerContext) {
        guard var input = self.pending, !self.paused, !self.core.isClosing else { return }
        self.pending = nil
        self.run(&input, context: context)
        if input.readableBytes > 0 && !self.core.isClosing { self.pending = input }
    }

    private func flush(context: ChannelHandlerContext) {
        guard self.core.output.readableBytes > 0 else { return }
        if let log = self.core.engine.persistence?.log, self.core.appendedLSN > 0 {
            let required = self.core.appendedLSN
            if required > log.written { log.writePending() }
            let held = required > log.written || (log.policy == .always && required > log.durable)
            if held {
                // Replies wait for their log records; check again shortly.
                if log.policy == .always { log.requestSync() }
                if !self.retryScheduled {
                    self.retryScheduled = true
                    context.eventLoop.assumeIsolatedUnsafeUnchecked().scheduleTask(in: .microseconds(200)) {
                        self.retryScheduled = false
                        self.flush(context: context)
                    }
                }
                return
            }
        }
        let reply = self.core.output
        self.core.countOutput(reply.readableBytes)
        context.writeAndFlush(self.wrapOutboundOut(reply), promise: nil)
        // What the channel has not sent yet counts against the pub/sub output limit.
        self.core.reportUnsent(((try? context.channel.syncOptions?.getOption(.bufferedWritableBytes)) ?? nil) ?? 0)
        if reply.capacity > Self.retainedBufferLimit {
            self.core.output = context.channel.allocator.buffer(capacity: 4096)
        } else {
            // Reuses the storage when the socket took everything (the usual case).
            self.core.output.clear()
        }
    }

    private func closeAfterFlush(context: ChannelHandlerContext) {
        self.pending = nil
        let reply = self.core.output
        self.core.output.clear()
        let promise = context.eventLoop.makePromise(of: Void.self)
        context.writeAndFlush(self.wrapOutboundOut(reply), promise: promise)
        let channel = context.channel
        promise.futureResult.whenComplete { _ in channel.close(promise: nil) }
    }
}
