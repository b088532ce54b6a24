import NIOCore
import Synchronization
import WharfProtocol

/// The client side of a connection's pipeline: writes requests, decodes replies and hands
/// each to the request at the head of the queue. Bound to the channel's event loop, so its
/// state needs no lock; only the ``Outbox`` that other threads fill is shared.
final class ReplyHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let outbox: SharedOutbox
    private let decoder: RESPValueDecoder
    private let maximumReplyBytes: Int
    // Unchecked exclusivity on the state touched per reply: the handler belongs to its
    // channel's event loop alone, and the runtime checks cost several percent of a request.
    private var context: ChannelHandlerContext?
    @exclusivity(unchecked) private var inflight = CircularBuffer<PendingRequest>(initialCapacity: 16)
    /// Bytes written by requests made on the event loop, sent at the end of the loop's turn.
    @exclusivity(unchecked) private var unsent = ByteBuffer()
    @exclusivity(unchecked) private var flushScheduled = false
    @exclusivity(unchecked) private var received = ByteBuffer()
    private let emptyBuffer = ByteBuffer()
    @exclusivity(unchecked) private var failure: WharfClientError?

    /// Receives push messages (RESP3 `>`, or every array on a RESP2 subscriber connection).
    var pushReceiver: ((RESPValue) -> Void)?
    /// On a RESP2 connection in subscribe mode every reply is a message, not an answer.
    @exclusivity(unchecked) var arraysArePushes = false
    /// Called once when the connection closes, with the reason.
    var closeReceiver: ((WharfClientError) -> Void)?

    /// The connection's executor: tasks that prefer it and are resumed by a reply run as soon
    /// as the read that delivered the reply is handled.
    private let executor: EventLoopTaskExecutor

    init(outbox: SharedOutbox, executor: EventLoopTaskExecutor, maximumReplyBytes: Int, maximumNesting: Int) {
        self.outbox = outbox
        self.executor = executor
        self.maximumReplyBytes = maximumReplyBytes
        self.decoder = RESPValueDecoder(maxDepth: maximumNesting)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        self.unsent = context.channel.allocator.buffer(capacity: 0)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    // MARK: Writing

    /// Queues a request made on the event loop; it is written with the others of this turn.
    func enqueue(
        _ command: RESPCommand, waiter: PendingRequest.Waiter, replies: Int, id: UInt64,
        deadline: NIODeadline?
    ) {
        if self.failure != nil {
            var request = PendingRequest(id: id, waiter: waiter, remainingReplies: 0, deadline: nil)
            request.fail(self.closedError)
            return
        }
        command.write(into: &self.unsent)
        self.track(PendingRequest(id: id, waiter: waiter, remainingReplies: replies, deadline: deadline))
        self.scheduleFlush()
    }

    /// Queues an encoded batch; `waiter` collects its replies or steps over them.
    func enqueue(encoded batch: RESPCommandBatch, waiter: PendingRequest.Waiter, id: UInt64, deadline: NIODeadline?) {
        if self.failure != nil {
            var request = PendingRequest(id: id, waiter: waiter, remainingReplies: 0, deadline: nil)
            request.fail(self.closedError)
            return
        }
        self.unsent.writeImmutableBuffer(batch.bytes)
        self.track(PendingRequest(id: id, waiter: waiter, remainingReplies: batch.count, deadline: deadline))
        // A batch is already one write: sending it now lets the server start on it while
        // this loop handles other connections, instead of at the end of the turn.
        self.flush()
    }

    /// Writes bytes that expect no reply of their own (SUBSCRIBE and friends, whose answers
    /// arrive as push messages).
    func enqueueWithoutReply(_ command: RESPCommand) {
        guard self.failure == nil else { return }
        command.write(into: &self.unsent)
        self.scheduleFlush()
    }

    private func track(_ request: PendingRequest) {
        var request = request
        if let deadline = request.deadline, let context = self.context {
            let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
            let id = request.id
            request.timer = context.eventLoop.scheduleTask(deadline: deadline) {
                bound.value.abandon(
                    id, WharfClientError(.timeout, "no reply before the deadline", mayHaveBeenApplied: true))
            }
        }
        self.inflight.append(request)
    }

    private func scheduleFlush() {
        guard !self.flushScheduled, let context = self.context else { return }
        self.flushScheduled = true
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        context.eventLoop.execute { bound.value.flush() }
    }

    /// Takes what other threads queued, then writes everything of this turn in one write.
    func flush() {
        self.flushScheduled = false
        let (bytes, requests): (ByteBuffer, [PendingRequest])
        if !self.outbox.hasWork.load(ordering: .acquiring) {
            (bytes, requests) = (ByteBuffer(), [])
        } else {
            (bytes, requests) = self.takeOutbox()
        }
        for request in requests { self.track(request) }
        guard let context = self.context else { return }
        if self.unsent.readableBytes == 0 {
            if bytes.readableBytes > 0 { context.writeAndFlush(NIOAny(bytes), promise: nil) }
            return
        }
        if bytes.readableBytes > 0 {
            var bytes = bytes
            self.unsent.writeBuffer(&bytes)
        }
        context.writeAndFlush(NIOAny(self.unsent), promise: nil)
        // The socket usually took the bytes at once and NIO let go of the buffer, so clearing
        // keeps its storage; if a write is still pending, clearing makes a new one.
        self.unsent.clear()
    }

    private func takeOutbox() -> (ByteBuffer, [PendingRequest]) {
        self.outbox.withLock { outbox -> (ByteBuffer, [PendingRequest]) in
            self.outbox.hasWork.store(false, ordering: .relaxed)
            outbox.flushScheduled = false
            guard !outbox.requests.isEmpty || outbox.bytes.readableBytes > 0 else { return (ByteBuffer(), []) }
            let taken = (outbox.bytes, outbox.requests)
            outbox.bytes = ByteBuffer()
            outbox.requests = []
            return taken
        }
    }

    // MARK: Reading

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var incoming = self.unwrapInboundIn(data)
        if self.received.readableBytes == 0 {
            self.received = incoming
        } else {
            self.received.writeBuffer(&incoming)
        }
        self.executor.beginDelivering()
        defer { self.executor.endDelivering() }
        while true {
            let value: RESPValue?
            do {
                if self.headDiscardsReplies {
                    // Step over as many of the head's replies as have arrived, then settle once.
                    if try self.skipRepliesOfHead() { continue }
                    if self.received.readableBytes == 0 { break }
                    // A push message, or an incomplete reply: the general path decides.
                }
                value = try self.decoder.decode(&self.received)
            } catch {
                self.close(context, WharfClientError(.protocolError, error.description, mayHaveBeenApplied: true))
                return
            }
            guard let value else { break }
            if !self.deliver(value) {
                self.close(context, WharfClientError(.protocolError, "a reply arrived with no request waiting for it"))
                return
            }
        }
        if self.received.readableBytes == 0 {
            // Let go of the read buffer so NIO's receive-buffer pool can reuse it.
            self.received = self.emptyBuffer
        } else if self.received.readableBytes > self.maximumReplyBytes {
            self.close(
                context,
                WharfClientError(
                    .protocolError,
                    "reply larger than \(self.maximumReplyBytes) bytes (maximumReplyBytes)",
                    mayHaveBeenApplied: true))
        }
    }

    private var headDiscardsReplies: Bool {
        guard !self.inflight.isEmpty, case .discarding = self.inflight[self.inflight.startIndex].waiter else {
            return false
        }
        return true
    }

    /// Steps over the replies of the head request (which discards them) that are in the
    /// buffer, stopping at a push message or an incomplete reply; settles the request when
    /// its last reply is in. Returns true if the request was settled.
    private func skipRepliesOfHead() throws(RESPProtocolError) -> Bool {
        let head = self.inflight.startIndex
        var remaining = self.inflight[head].remainingReplies
        var firstError: String?
        while remaining > 0, let first = self.received.getInteger(at: self.received.readerIndex, as: UInt8.self),
            first != UInt8(ascii: ">") && !(self.arraysArePushes && first == UInt8(ascii: "*"))
        {
            guard let skipped = try self.decoder.skip(&self.received) else { break }
            if case .error(let line) = skipped, firstError == nil { firstError = line }
            remaining -= 1
        }
        if let firstError, self.inflight[head].firstError == nil { self.inflight[head].firstError = firstError }
        self.inflight[head].remainingReplies = remaining
        guard remaining == 0 else { return false }
        self.settleDiscarding()
        return true
    }

    /// Counts a reply decoded by the general path against the head request (which
    /// discards its replies).
    private func deliverSkipped(_ skipped: RESPValueDecoder.SkippedValue) {
        let head = self.inflight.startIndex
        if case .error(let line) = skipped, self.inflight[head].firstError == nil {
            self.inflight[head].firstError = line
        }
        self.inflight[head].remainingReplies -= 1
        guard self.inflight[head].remainingReplies == 0 else { return }
        self.settleDiscarding()
    }

    private func settleDiscarding() {
        let request = self.inflight.removeFirst()
        request.timer?.cancel()
        guard case .discarding(let continuation) = request.waiter else { return }
        if let line = request.firstError {
            continuation.resume(throwing: WharfClientError.server(line))
        } else {
            continuation.resume()
        }
    }

    /// Hands one decoded value to its receiver; false if nobody expected it.
    private func deliver(_ value: RESPValue) -> Bool {
        switch value {
        case .push:
            self.pushReceiver?(value)
            return true
        case .array where self.arraysArePushes:
            self.pushReceiver?(value)
            return true
        default:
            break
        }
        guard !self.inflight.isEmpty else { return false }
        let head = self.inflight.startIndex
        switch self.inflight[head].waiter {
        case .single(let continuation):
            let request = self.inflight.removeFirst()
            request.timer?.cancel()
            continuation.resume(returning: value)
        case .batch(let collector):
            collector.values.append(value)
            self.inflight[head].remainingReplies -= 1
            if self.inflight[head].remainingReplies == 0 {
                let request = self.inflight.removeFirst()
                request.timer?.cancel()
                collector.continuation.resume(returning: collector.values)
            }
        case .discarding:
            if case .error(let line) = value { self.deliverSkipped(.error(line)) } else { self.deliverSkipped(.value) }
        case .abandoned:
            self.inflight[head].remainingReplies -= 1
            if self.inflight[head].remainingReplies <= 0 { self.inflight.removeFirst() }
        }
        return true
    }

    /// Gives up waiting for request `id` (deadline or cancellation); its reply will be dropped.
    func abandon(_ id: UInt64, _ error: WharfClientError) {
        if let index = self.inflight.firstIndex(where: { $0.id == id }) {
            self.inflight[index].fail(error)
            return
        }
        let found = self.outbox.withLock { outbox -> PendingRequest? in
            guard let index = outbox.requests.firstIndex(where: { $0.id == id }) else { return nil }
            let request = outbox.requests[index]
            outbox.requests[index].waiter = .abandoned
            return request
        }
        var request = found
        request?.fail(WharfClientError(error.code, error.message, mayHaveBeenApplied: false))
    }

    // MARK: Closing

    func channelInactive(context: ChannelHandlerContext) {
        self.failAll(WharfClientError(.connectionLost, "the connection closed", mayHaveBeenApplied: true))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        self.close(context, WharfClientError(.connectionLost, "\(error)", mayHaveBeenApplied: true))
    }

    private func close(_ context: ChannelHandlerContext, _ error: WharfClientError) {
        self.failAll(error)
        context.close(promise: nil)
    }

    /// The error for a request made after the connection closed: it certainly did not run.
    private var closedError: WharfClientError {
        guard let failure = self.failure else { return WharfClientError(.connectionLost, "the connection is closed") }
        if failure.code == .clientClosed { return failure.notApplied }
        return WharfClientError(.connectionLost, "the connection is closed (\(failure.message))")
    }

    /// Fails every waiting request: those written may have run, those not yet written did not.
    func failAll(_ error: WharfClientError) {
        guard self.failure == nil else { return }
        self.failure = error
        let queued = self.outbox.withLock { outbox -> [PendingRequest] in
            outbox.failure =
                error.code == .clientClosed
                ? error.notApplied
                : WharfClientError(.connectionLost, "the connection is closed (\(error.message))")
            let requests = outbox.requests
            outbox.requests = []
            outbox.bytes.clear()
            return requests
        }
        while var request = self.inflight.popFirst() { request.fail(error) }
        for var request in queued { request.fail(WharfClientError(.connectionLost, error.message)) }
        self.closeReceiver?(error)
        self.closeReceiver = nil
        self.pushReceiver = nil
    }
}

extension WharfClientError {
    /// The same failure for a request that never reached the socket.
    var notApplied: WharfClientError {
        WharfClientError(self.code, self.message, mayHaveBeenApplied: false)
    }
}
