public import NIOCore
public import NIOPosix
import Synchronization
public import WharfProtocol

/// One connection to a Wharf, Redis or Valkey server, pipelining every request sent on it.
///
/// Requests from many tasks may be in flight at once; their replies are matched in order.
/// Requests made during one turn of the connection's event loop leave in one write. Most
/// code uses a ``WharfClient`` (a pool of these); a connection is for code that needs one
/// session, such as a benchmark or a blocking loop.
///
/// ```swift
/// let connection = try await WharfConnection.connect(to: .init(host: "127.0.0.1", port: 6379))
/// try await connection.set("greeting", "hello")
/// let replies = try await connection.pipeline([RESPCommand("INCR", "a"), RESPCommand("INCR", "b")])
/// ```
public final class WharfConnection: Sendable {
    /// How to reach and greet a server.
    public struct Configuration: Sendable {
        public var host: String
        public var port: Int
        /// 3 asks for RESP3 with `HELLO 3`; a server that refuses it is spoken to in RESP2.
        public var protocolVersion: Int
        public var username: String?
        public var password: String?
        /// Sent as `CLIENT SETNAME` (or in `HELLO`).
        public var clientName: String?
        public var database: Int
        /// Time allowed for the TCP connection and the greeting.
        public var connectTimeout: Duration
        /// A reply (or the part of one received so far) above this size closes the connection
        /// with a protocol error.
        public var maximumReplyBytes: Int
        /// Aggregates nested deeper than this are a protocol error.
        public var maximumReplyNesting: Int
        /// Set up TLS (or anything else) on a new channel before the client's own handler.
        /// The security work plugs swift-nio-ssl's client handler in here.
        public var channelInitializer: (@Sendable (any Channel) -> EventLoopFuture<Void>)?

        public init(
            host: String = "127.0.0.1", port: Int = 6379, protocolVersion: Int = 3, username: String? = nil,
            password: String? = nil, clientName: String? = nil, database: Int = 0,
            connectTimeout: Duration = .seconds(5), maximumReplyBytes: Int = 512 * 1024 * 1024,
            maximumReplyNesting: Int = 64, channelInitializer: (@Sendable (any Channel) -> EventLoopFuture<Void>)? = nil
        ) {
            self.host = host
            self.port = port
            self.protocolVersion = protocolVersion
            self.username = username
            self.password = password
            self.clientName = clientName
            self.database = database
            self.connectTimeout = connectTimeout
            self.maximumReplyBytes = maximumReplyBytes
            self.maximumReplyNesting = maximumReplyNesting
            self.channelInitializer = channelInitializer
        }
    }

    public let channel: any Channel
    /// Runs tasks on this connection's event loop; see ``EventLoopTaskExecutor``.
    public let taskExecutor: EventLoopTaskExecutor
    /// The protocol agreed with the server: 2 or 3.
    public var protocolVersion: Int { Int(self.agreedProtocol.load(ordering: .relaxed)) }
    private let agreedProtocol: Atomic<Int>
    /// Where this connection goes (for logs and redirects).
    public let address: String
    private let outbox: SharedOutbox
    private let handler: NIOLoopBound<ReplyHandler>
    private let requestIDs = Atomic<UInt64>(0)
    private let lastUsed: Atomic<Int64>

    public var eventLoop: any EventLoop { self.channel.eventLoop }
    /// False once the connection has closed, for whatever reason.
    public var isActive: Bool { self.channel.isActive }

    private init(
        channel: any Channel, outbox: SharedOutbox, handler: ReplyHandler, executor: EventLoopTaskExecutor,
        protocolVersion: Int, address: String
    ) {
        self.channel = channel
        self.outbox = outbox
        self.handler = NIOLoopBound(handler, eventLoop: channel.eventLoop)
        self.taskExecutor = executor
        self.agreedProtocol = Atomic(protocolVersion)
        self.address = address
        self.lastUsed = Atomic(ContinuousClock.now.nanosecondsSinceReference)
    }

    /// Opens a connection and greets the server: HELLO (or AUTH), SETNAME, SELECT.
    public static func connect(
        to configuration: Configuration, on eventLoop: any EventLoop = MultiThreadedEventLoopGroup.singleton.next()
    ) async throws -> WharfConnection {
        let channel: any Channel
        do {
            channel = try await ClientBootstrap(group: eventLoop)
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .connectTimeout(.nanoseconds(configuration.connectTimeout.nanoseconds))
                .channelInitializer { channel in
                    if let initializer = configuration.channelInitializer { return initializer(channel) }
                    return channel.eventLoop.makeSucceededVoidFuture()
                }
                .connect(host: configuration.host, port: configuration.port).get()
        } catch {
            throw WharfClientError(
                .connectFailed, "cannot connect to \(configuration.host):\(configuration.port): \(error)")
        }
        let outbox = SharedOutbox()
        let connection = try await channel.eventLoop.submit {
            let executor = EventLoopTaskExecutor(eventLoop: channel.eventLoop)
            let handler = ReplyHandler(
                outbox: outbox, executor: executor, maximumReplyBytes: configuration.maximumReplyBytes,
                maximumNesting: configuration.maximumReplyNesting)
            try channel.pipeline.syncOperations.addHandler(handler)
            return WharfConnection(
                channel: channel, outbox: outbox, handler: handler, executor: executor,
                protocolVersion: configuration.protocolVersion, address: "\(configuration.host):\(configuration.port)")
        }.get()
        do {
            // A server that refuses RESP3 is spoken to in RESP2 from then on.
            let agreed = try await connection.greet(configuration)
            connection.agreedProtocol.store(agreed, ordering: .relaxed)
            return connection
        } catch {
            connection.close()
            throw error
        }
    }

    /// Sends the greeting; returns the protocol version agreed.
    private func greet(_ configuration: Configuration) async throws -> Int {
        let deadline = configuration.connectTimeout
        var agreed = 2
        if configuration.protocolVersion == 3 {
            var hello = RESPCommand("HELLO", "3")
            if let password = configuration.password {
                hello.append("AUTH")
                hello.append(configuration.username ?? "default")
                hello.append(password)
            }
            if let name = configuration.clientName {
                hello.append("SETNAME")
                hello.append(name)
            }
            let reply = try await self.sendRaw(hello, timeout: deadline)
            if case .error(let line) = reply {
                // Servers before Redis 6 do not know HELLO; anything else (wrong password) is fatal.
                guard line.hasPrefix("ERR unknown command") || line.hasPrefix("NOPROTO") else {
                    throw WharfClientError.server(line)
                }
            } else {
                agreed = 3
            }
        }
        if agreed == 2 {
            if let password = configuration.password {
                let auth =
                    configuration.username.map { RESPCommand("AUTH", $0, password) } ?? RESPCommand("AUTH", password)
                _ = try await self.sendRaw(auth, timeout: deadline).throwingServerError()
            }
            if let name = configuration.clientName {
                _ = try await self.sendRaw(RESPCommand("CLIENT", "SETNAME", name), timeout: deadline)
                    .throwingServerError()
            }
        }
        if configuration.database != 0 {
            _ = try await self.sendRaw(RESPCommand("SELECT", configuration.database), timeout: deadline)
                .throwingServerError()
        }
        return agreed
    }

    // MARK: Sending

    /// Sends a command and returns its reply as is, error replies included.
    public func sendRaw(_ command: RESPCommand, timeout: Duration? = nil) async throws -> RESPValue {
        if Task.isCancelled { throw WharfClientError(.cancelled, "the task was cancelled before sending") }
        let id = self.requestIDs.wrappingAdd(1, ordering: .relaxed).newValue
        let deadline = timeout.map { NIODeadline.now() + .nanoseconds($0.nanoseconds) }
        self.markUsed()
        return try await withTaskCancellationHandler {
            try await withUnsafeThrowingContinuation { (continuation: UnsafeContinuation<RESPValue, any Error>) in
                self.enqueue(command, waiter: .single(continuation), id: id, deadline: deadline)
            }
        } onCancel: {
            self.abandon(id, WharfClientError(.cancelled, "the task was cancelled", mayHaveBeenApplied: true))
        }
    }

    /// Sends commands in one write and returns every reply in order, error replies as values.
    public func pipeline(_ commands: [RESPCommand], timeout: Duration? = nil) async throws -> [RESPValue] {
        var batch = RESPCommandBatch(capacity: commands.reduce(0) { $0 + $1.body.readableBytes + 8 })
        for command in commands { batch.append(command) }
        return try await self.pipeline(batch, timeout: timeout)
    }

    /// Sends an encoded batch in one write and returns every reply in order, error replies as values.
    public func pipeline(_ batch: RESPCommandBatch, timeout: Duration? = nil) async throws -> [RESPValue] {
        guard !batch.isEmpty else { return [] }
        return try await self.submit(batch, timeout: timeout) { continuation in
            .batch(BatchCollector(expecting: batch.count, continuation: continuation))
        }
    }

    /// Sends an encoded batch in one write and waits for every reply without building them;
    /// throws the first error reply. For writes whose answers do not matter, and load tests.
    public func pipelineDiscardingReplies(_ batch: RESPCommandBatch, timeout: Duration? = nil) async throws {
        guard !batch.isEmpty else { return }
        try await self.submit(batch, timeout: timeout) { (continuation: UnsafeContinuation<Void, any Error>) in
            .discarding(continuation)
        }
    }

    private func submit<Result>(
        _ batch: RESPCommandBatch, timeout: Duration?,
        waiter makeWaiter: (UnsafeContinuation<Result, any Error>) -> PendingRequest.Waiter
    ) async throws -> Result {
        if Task.isCancelled { throw WharfClientError(.cancelled, "the task was cancelled before sending") }
        let id = self.requestIDs.wrappingAdd(1, ordering: .relaxed).newValue
        let deadline = timeout.map { NIODeadline.now() + .nanoseconds($0.nanoseconds) }
        self.markUsed()
        return try await withTaskCancellationHandler {
            try await withUnsafeThrowingContinuation { (continuation: UnsafeContinuation<Result, any Error>) in
                let waiter = makeWaiter(continuation)
                if self.eventLoop.inEventLoop {
                    self.handler.value.enqueue(encoded: batch, waiter: waiter, id: id, deadline: deadline)
                    return
                }
                self.enqueueOffLoop(waiter, id: id, replies: batch.count, deadline: deadline) { bytes in
                    bytes.writeImmutableBuffer(batch.bytes)
                }
            }
        } onCancel: {
            self.abandon(id, WharfClientError(.cancelled, "the task was cancelled", mayHaveBeenApplied: true))
        }
    }

    /// Writes a command whose answers arrive as push messages (SUBSCRIBE and friends).
    func sendWithoutReply(_ command: RESPCommand) {
        self.channel.eventLoop.execute { [handler] in handler.value.enqueueWithoutReply(command) }
    }

    private func enqueue(_ command: RESPCommand, waiter: PendingRequest.Waiter, id: UInt64, deadline: NIODeadline?) {
        if self.eventLoop.inEventLoop {
            self.handler.value.enqueue(command, waiter: waiter, replies: 1, id: id, deadline: deadline)
            return
        }
        self.enqueueOffLoop(waiter, id: id, replies: 1, deadline: deadline) { bytes in command.write(into: &bytes) }
    }

    /// Queues a request made off the event loop in the outbox (`write` adds its bytes); the
    /// first request of a turn schedules the loop's flush. On a closed connection the
    /// request fails at once.
    private func enqueueOffLoop(
        _ waiter: PendingRequest.Waiter, id: UInt64, replies: Int, deadline: NIODeadline?,
        write: (inout ByteBuffer) -> Void
    ) {
        enum Action {
            case none
            case scheduleFlush
            case fail(WharfClientError)
        }
        let action = self.outbox.withLock { outbox -> Action in
            if let failure = outbox.failure { return .fail(failure) }
            write(&outbox.bytes)
            outbox.requests.append(
                PendingRequest(id: id, waiter: waiter, remainingReplies: replies, deadline: deadline))
            self.outbox.hasWork.store(true, ordering: .releasing)
            if outbox.flushScheduled { return .none }
            outbox.flushScheduled = true
            return .scheduleFlush
        }
        switch action {
        case .none: break
        case .scheduleFlush: self.channel.eventLoop.execute { [handler] in handler.value.flush() }
        case .fail(let error):
            var request = PendingRequest(id: id, waiter: waiter, remainingReplies: 0, deadline: nil)
            request.fail(error)
        }
    }

    private func abandon(_ id: UInt64, _ error: WharfClientError) {
        self.channel.eventLoop.execute { [handler] in handler.value.abandon(id, error) }
    }

    private func markUsed() {
        self.lastUsed.store(ContinuousClock.now.nanosecondsSinceReference, ordering: .relaxed)
    }

    /// How long since the last request was sent.
    var idleTime: Duration {
        .nanoseconds(ContinuousClock.now.nanosecondsSinceReference - self.lastUsed.load(ordering: .relaxed))
    }

    // MARK: Push messages and closing

    /// Routes push messages (and, when `arraysArePushes`, every array reply) to `receiver`,
    /// and reports the connection's end to `onClose`. Both run on the event loop.
    func setPushReceiver(
        arraysArePushes: Bool, _ receiver: @escaping @Sendable (RESPValue) -> Void,
        onClose: @escaping @Sendable (WharfClientError) -> Void
    ) async throws {
        try await self.eventLoop.submit { [handler] in
            handler.value.arraysArePushes = arraysArePushes
            handler.value.pushReceiver = receiver
            handler.value.closeReceiver = onClose
        }.get()
    }

    /// Closes the connection; requests still waiting fail with ``WharfClientError/Code/clientClosed``.
    public func close() {
        self.close(failing: WharfClientError(.clientClosed, "the connection was closed by its owner"))
    }

    /// Closes the connection; requests still waiting fail with `error` (those already
    /// written say they may have run).
    func close(failing error: WharfClientError) {
        self.channel.eventLoop.execute { [handler, channel] in
            handler.value.failAll(error)
            channel.close(promise: nil)
        }
    }
}

extension ContinuousClock.Instant {
    var nanosecondsSinceReference: Int64 {
        let offset = ContinuousClock.Instant.referencePoint.duration(to: self)
        return offset.components.seconds &* 1_000_000_000 &+ offset.components.attoseconds / 1_000_000_000
    }
    private static let referencePoint = ContinuousClock.now
}

extension Duration {
    var nanoseconds: Int64 {
        self.components.seconds &* 1_000_000_000 &+ self.components.attoseconds / 1_000_000_000
    }
}
