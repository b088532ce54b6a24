import Atomics
import NIOCore
import WharfEngine
import WharfProtocol

/// Asks a connection to close once the replies it has produced are sent (CLIENT KILL,
/// idle timeout, server shutdown).
struct GracefulCloseEvent: Sendable {}

/// One client connection: decodes the commands of each read, runs them inline on the event
/// loop, and sends all their replies with one flush.
///
/// Input that ends inside a command is kept until the rest arrives; the decoder resumes
/// where it stopped. When the peer stops reading replies the handler stops reading input
/// (the channel's write-buffer water marks), so a client that never reads cannot make the
/// server buffer without bound.
final class RESPConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = Never
    typealias OutboundOut = ByteBuffer

    private let engine: Engine
    private let decoder: RESPCommandDecoder
    private var commandContext: CommandContext
    private let session: ClientSession
    /// Unprocessed input: the start of a command whose end has not arrived, or commands
    /// left while output is paused.
    private var pending: ByteBuffer?
    /// Set when the peer is not reading: input processing waits for writability and the
    /// channel stops reading (auto-read off), so TCP flow control pushes back on the client.
    private var paused = false
    private var closing = false
    private var needsFlush = false
    private let onClose: @Sendable () -> Void

    /// Replies beyond this size are sent before the batch ends, so one pipelined read cannot
    /// build an unbounded reply buffer.
    static let eagerFlushBytes = 64 * 1024
    /// Reply buffers that grew past this are dropped after flushing rather than kept.
    static let retainedBufferLimit = 256 * 1024

    init(engine: Engine, session: ClientSession, allocator: ByteBufferAllocator, onClose: @escaping @Sendable () -> Void) {
        self.engine = engine
        self.session = session
        self.decoder = RESPCommandDecoder(isAuthenticated: session.isAuthenticated)
        self.commandContext = CommandContext(engine: engine, session: session, reply: RESPReplyWriter(buffer: allocator.buffer(capacity: 4096)))
        self.onClose = onClose
    }

    // MARK: Inbound

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var input = self.unwrapInboundIn(data)
        self.session.stats.add(.netInputBytes, input.readableBytes)
        if self.closing { return }
        if var pending = self.pending {
            self.pending = nil
            pending.writeBuffer(&input)
            input = pending
        }
        if self.paused {
            self.pending = input
            self.checkQueryBufferLimit(context: context)
            return
        }
        self.process(&input, context: context)
        if input.readableBytes > 0 && !self.closing {
            self.pending = input
            self.checkQueryBufferLimit(context: context)
        }
        self.session.info.queryBufferBytes.store(self.pending?.readableBytes ?? 0, ordering: .relaxed)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        self.flushReplies(context: context)
        context.fireChannelReadComplete()
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.closing = true
        self.onClose()
        context.fireChannelInactive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is GracefulCloseEvent {
            self.closeAfterFlush(context: context)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // Connection resets and the like: nothing to reply to.
        context.close(promise: nil)
    }

    // MARK: Read pacing

    private func pause(context: ChannelHandlerContext) {
        guard !self.paused else { return }
        self.paused = true
        try? context.channel.syncOptions?.setOption(.autoRead, value: false)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable && self.paused {
            self.paused = false
            if var input = self.pending, !self.closing {
                self.pending = nil
                self.process(&input, context: context)
                if input.readableBytes > 0 && !self.closing { self.pending = input }
                self.flushReplies(context: context)
            }
            if !self.paused {
                // Turning auto-read back on also issues the read that was held back.
                try? context.channel.syncOptions?.setOption(.autoRead, value: true)
            }
        }
        context.fireChannelWritabilityChanged()
    }

    // MARK: Processing

    private func process(_ input: inout ByteBuffer, context: ChannelHandlerContext) {
        let limits = self.engine.settings
        self.decoder.limits = RESPRequestLimits(
            maxBulkLength: limits.protoMaxBulkLength.load(ordering: .relaxed),
            maxArguments: limits.protoMaxMultibulkLength.load(ordering: .relaxed),
            maxInlineLength: limits.protoInlineMaxSize.load(ordering: .relaxed),
            maxQueryBuffer: limits.clientQueryBufferLimit.load(ordering: .relaxed))
        self.commandContext.batchTime = self.engine.clock.nowMilliseconds()
        var consumed = 0
        var failure: RESPProtocolError?
        input.withUnsafeReadableBytes { bytes in
            while !self.closing && !self.paused {
                let frame: RESPFrame
                do throws(RESPProtocolError) {
                    guard let decoded = try self.decoder.decode(bytes, frameStart: consumed) else { break }
                    frame = decoded
                } catch {
                    failure = error
                    break
                }
                if frame.argumentCount > 0 {
                    self.commandContext.arguments = self.decoder.arguments(of: frame, in: bytes, frameStart: consumed)
                    self.engine.execute(&self.commandContext)
                    self.decoder.isAuthenticated = self.session.isAuthenticated
                    if self.session.closeAfterReply { self.closing = true }
                }
                consumed += frame.length
                if self.commandContext.reply.buffer.readableBytes >= Self.eagerFlushBytes {
                    self.flushReplies(context: context)
                    if !context.channel.isWritable { self.pause(context: context) }
                }
            }
        }
        input.moveReaderIndex(forwardBy: consumed)
        let info = self.session.info
        info.lastInteraction.store(self.commandContext.now, ordering: .relaxed)
        info.lastCommand.store(self.commandContext.lastCommand, ordering: .relaxed)
        if let failure {
            self.commandContext.reply.writeError(failure.replyText)
            self.closeAfterFlush(context: context)
            return
        }
        if self.closing {
            self.closeAfterFlush(context: context)
            return
        }
        if self.commandContext.reply.buffer.readableBytes > 0 { self.needsFlush = true }
    }

    private func checkQueryBufferLimit(context: ChannelHandlerContext) {
        guard let pending = self.pending else { return }
        let limit = self.engine.settings.clientQueryBufferLimit.load(ordering: .relaxed)
        if pending.readableBytes > limit {
            self.pending = nil
            self.decoder.reset()
            self.commandContext.reply.writeError("ERR Protocol error: client query buffer exceeds client-query-buffer-limit (\(limit) bytes)")
            self.closeAfterFlush(context: context)
        }
    }

    private func flushReplies(context: ChannelHandlerContext) {
        let reply = self.commandContext.reply.buffer
        guard reply.readableBytes > 0 else { return }
        self.session.stats.add(.netOutputBytes, reply.readableBytes)
        context.writeAndFlush(self.wrapOutboundOut(reply), promise: nil)
        self.needsFlush = false
        if self.commandContext.reply.buffer.capacity > Self.retainedBufferLimit {
            self.commandContext.reply.buffer = context.channel.allocator.buffer(capacity: 4096)
        } else {
            // Reuses the storage when the socket took everything (the usual case).
            self.commandContext.reply.buffer.clear()
        }
    }

    private func closeAfterFlush(context: ChannelHandlerContext) {
        self.closing = true
        self.pending = nil
        let reply = self.commandContext.reply.buffer
        self.commandContext.reply.buffer.clear()
        let promise = context.eventLoop.makePromise(of: Void.self)
        context.writeAndFlush(self.wrapOutboundOut(reply), promise: promise)
        let channel = context.channel
        promise.futureResult.whenComplete { _ in channel.close(promise: nil) }
    }
}
