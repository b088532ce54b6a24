public import NIOCore
public import NIOPosix
public import WharfProtocol

/// A client for Wharf, Redis and Valkey: a pool of pipelining connections.
///
/// Commands from concurrent tasks share a few connections and leave in as few writes as
/// possible; blocking commands, transactions and subscriptions borrow a connection of their
/// own so they never stall anyone else.
///
/// ```swift
/// let client = try WharfClient(url: "redis://127.0.0.1:6379")
/// try await client.set("greeting", "hello")
/// let greeting = try await client.get("greeting")  // "hello"
/// let popped = try await client.blpop(["jobs"], timeout: 5)
/// await client.close()
/// ```
public final class WharfClient: WharfCommands, Sendable {
    public let configuration: WharfClientConfiguration
    private let pool: ConnectionPool
    /// Set for a cluster: it routes every command to its slot's node, each with its own pool.
    private let router: ClusterRouter?
    private let instrumentation: CommandInstrumentation
    /// In RESP3 (outside a cluster), the subscriptions' registry on a shared connection.
    private let shared: SharedSubscriptions?
    /// Set when Sentinel reads may go to replicas.
    private let replicaReads: ReplicaReads?

    public init(
        configuration: WharfClientConfiguration,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) {
        self.configuration = configuration
        self.pool = ConnectionPool(configuration: configuration, eventLoopGroup: eventLoopGroup)
        self.instrumentation = CommandInstrumentation(
            configuration.instrumentation,
            server: ServerAddress(host: configuration.connection.host, port: configuration.connection.port))
        self.shared =
            configuration.connection.protocolVersion == 3 && configuration.cluster == nil
            ? SharedSubscriptions(pool: self.pool, backoff: configuration.reconnect) : nil
        self.replicaReads = configuration.sentinel.flatMap { sentinel in
            guard sentinel.readFromReplicas else { return nil }
            return ReplicaReads(
                resolver: SentinelResolver(
                    configuration: sentinel, connection: configuration.connection, eventLoopGroup: eventLoopGroup),
                configuration: configuration, eventLoopGroup: eventLoopGroup)
        }
        self.router = configuration.cluster.map {
            ClusterRouter(configuration: configuration, cluster: $0, eventLoopGroup: eventLoopGroup)
        }
    }

    /// A client for `redis://`, `wharf://` or `rediss://` URL (see ``WharfClientConfiguration/init(url:)``).
    public convenience init(
        url: String, eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) throws(WharfClientError) {
        self.init(configuration: try WharfClientConfiguration(url: url), eventLoopGroup: eventLoopGroup)
    }

    /// Sends a command on a shared connection; an error reply is thrown as a server error.
    @discardableResult
    public func send(_ command: RESPCommand, timeout: Duration?) async throws -> RESPValue {
        guard self.instrumentation.enabled else { return try await self.route(command, timeout: timeout) }
        return try await self.measured(command) { try await self.route(command, timeout: timeout) }
    }

    /// Runs one command inside the instrumentation, which counts an error reply as such
    /// (it arrives here thrown) before it is thrown on to the caller.
    private func measured(_ command: RESPCommand, _ body: () async throws -> RESPValue) async throws -> RESPValue {
        let outcome = try await self.instrumentation.measure(command.name) {
            do {
                return .single(try await body())
            } catch let error as WharfClientError where error.code == .server {
                return .single(.error(error.message))
            }
        }
        guard case .single(let reply) = outcome else { return .null }
        return try reply.throwingServerError()
    }

    private func route(_ command: RESPCommand, timeout: Duration?) async throws -> RESPValue {
        if let replicaReads, ReplicaReads.isReadOnly(command),
            let reply = try await replicaReads.send(command, timeout: timeout ?? self.configuration.commandTimeout)
        {
            return try reply.throwingServerError()
        }
        if let router {
            return try await router.send(command, timeout: timeout ?? self.configuration.commandTimeout)
                .throwingServerError()
        }
        let connection = try await self.pool.sharedConnection()
        return try await connection.send(command, timeout: timeout ?? self.configuration.commandTimeout)
    }

    /// Sends commands in one write on a shared connection; every reply comes back in order,
    /// error replies as values.
    ///
    /// ```swift
    /// let replies = try await client.pipeline([RESPCommand("INCR", "hits"), RESPCommand("TTL", "hits")])
    /// ```
    public func pipeline(_ commands: [RESPCommand], timeout: Duration? = nil) async throws -> [RESPValue] {
        guard self.instrumentation.enabled else { return try await self.routePipeline(commands, timeout: timeout) }
        let outcome = try await self.instrumentation.measure("PIPELINE") {
            .batch(try await self.routePipeline(commands, timeout: timeout))
        }
        guard case .batch(let replies) = outcome else { return [] }
        return replies
    }

    private func routePipeline(_ commands: [RESPCommand], timeout: Duration?) async throws -> [RESPValue] {
        if let router {
            return try await router.pipeline(commands, timeout: timeout ?? self.configuration.commandTimeout)
        }
        let connection = try await self.pool.sharedConnection()
        return try await connection.pipeline(commands, timeout: timeout ?? self.configuration.commandTimeout)
    }

    /// Builds a batch with `build` and sends it as ``pipeline(_:timeout:)`` does.
    public func pipeline(timeout: Duration? = nil, _ build: (inout [RESPCommand]) throws -> Void) async throws
        -> [RESPValue]
    {
        var commands: [RESPCommand] = []
        try build(&commands)
        return try await self.pipeline(commands, timeout: timeout)
    }

    /// Runs `body` with a connection lent to it alone (for commands that change the
    /// connection's state or block). The connection returns to the pool afterwards.
    public func withConnection<Result: Sendable>(
        _ body: (WharfConnection) async throws -> Result
    ) async throws -> Result {
        try await self.withConnection(routingKey: nil, body)
    }

    /// As ``withConnection(_:)``; in a cluster, on the node that owns `routingKey`'s slot.
    public func withConnection<Result: Sendable>(
        routingKey: String?, _ body: (WharfConnection) async throws -> Result
    ) async throws -> Result {
        let (pool, connection): (ConnectionPool, WharfConnection)
        if let router {
            (pool, connection) = try await router.lend(forKey: routingKey)
        } else {
            (pool, connection) = (self.pool, try await self.pool.lend())
        }
        defer { pool.giveBack(connection) }
        return try await body(connection)
    }

    /// Blocking commands run on a lent connection, so they never hold up pipelined ones.
    public func sendBlocking(_ command: RESPCommand, timeout: Duration?) async throws -> RESPValue {
        guard self.instrumentation.enabled else { return try await self.routeBlocking(command, timeout: timeout) }
        return try await self.measured(command) { try await self.routeBlocking(command, timeout: timeout) }
    }

    private func routeBlocking(_ command: RESPCommand, timeout: Duration?) async throws -> RESPValue {
        if let router {
            return try await router.send(command, timeout: timeout ?? self.configuration.commandTimeout, blocking: true)
                .throwingServerError()
        }
        return try await self.withConnection { connection in
            try await connection.send(command, timeout: timeout ?? self.configuration.commandTimeout)
        }
    }

    /// Closes every connection, subscriptions' included; waiting callers fail with
    /// ``WharfClientError/Code/clientClosed`` and subscriptions end with it.
    public func close() async {
        self.pool.close()
        self.router?.close()
        self.replicaReads?.close()
    }

    func sharedSubscriptions() -> SharedSubscriptions? { self.shared }

    /// Whether the shared connection speaks RESP3 (a server that refused `HELLO 3` does
    /// not send push messages, so subscriptions then get connections of their own).
    func sharesConnectionForPush() async throws -> Bool {
        try await self.pool.sharedConnection().protocolVersion == 3
    }

    /// A connection outside the pool for a subscription (which keeps it for its lifetime).
    func openDedicatedConnection(routingKey: String? = nil) async throws -> WharfConnection {
        if let router {
            return try await router.pool(try await router.node(for: routingKey.map { ClusterSlot.of($0) }))
                .connectDedicated()
        }
        return try await self.pool.connectDedicated()
    }
}

/// Something that sends commands: a ``WharfClient`` or one ``WharfConnection``. The typed
/// helpers (`get`, `lpush`, `xadd` …) are written once against it.
public protocol WharfCommands: Sendable {
    /// Sends a command and returns its reply; an error reply is thrown.
    @discardableResult
    func send(_ command: RESPCommand, timeout: Duration?) async throws -> RESPValue
    /// Sends a command that may block the connection (BLPOP, XREAD BLOCK …).
    func sendBlocking(_ command: RESPCommand, timeout: Duration?) async throws -> RESPValue
}

extension WharfCommands {
    /// Sends a command and returns its reply; an error reply is thrown.
    @discardableResult
    public func send(_ command: RESPCommand) async throws -> RESPValue {
        try await self.send(command, timeout: nil)
    }

    /// Sends a command and decodes its reply as `T`.
    ///
    /// ```swift
    /// let members = try await client.send(RESPCommand("SMEMBERS", "tags"), as: [String].self)
    /// ```
    public func send<T: RESPReplyDecodable>(_ command: RESPCommand, as type: T.Type, timeout: Duration? = nil)
        async throws -> T
    {
        try T(reply: try await self.send(command, timeout: timeout))
    }

    func blocking<T: RESPReplyDecodable>(_ command: RESPCommand, blockSeconds: Double, as type: T.Type)
        async throws -> T
    {
        // The command's own block time plus a margin, so a deadline set on the client does
        // not cut short a wait the caller asked for.
        let wait: Duration? = blockSeconds > 0 ? .milliseconds(Int64(blockSeconds * 1000) + 5000) : nil
        return try T(reply: try await self.sendBlocking(command, timeout: wait))
    }
}

extension WharfConnection: WharfCommands {
    public func send(_ command: RESPCommand, timeout: Duration?) async throws -> RESPValue {
        try await self.sendRaw(command, timeout: timeout).throwingServerError()
    }

    public func sendBlocking(_ command: RESPCommand, timeout: Duration?) async throws -> RESPValue {
        try await self.send(command, timeout: timeout)
    }
}
