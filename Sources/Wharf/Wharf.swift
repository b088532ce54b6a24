public import CoreMetrics
public import Logging
public import ServiceLifecycle
public import Tracing

/// A handle on one backend, from which containers are made: ``Cache``, ``KeyValueStore``,
/// ``WorkQueue``, ``PubSub`` and ``EventStream`` behave the same on every backend.
///
/// The handle is a swift-service-lifecycle `Service`: add it to a `ServiceGroup` and its
/// background work (the embedded engine's expiry and snapshots) runs in ``run()``; graceful
/// shutdown flushes and closes it. Outside a service group, call ``close()`` when done.
///
/// ```swift
/// let wharf = try await Wharf.open(.embedded(inMemory: true))  // or .redis("redis://localhost:6379")
/// let sessions = try wharf.cache("sessions", of: Session.self)
/// try await sessions.set("abc", session, timeToLive: .seconds(3600))
/// try await wharf.close()
/// ```
public final class Wharf: Service, Sendable {
    /// Options that apply to the whole handle.
    public struct Options: Sendable {
        /// Wraps every command in a span (swift-distributed-tracing); off by default.
        public var tracing = false
        public var logger = Logger(label: "wharf")
        /// Where the containers' metrics go; nil: the bootstrapped `MetricsSystem`.
        public var metricsFactory: (any MetricsFactory)?
        /// The tracer for command spans and for the trace context carried in stream entries;
        /// nil: the bootstrapped `InstrumentationSystem`.
        public var tracer: (any Tracer)?

        public init(
            tracing: Bool = false, logger: Logger = Logger(label: "wharf"), metricsFactory: (any MetricsFactory)? = nil,
            tracer: (any Tracer)? = nil
        ) {
            self.tracing = tracing
            self.logger = logger
            self.metricsFactory = metricsFactory
            self.tracer = tracer
        }
    }

    /// The backend's name: `embedded`, `wharf`, `redis`, `redis-sentinel` or `redis-cluster`.
    public let backendName: String
    let transport: any CommandTransport
    let backend: CommandBackend
    private let embedded: EmbeddedTransport?
    private let logger: Logger
    let metrics: any MetricsFactory
    let tracer: (any Tracer)?

    private init(transport: any CommandTransport, embedded: EmbeddedTransport?, options: Options) {
        self.backendName = transport.backendName
        self.transport =
            options.tracing
            ? TracingTransport(inner: transport, tracer: options.tracer ?? InstrumentationSystem.tracer) : transport
        self.tracer = options.tracer
        self.backend = CommandBackend(transport: self.transport)
        self.embedded = embedded
        self.logger = options.logger
        self.metrics = options.metricsFactory ?? MetricsSystem.factory
    }

    /// Opens a handle on `backend`. The embedded engine recovers its directory first; a
    /// network backend is checked with a PING so that a wrong address fails here.
    public static func open(_ backend: WharfBackend, options: Options = Options()) async throws -> Wharf {
        switch backend.kind {
        case .embedded(let directory, let durability):
            let transport = try EmbeddedTransport(directory: directory, durability: durability)
            return Wharf(transport: transport, embedded: transport, options: options)
        case .client(let configuration, let name):
            let transport = ClientTransport(configuration: configuration, name: name)
            let health = await transport.health()
            guard health.state != .unhealthy else {
                try? await transport.close()
                throw WharfError(.backend, "cannot reach the \(name) backend: \(health.message ?? "no answer")")
            }
            return Wharf(transport: transport, embedded: nil, options: options)
        }
    }

    /// The embedded transport when containers may call it directly (tracing off: with it
    /// on, every command goes through the middleware).
    private var directEmbedded: EmbeddedTransport? {
        self.transport is TracingTransport ? nil : self.embedded
    }

    // MARK: Containers

    /// A cache of `Value`s encoded with `codec`.
    public func cache<Value: Sendable>(
        _ name: String, of type: Value.Type = Value.self, codec: some WharfCodec<Value>,
        configuration: CacheConfiguration = CacheConfiguration()
    ) throws -> Cache<Value> {
        try Cache(
            name: name, backend: self.backend, codec: codec, configuration: configuration, metrics: self.metrics,
            embedded: self.directEmbedded)
    }

    /// A cache of `Value`s encoded as JSON.
    public func cache<Value: Codable & Sendable>(
        _ name: String, of type: Value.Type = Value.self, configuration: CacheConfiguration = CacheConfiguration()
    ) throws -> Cache<Value> {
        try Cache(
            name: name, backend: self.backend, codec: JSONCodec<Value>(), configuration: configuration,
            metrics: self.metrics, embedded: self.directEmbedded)
    }

    /// A versioned key-value store of `Value`s encoded with `codec` (JSON by default).
    public func keyValueStore<Value: Codable & Sendable>(
        _ name: String, of type: Value.Type = Value.self, codec: (any WharfCodec<Value>)? = nil,
        configuration: KeyValueStoreConfiguration = KeyValueStoreConfiguration()
    ) throws -> KeyValueStore<Value> {
        try KeyValueStore(
            name: name, backend: self.backend, codec: codec ?? JSONCodec<Value>(), configuration: configuration)
    }

    /// A work queue of `Element`s encoded with `codec` (JSON by default).
    public func workQueue<Element: Codable & Sendable>(
        _ name: String, of type: Element.Type = Element.self, codec: (any WharfCodec<Element>)? = nil,
        configuration: WorkQueueConfiguration = WorkQueueConfiguration()
    ) throws -> WorkQueue<Element> {
        try WorkQueue(
            name: name, backend: self.backend, transport: self.transport, codec: codec ?? JSONCodec<Element>(),
            configuration: configuration, metrics: self.metrics)
    }

    /// Typed publish/subscribe; channel names get `prefix` on the wire.
    public func pubSub<Message: Codable & Sendable>(
        _ name: String, of type: Message.Type = Message.self, codec: (any WharfCodec<Message>)? = nil,
        prefix: String = "", maximumValueBytes: Int = 1 << 20
    ) throws -> PubSub<Message> {
        try PubSub(
            name: name, prefix: prefix, backend: self.backend, codec: codec ?? JSONCodec<Message>(),
            maximumValueBytes: maximumValueBytes, metrics: self.metrics)
    }

    /// An event stream of `Event`s, named `name` between the configuration's prefix and postfix.
    public func eventStream<Event: Codable & Sendable>(
        _ name: String, of type: Event.Type = Event.self, codec: (any WharfCodec<Event>)? = nil,
        configuration: EventStreamConfiguration<Event> = EventStreamConfiguration()
    ) throws -> EventStream<Event> {
        try EventStream(
            name: name, backend: self.backend, codec: codec ?? JSONCodec<Event>(), configuration: configuration,
            metrics: self.metrics, instrument: self.tracer)
    }

    // MARK: Health and lifecycle

    /// The backend's health: a PING round trip over the network, whether the log can be
    /// written for the embedded engine.
    public func health() async -> HealthStatus {
        await self.transport.health()
    }

    /// Runs the handle's background work until graceful shutdown, then closes it.
    public func run() async throws {
        if let embedded {
            await cancelWhenGracefulShutdown { await embedded.runCron() }
        } else {
            try? await gracefulShutdown()
        }
        try await self.close()
    }

    /// Flushes and closes: the embedded engine writes and syncs its log; network backends
    /// close their connections. Later calls on containers throw ``WharfError/Code/closed``
    /// (embedded) or a connection error.
    public func close() async throws {
        self.logger.debug("Closing Wharf handle", metadata: ["backend": "\(self.backendName)"])
        try await self.transport.close()
    }
}
