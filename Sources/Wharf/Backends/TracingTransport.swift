import Tracing
import WharfClient
import WharfProtocol

/// Middleware: a span per command around any transport (named after the command, with
/// `db.system` and the backend's name), for handles opened with tracing on.
struct TracingTransport: CommandTransport {
    let inner: any CommandTransport
    let tracer: any Tracer

    var backendName: String { self.inner.backendName }

    private func traced<T>(_ name: String, _ body: () async throws -> T) async throws -> T {
        try await self.tracer.withSpan(name, ofKind: .client) { span in
            span.attributes["db.system"] = self.backendName == "embedded" ? "wharf" : "redis"
            span.attributes["wharf.backend"] = self.backendName
            return try await body()
        }
    }

    func run(_ command: BackendCommand) async throws -> RESPValue {
        try await self.traced(command.name) { try await self.inner.run(command) }
    }

    func runBlocking(_ command: BackendCommand, wait: Duration?) async throws -> RESPValue {
        try await self.traced(command.name) { try await self.inner.runBlocking(command, wait: wait) }
    }

    func pipeline(_ commands: [BackendCommand]) async throws -> [RESPValue] {
        try await self.traced("PIPELINE") { try await self.inner.pipeline(commands) }
    }

    func withSession<T: Sendable>(routingKey: [UInt8]?, _ body: (any CommandSession) async throws -> T) async throws
        -> T
    {
        try await self.traced("SESSION") { try await self.inner.withSession(routingKey: routingKey, body) }
    }

    func subscribe(channels: [String], patterns: [String], routingKey: [UInt8]?) async throws
        -> any MessageSubscription
    {
        try await self.traced("SUBSCRIBE") {
            try await self.inner.subscribe(channels: channels, patterns: patterns, routingKey: routingKey)
        }
    }

    func readString<T>(prefix: [UInt8], key: String, _ body: (UnsafeRawBufferPointer) throws -> T) async throws
        -> T?
    {
        try await self.traced("GET") { try await self.inner.readString(prefix: prefix, key: key, body) }
    }

    func health() async -> HealthStatus { await self.inner.health() }

    func close() async throws { try await self.inner.close() }
}
