import Atomics
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import Synchronization
import WharfEngine

#if canImport(Glibc)
    import Glibc
#endif

/// A RESP listener: a service that accepts clients until graceful shutdown.
protocol RESPListener: Service {
    /// The ports actually bound (they differ from the configured port when that is 0).
    var ports: [Int] { get }
}

/// The SwiftNIO RESP listener: accepts clients on every bind address and gives each a
/// ``RESPConnectionHandler`` on one of the event loops. Used where epoll is not available
/// and when `transport nio` is configured.
///
/// On graceful shutdown it stops accepting, lets every connection send the replies of the
/// commands it has already read, closes them, and returns.
final class NIORESPServer: RESPListener {
    private let engine: Engine
    private let configuration: ServerConfiguration
    private let group: any EventLoopGroup
    private let logger: Logger
    /// One statistics slab per event loop, so counters are written by one thread each.
    private let slabs = Mutex<[ObjectIdentifier: StatsSlab]>([:])
    private let boundPorts = Mutex<[Int]>([])
    /// How long shutdown waits for connections to drain before closing them hard.
    static let drainDeadline = TimeAmount.seconds(10)

    init(engine: Engine, configuration: ServerConfiguration, group: any EventLoopGroup, logger: Logger) {
        self.engine = engine
        self.configuration = configuration
        self.group = group
        self.logger = logger
    }

    var ports: [Int] { self.boundPorts.withLock { $0 } }

    func run() async throws {
        let bootstrap = ServerBootstrap(group: self.group)
            .serverChannelOption(.backlog, value: 511)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .childChannelOption(.maxMessagesPerRead, value: 16)
            .childChannelOption(.writeBufferWaterMark, value: .init(low: 64 * 1024, high: 256 * 1024))
            .childChannelInitializer { [self] channel in
                channel.eventLoop.makeCompletedFuture { try self.initialize(channel) }
            }
        var listeners: [any Channel] = []
        do {
            for address in self.configuration.bind {
                let channel = try await bootstrap.bind(host: address, port: self.configuration.port).get()
                listeners.append(channel)
                let port = channel.localAddress?.port ?? self.configuration.port
                self.boundPorts.withLock { $0.append(port) }
                self.logger.notice(
                    "Ready to accept connections", metadata: ["address": "\(address)", "port": "\(port)"])
            }
        } catch {
            for listener in listeners { try? await listener.close() }
            throw ServerConfigurationError(
                "cannot listen on \(self.configuration.bind.joined(separator: " ")) port \(self.configuration.port): \(error)"
            )
        }
        let bound = listeners
        await withGracefulShutdownHandler {
            for listener in bound { try? await listener.closeFuture.get() }
        } onGracefulShutdown: {
            for listener in bound { listener.close(promise: nil) }
        }
        self.logger.notice(
            "Stopped accepting connections; closing clients", metadata: ["clients": "\(self.engine.clients.count)"])
        await self.drainClients()
    }

    /// Asks every client to close after its pending replies, then waits (bounded) until all have.
    private func drainClients() async {
        for client in self.engine.clients.all() { client.kill() }
        let deadline = ContinuousClock.now + .seconds(Self.drainDeadline.nanoseconds / 1_000_000_000)
        while self.engine.clients.count > 0 && ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(10))
        }
    }

    private func initialize(_ channel: any Channel) throws {
        let engine = self.engine
        let id = engine.clients.makeID()
        let info = ClientInfo(
            id: id,
            address: Self.describe(channel.remoteAddress),
            localAddress: Self.describe(channel.localAddress),
            createdAt: engine.clock.nowMilliseconds(),
            close: { channel.pipeline.fireUserInboundEventTriggered(GracefulCloseEvent()) })
        guard engine.clients.register(info, limit: engine.settings.maxClients.load(ordering: .relaxed)) else {
            try channel.pipeline.syncOperations.addHandler(
                RefusedConnectionHandler(message: "-ERR max number of clients reached\r\n"))
            return
        }
        let keepalive = engine.settings.tcpKeepaliveSeconds.load(ordering: .relaxed)
        if keepalive > 0 {
            try channel.syncOptions?.setOption(.socketOption(.so_keepalive), value: 1)
            #if os(Linux)
                try channel.syncOptions?.setOption(
                    .socket(SocketOptionLevel(IPPROTO_TCP), SocketOptionName(TCP_KEEPIDLE)),
                    value: SocketOptionValue(keepalive))
                try channel.syncOptions?.setOption(
                    .socket(SocketOptionLevel(IPPROTO_TCP), SocketOptionName(TCP_KEEPINTVL)),
                    value: SocketOptionValue(max(1, keepalive / 3)))
            #endif
        }
        let session = engine.makeSession(info: info, stats: self.slab(for: channel.eventLoop))
        // Always a later turn of the loop: the waker may be this loop's own thread, inside a
        // publish that holds the pub/sub lock.
        session.mailbox = ClientMailbox(wake: {
            channel.eventLoop.execute { channel.pipeline.fireUserInboundEventTriggered(DeliveryEvent()) }
        })
        let handler = RESPConnectionHandler(
            engine: engine, session: session, allocator: channel.allocator, logger: self.logger
        ) {
            engine.clients.unregister(id: id)
        }
        try channel.pipeline.syncOperations.addHandler(handler)
    }

    private func slab(for loop: any EventLoop) -> StatsSlab {
        let key = ObjectIdentifier(loop)
        return self.slabs.withLock { slabs in
            if let slab = slabs[key] { return slab }
            let slab = self.engine.makeStatsSlab()
            slabs[key] = slab
            return slab
        }
    }

    private static func describe(_ address: SocketAddress?) -> String {
        guard let address else { return "?:0" }
        return "\(address.ipAddress ?? "?"):\(address.port ?? 0)"
    }
}

/// Answers a refused connection with one error, half-closes, and discards what the client
/// still sends until it closes (or two seconds pass), so the error is read rather than lost
/// to a reset.
final class RefusedConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    private let message: String

    init(message: String) {
        self.message = message
    }

    func channelActive(context: ChannelHandlerContext) {
        let channel = context.channel
        let buffer = channel.allocator.buffer(string: self.message)
        context.writeAndFlush(self.wrapOutboundOut(buffer)).whenComplete { _ in
            channel.close(mode: .output, promise: nil)
        }
        context.eventLoop.scheduleTask(in: .seconds(2)) { channel.close(promise: nil) }
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {}

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
