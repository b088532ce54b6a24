import Atomics
import NIOCore
import Synchronization
public import WharfProtocol
import WharfStorage

/// The engine's entry point for in-process callers: a command goes in as byte strings and
/// its reply comes out as a ``RESPValue``; no socket and no request encoding on the way.
///
/// A session is one client of the engine, with a client's state (selected database, WATCH,
/// MULTI, subscriptions). Calls on one session are serialized; callers that want
/// parallelism use several sessions. Writes return once their log record is written (and,
/// under `appendfsync always`, synced), the same guarantee a server client gets.
///
/// ```swift
/// let session = EmbeddedSession(engine: engine)
/// _ = await session.run(["SET", "greeting", "hello"].map { Array($0.utf8) })
/// let reply = await session.run(["GET", "greeting"].map { Array($0.utf8) })  // .bulkString("hello")
/// ```
public final class EmbeddedSession: Sendable {
    /// The engine, and the session's command state under a lock: one command at a time.
    private let engine: Engine
    private let core: Mutex<Core>
    /// Where deliveries land: the blocked command's state and the push handler.
    private let inbox = EmbeddedInbox()
    /// The mailbox through which other clients' writes answer this session's blocking
    /// commands and pub/sub messages arrive.
    private let mailbox: ClientMailbox

    struct Core {
        var context: CommandContext
        var argumentBytes: [UInt8] = []
        var spans: [ArgumentSpan] = []
    }

    /// A blocking command waiting for its reply, and replies that arrived before the caller
    /// started waiting.
    struct BlockedState {
        var waiter: Waiter?
        var continuation: CheckedContinuation<(ByteBuffer?, UInt64), Never>?
        var early: (ByteBuffer?, UInt64)?
    }

    /// A session on `engine`, speaking RESP3 (maps, sets and pushes keep their types).
    public init(engine: Engine, name: String = "embedded") {
        self.engine = engine
        let info = ClientInfo(
            id: engine.clients.makeID(), address: name, localAddress: "", createdAt: engine.clock.nowMilliseconds(),
            close: nil)
        // The mailbox's wake runs on the deliverer's thread; it hands the delivery on at once.
        // The inbox, not the session, is what it reaches: nothing refers to the session
        // weakly, which would send every retain of it down the slow (side-table) path.
        let inbox = self.inbox
        let mailbox = ClientMailbox(wake: { inbox.takeDeliveries() })
        inbox.mailbox = mailbox
        self.mailbox = mailbox
        self.core = Mutex(Self.makeCore(engine: engine, info: info, mailbox: mailbox))
    }

    deinit {
        self.core.withLock { core in self.engine.disconnect(core.context.session) }
    }

    private static func makeCore(engine: Engine, info: ClientInfo, mailbox: ClientMailbox) -> sending Core {
        let session = engine.makeSession(info: info)
        session.protocolVersion = .resp3
        session.isAuthenticated = true
        session.mailbox = mailbox
        return Core(
            context: CommandContext(
                engine: engine, session: session, reply: RESPReplyWriter(buffer: ByteBuffer(), version: .resp3)))
    }

    /// Sets the function that receives this session's pub/sub messages (RESP3 pushes).
    public func onPush(_ handler: (@Sendable (RESPValue) -> Void)?) {
        self.inbox.pushHandler.withLock { $0 = handler }
    }

    /// Runs one command and returns its reply (an error reply is returned, not thrown).
    /// A blocking command (BLPOP, XREADGROUP BLOCK …) suspends until it is served or times
    /// out; cancelling the task ends the wait with the timeout reply.
    public func run(_ arguments: [[UInt8]]) async -> RESPValue {
        switch self.perform(arguments) {
        case .done(let reply, let lsn):
            await self.waitUntilLogged(lsn)
            return reply
        case .blocked(let waiter):
            var (bytes, lsn) = await self.waitForServing(waiter)
            await self.waitUntilLogged(lsn)
            return Self.decode(&bytes)
        }
    }

    /// Runs several commands back to back (a pipeline without the network) and waits for
    /// their log records once. Blocking commands answer as if they timed out.
    public func run(batch: [[[UInt8]]]) async -> [RESPValue] {
        var replies: [RESPValue] = []
        replies.reserveCapacity(batch.count)
        var lsn: UInt64 = 0
        for arguments in batch {
            switch self.perform(arguments, mayBlock: false) {
            case .done(let reply, let appended):
                lsn = max(lsn, appended)
                replies.append(reply)
            case .blocked:
                replies.append(.null)
            }
        }
        await self.waitUntilLogged(lsn)
        return replies
    }

    /// Reads a string value without running a command: the fast path for caches. Returns
    /// nil for a missing key, and throws ``WrongTypeError`` for a key of another type.
    /// Counts a keyspace hit or miss, sends the `keymiss` notification and refreshes the
    /// key's LRU/LFU clock as GET does.
    public func readString(_ key: [UInt8], database: Int = 0) throws(WrongTypeError) -> [UInt8]? {
        var value: [UInt8]?
        let found = key.withUnsafeBytes { key in
            Result { () throws(WrongTypeError) in try self.readString(key, database: database) { value = Array($0) } }
        }
        _ = try found.get()
        return value
    }

    /// As ``readString(_:database:)-(_,_)``, handing the value's bytes to `body` while the
    /// key's shard is locked; see ``Engine/readString(_:database:_:)``.
    @discardableResult
    public func readString(
        _ key: UnsafeRawBufferPointer, database: Int = 0, _ body: (UnsafeRawBufferPointer) -> Void
    ) throws(WrongTypeError) -> Bool {
        try self.engine.readString(key, database: database, body)
    }

    /// A key holds a value of another type than the operation expects.
    public struct WrongTypeError: Error, Sendable {
        public let message = "WRONGTYPE Operation against a key holding the wrong kind of value"
    }

    // MARK: Running

    enum Outcome {
        case done(RESPValue, UInt64)
        case blocked(Waiter)
    }

    private func perform(_ arguments: [[UInt8]], mayBlock: Bool = true) -> Outcome {
        self.core.withLock { core in
            core.argumentBytes.removeAll(keepingCapacity: true)
            core.spans.removeAll(keepingCapacity: true)
            for argument in arguments {
                core.spans.append(ArgumentSpan(offset: core.argumentBytes.count, length: argument.count))
                core.argumentBytes.append(contentsOf: argument)
            }
            if core.argumentBytes.isEmpty { core.argumentBytes.append(0) }
            core.context.appendedLSN = 0
            core.context.reply.buffer.clear()
            core.context.reply.version = core.context.session.protocolVersion
            core.context.inTransaction = false
            let bytes = core.argumentBytes
            let spans = core.spans
            bytes.withUnsafeBytes { base in
                spans.withUnsafeBufferPointer { spans in
                    // The pointers live as long as the two arrays, which outlive the call.
                    core.context.arguments = CommandArguments(
                        base: base.baseAddress!, spans: spans.baseAddress!, count: arguments.count)
                    self.engine.execute(&core.context)
                }
            }
            if let waiter = core.context.blockedWaiter {
                core.context.blockedWaiter = nil
                guard mayBlock else {
                    if waiter.claim() { self.engine.blocking.remove(waiter) }
                    var reply = Self.timeoutReply(waiter)
                    return .done(Self.decode(&reply), 0)
                }
                self.inbox.blocking.withLock { $0.waiter = waiter }
                return .blocked(waiter)
            }
            return .done(Self.decode(&core.context.reply.buffer), core.context.appendedLSN)
        }
    }

    private static func timeoutReply(_ waiter: Waiter) -> ByteBuffer {
        var writer = RESPReplyWriter(buffer: ByteBuffer(), version: waiter.protocolVersion)
        CommandContext.writeTimeoutReply(waiter.operation, into: &writer)
        return writer.buffer
    }

    private static func decode(_ bytes: inout ByteBuffer) -> RESPValue {
        // The engine wrote a whole, well-formed reply; a failure here would be an engine bug.
        (try? RESPValueDecoder().decode(&bytes)) ?? .error("ERR the engine's reply could not be read")
    }

    // MARK: Blocking

    /// Waits until another client's write serves the wait, its deadline passes, or the
    /// task is cancelled.
    private func waitForServing(_ waiter: Waiter) async -> (ByteBuffer, UInt64) {
        let deadlineTask: Task<Void, Never>? = waiter.deadline.map { deadline in
            Task {
                let now = EngineClock.monotonicNanoseconds() / 1_000_000
                try? await Task.sleep(for: .milliseconds(max(0, deadline - now)))
                if !Task.isCancelled { self.endWait(waiter) }
            }
        }
        defer { deadlineTask?.cancel() }
        let (reply, lsn) = await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<(ByteBuffer?, UInt64), Never>) in
                let early = self.inbox.blocking.withLock { state -> (ByteBuffer?, UInt64)? in
                    if let early = state.early {
                        state.early = nil
                        state.waiter = nil
                        return early
                    }
                    state.continuation = continuation
                    return nil
                }
                if let early { continuation.resume(returning: early) }
            }
        } onCancel: {
            self.endWait(waiter)
        }
        return (reply ?? Self.timeoutReply(waiter), lsn)
    }

    /// Times the wait out (deadline or cancellation) unless a writer already served it.
    private func endWait(_ waiter: Waiter) {
        guard waiter.claim() else { return }
        self.engine.blocking.remove(waiter)
        self.inbox.resumeWait(waiter, reply: nil, lsn: 0)
    }

    // MARK: Durability

    /// Returns once the log has written through `lsn` (and synced it under `always`).
    private func waitUntilLogged(_ lsn: UInt64) async {
        guard lsn > 0, let log = self.engine.persistence?.log else { return }
        if lsn > log.written { log.writePending() }
        guard log.policy == .always, lsn > log.durable else { return }
        await self.engine.durabilityWaiters.wait(for: lsn, log: log)
    }
}

/// What a session's mailbox delivers to: the wait of its blocking command and its pub/sub
/// push handler.
final class EmbeddedInbox: @unchecked Sendable {
    let blocking = Mutex<EmbeddedSession.BlockedState>(EmbeddedSession.BlockedState())
    /// Receives pub/sub messages (decoded pushes) as they are delivered; set before subscribing.
    let pushHandler = Mutex<(@Sendable (RESPValue) -> Void)?>(nil)
    /// The mailbox that calls ``takeDeliveries()``. Unowned: the mailbox owns the closure
    /// that owns this inbox, and calls it only while alive. Written once, before any delivery.
    unowned(unsafe) var mailbox: ClientMailbox?

    func resumeWait(_ waiter: Waiter, reply: ByteBuffer?, lsn: UInt64) {
        let continuation = self.blocking.withLock { state -> CheckedContinuation<(ByteBuffer?, UInt64), Never>? in
            guard state.waiter === waiter else { return nil }
            guard let continuation = state.continuation else {
                state.early = (reply, lsn)
                return nil
            }
            state.continuation = nil
            state.waiter = nil
            return continuation
        }
        continuation?.resume(returning: (reply, lsn))
    }

    /// Called (on the deliverer's thread) when the mailbox received something.
    func takeDeliveries() {
        guard let mailbox = self.mailbox else { return }
        let delivery = mailbox.drain()
        if var messages = delivery.messages, let handler = self.pushHandler.withLock({ $0 }) {
            let decoder = RESPValueDecoder()
            while let message = try? decoder.decode(&messages) { handler(message) }
        }
        if let unblocked = delivery.unblocked {
            self.resumeWait(unblocked.waiter, reply: unblocked.reply, lsn: unblocked.requiredLSN)
        }
    }
}

/// In-process callers waiting for their log records to become durable (`appendfsync
/// always`): one listener on the log resumes every caller its sync covered (group commit).
package final class DurabilityWaiters: Sendable {
    private let state = Mutex<State>(State())

    struct State {
        var listening = false
        var waiting: [(lsn: UInt64, continuation: CheckedContinuation<Void, Never>)] = []
    }

    package init() {}

    func wait(for lsn: UInt64, log: WriteAheadLog) async {
        let subscribe = self.state.withLock { state -> Bool in
            defer { state.listening = true }
            return !state.listening
        }
        if subscribe {
            log.addDurabilityListener { [weak self] durable in self?.advance(to: durable) }
        }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            self.state.withLock { $0.waiting.append((lsn, continuation)) }
            log.requestSync()
            // The sync may have finished before the continuation was registered.
            self.advance(to: log.durable)
        }
    }

    private func advance(to durable: UInt64) {
        let ready = self.state.withLock { state -> [CheckedContinuation<Void, Never>] in
            var ready: [CheckedContinuation<Void, Never>] = []
            state.waiting.removeAll { waiter in
                guard waiter.lsn <= durable else { return false }
                ready.append(waiter.continuation)
                return true
            }
            return ready
        }
        for continuation in ready { continuation.resume() }
    }
}

extension Engine {
    /// Reads a string value without running a command — the embedded cache's hit path:
    /// hands the value's bytes to `body` while the key's shard is locked (so the value is
    /// copied once, into what `body` makes of it); `body` must not call into the engine.
    /// Counts a keyspace hit or miss, sends the `keymiss` notification and refreshes the
    /// key's LRU/LFU clock as GET does. Returns whether the key was found. Not generic, so
    /// that callers in other modules call it directly rather than through generic metadata.
    @discardableResult
    public func readString(
        _ key: UnsafeRawBufferPointer, database: Int = 0, _ body: (UnsafeRawBufferPointer) -> Void
    ) throws(EmbeddedSession.WrongTypeError) -> Bool {
        // No session state is involved: only the key's shard is locked, as a GET would.
        let engine = self
        let now = engine.clock.nowMilliseconds()
        let hash = engine.keyspace.hasher.hash(key)
        let shard = engine.keyspace.databases[database].shard(for: hash)
        let stats = engine.stats.sharedSlab
        shard.lock.lock()
        defer { shard.lock.unlock() }
        guard let slot = shard.lookup(key, hash: hash, now: now) else {
            stats.add(.keyspaceMisses)
            engine.notify(KeyspaceEvents.keyMiss, "keymiss", key: key, database: database)
            return false
        }
        stats.add(.keyspaceHits)
        let entry = shard.entry(at: slot)
        let settings = engine.settings
        if !settings.tracksLFU.load(ordering: .relaxed) {
            entry.accessClock = AccessTracking.lruClock(now: now)
        } else {
            AccessTracking.touch(
                entry, now: now, lfu: true, logFactor: settings.lfuLogFactor.load(ordering: .relaxed),
                decayTime: settings.lfuDecayTime.load(ordering: .relaxed))
        }
        switch entry.kind {
        case .string: body(entry.rawValueBytes)
        case .integer: Array(String(entry.integerValue).utf8).withUnsafeBytes { body($0) }
        case .growableString: entry.payload(as: GrowableString.self).bytes.withUnsafeBytes { body($0) }
        default: throw EmbeddedSession.WrongTypeError()
        }
        return true
    }
}
