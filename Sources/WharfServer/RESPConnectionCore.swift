import Atomics
import NIOCore
import WharfEngine
import WharfProtocol

/// The transport-independent part of a client connection: decodes commands out of the
/// input, runs them on the engine, and collects the replies in one output buffer.
///
/// Both transports (the epoll loop and the SwiftNIO handler) own one per connection and
/// differ only in how bytes reach it and how the output leaves.
final class RESPConnectionCore {
    /// Why ``process(_:outputLimit:)`` returned.
    enum Outcome {
        /// Every complete command has run; the rest of the input (if any) is an incomplete command.
        case needInput
        /// The output reached the limit; send it before processing more.
        case outputFull
        /// The connection must close once the output is sent (QUIT, protocol error, kill).
        case close
        /// A blocking command waits for data; input stays unprocessed until ``resume``.
        case blocked
    }

    // Unretained views of objects this core owns (through `owners`) or that outlive it, so
    // the per-command loop does no reference counting.
    unowned(unsafe) let engine: Engine
    unowned(unsafe) let session: ClientSession
    private unowned(unsafe) let decoder: RESPCommandDecoder
    private let owners: (Engine, ClientSession, RESPCommandDecoder)
    // Unchecked exclusivity: the core belongs to its connection's loop thread alone, and
    // `context` is passed inout to every command.
    @exclusivity(unchecked) private var context: CommandContext
    @exclusivity(unchecked) private(set) var isClosing = false
    /// The wait of the blocking command this connection is in, if any.
    @exclusivity(unchecked) private(set) var blockedWaiter: Waiter?
    @exclusivity(unchecked) private var settingsGeneration = -1

    init(engine: Engine, session: ClientSession, output: ByteBuffer) {
        let decoder = RESPCommandDecoder(isAuthenticated: session.isAuthenticated)
        self.owners = (engine, session, decoder)
        self.engine = engine
        self.session = session
        self.decoder = decoder
        self.context = CommandContext(engine: engine, session: session, reply: RESPReplyWriter(buffer: output))
    }

    /// Replies not yet sent.
    var output: ByteBuffer {
        get { self.context.reply.buffer }
        _modify { yield &self.context.reply.buffer }
    }

    /// The log position this connection's replies depend on (its last appended record).
    var appendedLSN: UInt64 { self.context.appendedLSN }

    /// Runs the complete commands at the front of `input`, consuming them.
    func process(_ input: inout ByteBuffer, outputLimit: Int) -> Outcome {
        if self.isClosing { return .close }
        if self.blockedWaiter != nil { return .blocked }
        self.refreshLimits()
        self.context.batchTime = self.engine.clock.nowMilliseconds()
        var consumed = 0
        var failure: RESPProtocolError?
        var outcome = Outcome.needInput
        // Strong references taken once per batch: each use of an unowned(unsafe) one inside
        // the loop would retain and release it again, per command.
        let decoder = self.decoder
        let engine = self.engine
        let session = self.session
        input.withUnsafeReadableBytes { bytes in
            while true {
                let frame: RESPFrame
                do throws(RESPProtocolError) {
                    guard let decoded = try decoder.decode(bytes, frameStart: consumed) else { return }
                    frame = decoded
                } catch {
                    failure = error
                    return
                }
                if frame.argumentCount > 0 {
                    self.context.arguments = decoder.arguments(of: frame, in: bytes, frameStart: consumed)
                    engine.execute(&self.context)
                    decoder.isAuthenticated = session.isAuthenticated
                }
                if self.context.postponed {
                    // CLIENT PAUSE: the command stays in the input and runs when the pause ends.
                    self.context.postponed = false
                } else {
                    consumed += frame.length
                }
                if let waiter = self.context.blockedWaiter {
                    self.context.blockedWaiter = nil
                    self.blockedWaiter = waiter
                    session.info.setFlag(ClientFlags.blocked, true)
                    outcome = .blocked
                    return
                }
                if session.closeAfterReply {
                    outcome = .close
                    return
                }
                if self.context.reply.buffer.readableBytes >= outputLimit {
                    outcome = .outputFull
                    return
                }
            }
        }
        input.moveReaderIndex(forwardBy: consumed)
        let info = self.session.info
        info.lastInteraction.store(self.context.now, ordering: .relaxed)
        info.queryBufferBytes.store(input.readableBytes, ordering: .relaxed)
        if let failure {
            self.context.reply.writeError(failure.replyText)
            outcome = .close
        }
        if outcome == .close {
            self.isClosing = true
            input.clear()
        }
        return outcome
    }

    /// Checks the unprocessed input against `client-query-buffer-limit`; over it, queues
    /// an error naming the limit and marks the connection closing.
    func checkQueryBuffer(pendingBytes: Int) -> Bool {
        let limit = self.engine.settings.clientQueryBufferLimit.load(ordering: .relaxed)
        guard pendingBytes > limit else { return true }
        self.decoder.reset()
        self.context.reply.writeError(
            "ERR Protocol error: client query buffer exceeds client-query-buffer-limit (\(limit) bytes)")
        self.isClosing = true
        return false
    }

    /// Marks the connection as closing without a reply (CLIENT KILL, shutdown, idle timeout).
    func beginClosing() {
        self.isClosing = true
    }

    // MARK: Blocking and delivery

    /// The blocked command's deadline (monotonic ms), if it has one.
    var blockedDeadline: Int64? { self.blockedWaiter?.deadline }

    /// Ends the wait with the reply another client's write produced (nil: the timeout
    /// reply); the commands that arrived meanwhile may then run.
    func resume(_ waiter: Waiter, reply: ByteBuffer?, requiredLSN: UInt64) {
        guard self.blockedWaiter === waiter else { return }
        self.blockedWaiter = nil
        self.session.info.setFlag(ClientFlags.blocked, false)
        if var reply {
            self.context.reply.buffer.writeBuffer(&reply)
        } else {
            CommandContext.writeTimeoutReply(waiter.operation, into: &self.context.reply)
        }
        self.context.appendedLSN = max(self.context.appendedLSN, requiredLSN)
    }

    /// Times the wait out if its deadline has passed. Returns whether the client resumed.
    func expireWaitIfDue(now: Int64) -> Bool {
        guard let waiter = self.blockedWaiter, let deadline = waiter.deadline, now >= deadline else { return false }
        // A writer may be serving it right now; then its reply arrives through the mailbox.
        guard waiter.claim() else { return false }
        self.engine.blocking.remove(waiter)
        self.resume(waiter, reply: nil, requiredLSN: 0)
        return true
    }

    /// Takes what other threads delivered (pub/sub messages, a served wait) into the
    /// output. Returns false when the client passed its output buffer limit and must close.
    func takeDeliveries() -> Bool {
        guard let mailbox = self.session.mailbox else { return true }
        if mailbox.isOverLimit { return false }
        let delivery = mailbox.drain()
        if var messages = delivery.messages { self.context.reply.buffer.writeBuffer(&messages) }
        if let unblocked = delivery.unblocked {
            self.resume(unblocked.waiter, reply: unblocked.reply, requiredLSN: unblocked.requiredLSN)
        }
        return true
    }

    /// Publishes how much output is unsent, which pub/sub delivery checks against the limit.
    func reportUnsent(_ bytes: Int) {
        self.session.mailbox?.unsentBytes.store(bytes, ordering: .relaxed)
        self.session.info.outputBufferBytes.store(bytes, ordering: .relaxed)
    }

    /// Releases what the connection holds in the engine when it goes away: a pending wait
    /// and its subscriptions.
    func disconnect() {
        if let waiter = self.blockedWaiter {
            self.blockedWaiter = nil
            if waiter.claim() { self.engine.blocking.remove(waiter) }
        }
        self.engine.disconnect(self.session)
    }

    /// Re-reads the decoder limits when CONFIG SET may have changed them.
    private func refreshLimits() {
        let settings = self.engine.settings
        let generation = settings.generation.load(ordering: .relaxed)
        if generation == self.settingsGeneration { return }
        self.settingsGeneration = generation
        self.decoder.limits = RESPRequestLimits(
            maxBulkLength: settings.protoMaxBulkLength.load(ordering: .relaxed),
            maxArguments: settings.protoMaxMultibulkLength.load(ordering: .relaxed),
            maxInlineLength: settings.protoInlineMaxSize.load(ordering: .relaxed),
            maxQueryBuffer: settings.clientQueryBufferLimit.load(ordering: .relaxed))
    }

    /// Accounts bytes received and sent in INFO's network counters.
    func countInput(_ bytes: Int) {
        self.session.stats.add(.netInputBytes, bytes)
    }

    func countOutput(_ bytes: Int) {
        self.session.stats.add(.netOutputBytes, bytes)
    }
}
