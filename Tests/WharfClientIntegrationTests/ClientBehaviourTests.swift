import Foundation
import NIOCore
import NIOPosix
import Synchronization
import Testing
import WharfClient
import WharfProtocol

/// Pipelining, the pool, deadlines, transactions and failures, against real servers.
@Suite struct ClientBehaviourTests {
    @Test(arguments: ServerKind.allCases)
    func hundredConcurrentTasksShareThePipeline(kind: ServerKind) async throws {
        let server = try await TestServer.launch(kind)
        var configuration = server.configuration()
        configuration.minimumConnections = 2
        try await withClient(server, configuration: configuration) { client in
            try await withThrowingTaskGroup(of: Void.self) { group in
                for task in 0..<100 {
                    group.addTask {
                        for step in 1...50 {
                            #expect(try await client.incr("task:\(task)") == step)
                            try await client.incr("shared")
                        }
                    }
                }
                try await group.waitForAll()
            }
            #expect(try await client.get("shared") == "5000")
            #expect(try await client.mget((0..<100).map { "task:\($0)" }).allSatisfy { $0 == "50" })
            // The 100 tasks shared the pool's two pipelined connections (the server may still
            // count the readiness probe's connection, closed a moment ago).
            let clients = try await client.info("clients")
            let connected = clients.split(separator: "\r\n").first { $0.hasPrefix("connected_clients:") }
                .flatMap { Int($0.dropFirst("connected_clients:".count)) }
            #expect(connected == 2 || connected == 3, "\(clients)")
        }
        await server.stop()
    }

    @Test(arguments: ServerKind.allCases)
    func poolExhaustionIsAClearError(kind: ServerKind) async throws {
        let server = try await TestServer.launch(kind)
        var configuration = server.configuration()
        configuration.minimumConnections = 1
        configuration.maximumConnections = 2
        configuration.leaseTimeout = .milliseconds(200)
        try await withClient(server, configuration: configuration) { client in
            async let held: (key: String, value: String)? = client.blpop(["never"], timeout: 20)
            try await Task.sleep(for: .milliseconds(100))
            // The lend waits leaseTimeout (200 ms), not the BLPOP's second.
            let error = await clientError { try await client.blpop(["never"], timeout: 1) }
            #expect(error?.code == .poolExhausted)
            #expect(error?.message.contains("maximumConnections") == true)
            // Pipelined commands still flow on the shared connection.
            #expect(try await client.ping() == "PONG")
            try await client.rpush("never", "done")
            #expect(try await held?.value == "done")
            // The lent connection came back: the next lend succeeds.
            #expect(try await client.blpop(["never"], timeout: 0.05) == nil)
        }
        await server.stop()
    }

    @Test(arguments: ServerKind.allCases)
    func perCommandDeadlineKeepsTheConnectionInOrder(kind: ServerKind) async throws {
        let server = try await TestServer.launch(kind)
        var configuration = server.configuration()
        configuration.connection.protocolVersion = 2
        let connection = try await WharfConnection.connect(to: configuration.connection)
        let error = await clientError {
            try await connection.send(RESPCommand("BLPOP", "nothing", "1"), timeout: .milliseconds(150))
        }
        #expect(error?.code == .timeout)
        #expect(error?.mayHaveBeenApplied == true)
        // BLPOP's late reply (nil) is dropped; PING gets its own reply.
        #expect(try await connection.send(RESPCommand("PING"), as: String.self) == "PONG")
        #expect(try await connection.send(RESPCommand("ECHO", "after"), as: String.self) == "after")
        connection.close()
        await server.stop()
    }

    @Test(arguments: ServerKind.allCases)
    func watchConflictRetriesAndGivesUp(kind: ServerKind) async throws {
        let server = try await TestServer.launch(kind)
        try await withClient(server) { client in
            try await client.set("stock", 10)
            let attempts = Mutex(0)
            // The first attempt is spoiled by another client's write; the retry succeeds.
            let results = try await client.transaction(watching: ["stock"], retries: 3) { connection, transaction in
                let attempt = attempts.withLock { value -> Int in
                    value += 1
                    return value
                }
                let stock = try await connection.send(RESPCommand("GET", "stock"), as: Int.self)
                if attempt == 1 { try await client.set("stock", 100) }
                transaction.queue(RESPCommand("SET", "stock", stock - 1))
                transaction.queue(RESPCommand("INCR", "sold"))
            }
            #expect(attempts.withLock { $0 } == 2)
            #expect(results == [.simpleString("OK"), .integer(1)])
            #expect(try await client.get("stock") == "99")

            let conflict = await clientError {
                try await client.transaction(watching: ["stock"], retries: 1) { connection, transaction in
                    try await client.incr("stock")
                    transaction.queue(RESPCommand("SET", "stock", 0))
                }
            }
            #expect(conflict?.code == .watchConflict)
            #expect(try await client.get("stock") == "101")

            let aborted = await clientError {
                try await client.transaction { _, transaction in
                    transaction.queue(RESPCommand("SET", "x", "1"))
                    transaction.queue(RESPCommand("NOSUCHCOMMAND"))
                }
            }
            #expect(aborted?.serverErrorPrefix == "EXECABORT")
            #expect(try await client.get("x") == nil)
        }
        await server.stop()
    }

    @Test(arguments: ServerKind.allCases)
    func serverRestartMidStreamReconnects(kind: ServerKind) async throws {
        let server = try await TestServer.launch(kind)
        try await withClient(server) { client in
            try await client.set("before", "1")
            let failures = Mutex<[WharfClientError]>([])
            let successes = Atomic<Int>(0)
            let writer = Task {
                var index = 0
                while !Task.isCancelled {
                    index += 1
                    do {
                        try await client.set("k\(index % 100)", index)
                        successes.add(1, ordering: .relaxed)
                    } catch let error as WharfClientError {
                        failures.withLock { $0.append(error) }
                        try? await Task.sleep(for: .milliseconds(5))
                    } catch {
                        Issue.record("untyped error \(error)")
                    }
                }
            }
            // A command in flight when the server dies gets the typed error, saying it may have run.
            let inFlight = Task { try await client.blpop(["never"], timeout: 30) }
            var blocked = false
            while !blocked {
                try await Task.sleep(for: .milliseconds(20))
                blocked = try await client.info("clients").contains("blocked_clients:1\r\n")
            }
            await server.stop(kill: true)
            let lost = await clientError { try await inFlight.value }
            #expect(lost?.code == .connectionLost)
            #expect(lost?.mayHaveBeenApplied == true)
            try await Task.sleep(for: .milliseconds(200))
            try await server.start()
            let beforeRestart = successes.load(ordering: .relaxed)
            var waited = 0
            while successes.load(ordering: .relaxed) < beforeRestart + 100 && waited < 200 {
                try await Task.sleep(for: .milliseconds(25))
                waited += 1
            }
            writer.cancel()
            _ = await writer.result
            // The pipelined writer carried on after the restart; what failed meanwhile failed typed.
            #expect(successes.load(ordering: .relaxed) >= beforeRestart + 100)
            let seen = failures.withLock { $0 }.filter { $0.code != .cancelled }
            #expect(seen.allSatisfy { $0.code == .connectionLost || $0.code == .connectFailed }, "\(seen)")
            #expect(try await client.ping() == "PONG")
        }
        await server.stop()
    }

    @Test(arguments: [(ServerKind.wharf, 3), (.wharf, 2), (.redis, 3), (.redis, 2)])
    func pubSubDeliversAndResubscribesAfterARestart(kind: ServerKind, protocolVersion: Int) async throws {
        let server = try await TestServer.launch(kind)
        try await withClient(server, protocolVersion: protocolVersion) { client in
            let subscription = try await client.subscribe(
                channels: ["news"], patterns: ["logs.*"], shardChannels: ["orders"])
            var iterator = subscription.makeAsyncIterator()
            #expect(try await client.publish("news", "hello") == 1)
            #expect(try await iterator.next() == .message(channel: "news", payload: Array("hello".utf8)))
            try await client.publish("logs.web", "line")
            #expect(
                try await iterator.next()
                    == .patternMessage(pattern: "logs.*", channel: "logs.web", payload: Array("line".utf8)))
            try await client.spublish("orders", "o1")
            #expect(try await iterator.next() == .shardMessage(channel: "orders", payload: Array("o1".utf8)))
            await subscription.subscribe(channels: ["extra"])
            try await client.publish("extra", "e")
            #expect(try await iterator.next()?.text == "e")
            await subscription.unsubscribe(channels: ["extra"])
            #expect(try await client.publish("extra", "gone") == 0)

            await server.stop(kill: true)
            try await server.start()
            #expect(try await iterator.next() == .resubscribed)
            #expect(try await client.publish("news", "again") == 1)
            #expect(try await iterator.next() == .message(channel: "news", payload: Array("again".utf8)))
            subscription.close()
            #expect(try await iterator.next() == nil)
        }
        await server.stop()
    }

    @Test(arguments: ServerKind.allCases)
    func resp3SubscriptionsShareThePooledConnection(kind: ServerKind) async throws {
        let server = try await TestServer.launch(kind)
        try await withClient(server) { client in
            let first = try await client.subscribe(channels: ["news", "sport"])
            let second = try await client.subscribe(channels: ["news"], patterns: ["n*"])
            var firstMessages = first.makeAsyncIterator()
            var secondMessages = second.makeAsyncIterator()
            // One connection carries commands and both subscriptions.
            let info = try await client.info("clients")
            #expect(info.contains("connected_clients:1\r\n") || info.contains("connected_clients:2\r\n"), "\(info)")
            #expect(try await client.publish("news", "n1") == 2)  // the channel and the pattern
            #expect(try await firstMessages.next() == .message(channel: "news", payload: Array("n1".utf8)))
            let received = [try await secondMessages.next(), try await secondMessages.next()]
            #expect(received.contains(.message(channel: "news", payload: Array("n1".utf8))))
            #expect(received.contains(.patternMessage(pattern: "n*", channel: "news", payload: Array("n1".utf8))))
            // The second leaving keeps the first's subscription to the channel they shared.
            second.close()
            #expect(try await secondMessages.next() == nil)
            try await client.publish("news", "n2")
            #expect(try await firstMessages.next()?.text == "n2")
            try await client.publish("sport", "s1")
            #expect(try await firstMessages.next()?.text == "s1")
            first.close()
        }
        await server.stop()
    }

    @Test func closingTheClientEndsItsSubscriptions() async throws {
        let server = try await TestServer.launch(.wharf)
        let client = WharfClient(configuration: server.configuration())
        let subscription = try await client.subscribe(channels: ["c"])
        var iterator = subscription.makeAsyncIterator()
        try await client.publish("c", "before")
        #expect(try await iterator.next()?.text == "before")
        await client.close()
        let error = await clientError { try await iterator.next() }
        #expect(error?.code == .clientClosed)
        let afterClose = await clientError { try await client.ping() }
        #expect(afterClose?.code == .clientClosed)
        await server.stop()
    }

    @Test func malformedReplyClosesOnlyThatConnection() async throws {
        let fake = try await FakeServer.start()
        var configuration = WharfConnection.Configuration(port: fake.port, protocolVersion: 2)
        configuration.maximumReplyBytes = 1024
        let bad = try await WharfConnection.connect(to: configuration)
        let good = try await WharfConnection.connect(to: configuration)
        let error = await clientError { try await bad.send(RESPCommand("GARBAGE")) }
        #expect(error?.code == .protocolError)
        #expect(try await good.send(RESPCommand("PING"), as: String.self) == "PONG")
        try await Task.sleep(for: .milliseconds(50))
        #expect(!bad.isActive)
        let afterClose = await clientError { try await bad.send(RESPCommand("PING")) }
        #expect(afterClose?.code == .connectionLost && afterClose?.mayHaveBeenApplied == false)

        let huge = await clientError { try await good.send(RESPCommand("HUGE")) }
        #expect(huge?.code == .protocolError)
        #expect(huge?.message.contains("maximumReplyBytes") == true)

        // The pool replaces a connection closed by a protocol error.
        var poolConfiguration = WharfClientConfiguration(connection: configuration)
        poolConfiguration.reconnect = Backoff(initial: .milliseconds(10), maximumAttempts: 3)
        let client = WharfClient(configuration: poolConfiguration)
        #expect(await clientError { try await client.send(RESPCommand("GARBAGE")) }?.code == .protocolError)
        try await Task.sleep(for: .milliseconds(50))
        #expect(try await client.ping() == "PONG")
        await client.close()
        good.close()
        try await fake.stop()
    }
}

/// A server that answers PING with +PONG, GARBAGE with bytes that are not RESP, and HUGE
/// with a bulk string larger than the client's limit.
struct FakeServer {
    let channel: any Channel
    var port: Int { self.channel.localAddress!.port! }

    static func start() async throws -> FakeServer {
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(FakeHandler()) }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        return FakeServer(channel: channel)
    }

    func stop() async throws { try await self.channel.close() }

    final class FakeHandler: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let request = String(buffer: self.unwrapInboundIn(data))
            var reply = context.channel.allocator.buffer(capacity: 64)
            if request.contains("GARBAGE") {
                reply.writeString("?this is not RESP\r\n")
            } else if request.contains("HUGE") {
                reply.writeString("$100000\r\n" + String(repeating: "x", count: 5000))
            } else {
                reply.writeString("+PONG\r\n")
            }
            context.writeAndFlush(NIOAny(reply), promise: nil)
        }
    }
}
