import Synchronization
package import WharfClient
package import WharfProtocol

/// A Wharf server, Redis or Valkey (standalone, Sentinel or Cluster) through ``WharfClient``.
package final class ClientTransport: CommandTransport {
    package let client: WharfClient
    package let backendName: String

    package init(configuration: WharfClientConfiguration, name: String) {
        self.client = WharfClient(configuration: configuration)
        self.backendName = name
    }

    private static func respCommand(_ command: BackendCommand) -> RESPCommand {
        RESPCommand(command.name, arguments: command.arguments.dropFirst().map { $0 as any RESPArgument })
    }

    package func run(_ command: BackendCommand) async throws -> RESPValue {
        try await self.retryingUnapplied { try await self.client.send(Self.respCommand(command)) }
    }

    /// Runs `body`, again (up to twice, 50 ms apart) when the connection was lost before the
    /// request could have been applied — a failover or a restart closes connections the
    /// pool has not yet replaced — and turns failures into ``WharfError``s.
    private func retryingUnapplied<T>(_ body: () async throws -> T) async throws -> T {
        var attempt = 0
        while true {
            do {
                return try await body()
            } catch let error as WharfClientError
                where [.connectionLost, .connectFailed].contains(error.code) && !error.mayHaveBeenApplied && attempt < 2
            {
                attempt += 1
                try await Task.sleep(for: .milliseconds(50))
            } catch {
                throw WharfError.from(error)
            }
        }
    }

    package func runBlocking(_ command: BackendCommand, wait: Duration?) async throws -> RESPValue {
        // The command's own wait plus a margin, so the client's deadline never cuts it short.
        try await self.retryingUnapplied {
            try await self.client.sendBlocking(Self.respCommand(command), timeout: wait.map { $0 + .seconds(5) })
        }
    }

    package func pipeline(_ commands: [BackendCommand]) async throws -> [RESPValue] {
        try await self.retryingUnapplied { try await self.client.pipeline(commands.map(Self.respCommand)) }
    }

    package func withSession<T: Sendable>(
        routingKey: [UInt8]?, _ body: (any CommandSession) async throws -> T
    ) async throws -> T {
        do {
            return try await self.client.withConnection(
                routingKey: routingKey.map { String(decoding: $0, as: UTF8.self) }
            ) { connection in
                do {
                    return try await body(Lent(connection: connection))
                } catch {
                    _ = try? await connection.pipeline([RESPCommand("DISCARD"), RESPCommand("UNWATCH")])
                    throw error
                }
            }
        } catch {
            throw WharfError.from(error)
        }
    }

    private struct Lent: CommandSession {
        let connection: WharfConnection
        func run(_ command: BackendCommand) async throws -> RESPValue {
            do {
                return try await self.connection.send(ClientTransport.respCommand(command))
            } catch {
                throw WharfError.from(error)
            }
        }
        func pipeline(_ commands: [BackendCommand]) async throws -> [RESPValue] {
            do {
                return try await self.connection.pipeline(commands.map(ClientTransport.respCommand))
            } catch {
                throw WharfError.from(error)
            }
        }
    }

    package func subscribe(channels: [String], patterns: [String], routingKey: [UInt8]?) async throws
        -> any MessageSubscription
    {
        do {
            return ClientSubscription(
                try await self.client.subscribe(
                    channels: channels, patterns: patterns,
                    routingKey: routingKey.map { String(decoding: $0, as: UTF8.self) }))
        } catch {
            throw WharfError.from(error)
        }
    }

    package func health() async -> HealthStatus {
        let start = ContinuousClock.now
        do {
            _ = try await self.client.send(RESPCommand("PING"), timeout: .seconds(2))
            return HealthStatus(state: .healthy, backend: self.backendName, roundTrip: ContinuousClock.now - start)
        } catch {
            return HealthStatus(state: .unhealthy, backend: self.backendName, message: "\(WharfError.from(error))")
        }
    }

    package func close() async throws {
        await self.client.close()
    }
}

/// A client subscription as a stream of messages.
private final class ClientSubscription: MessageSubscription {
    let subscription: WharfSubscription
    let messages: AsyncThrowingStream<PubSubMessage, any Error>

    init(_ subscription: WharfSubscription) {
        self.subscription = subscription
        self.messages = AsyncThrowingStream { continuation in
            let task = Task {
                do {
                    for try await message in subscription { continuation.yield(message) }
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: WharfError.from(error))
                }
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }

    func close() async {
        self.subscription.close()
    }
}
