import Atomics
import CoreMetrics
import WharfClient

/// What a subscriber's full buffer does with the next message.
public enum SubscriberOverflow: Sendable, Hashable {
    /// Drop the oldest buffered message to make room.
    case dropOldest
    /// Drop the new message.
    case dropNewest
    /// End the subscription with ``WharfError/Code/backend`` ("too slow").
    case disconnect
}

/// One message as a subscriber receives it.
public struct PubSubDelivery<Message: Sendable>: Sendable {
    /// The channel it was published to (without the container's prefix).
    public var channel: String
    /// The pattern that matched, for pattern subscriptions.
    public var pattern: String?
    public var message: Message
}

/// A live subscription: an `AsyncSequence` of deliveries with a bounded buffer.
public final class PubSubSubscription<Message: Sendable>: AsyncSequence, Sendable {
    public typealias Element = PubSubDelivery<Message>
    public typealias AsyncIterator = AsyncThrowingStream<Element, any Error>.Iterator

    private let stream: AsyncThrowingStream<Element, any Error>
    private let pump: Task<Void, Never>
    private let subscription: any MessageSubscription
    private let droppedCount: ManagedAtomic<Int>

    init(
        subscription: any MessageSubscription, prefix: String, codec: any WharfCodec<Message>, bufferSize: Int,
        overflow: SubscriberOverflow, dropped: Counter
    ) {
        self.subscription = subscription
        let droppedCount = ManagedAtomic<Int>(0)
        self.droppedCount = droppedCount
        let policy: AsyncThrowingStream<Element, any Error>.Continuation.BufferingPolicy =
            overflow == .dropOldest
            ? .bufferingNewest(Swift.max(1, bufferSize)) : .bufferingOldest(Swift.max(1, bufferSize))
        let (stream, continuation) = AsyncThrowingStream<Element, any Error>.makeStream(bufferingPolicy: policy)
        self.stream = stream
        self.pump = Task {
            do {
                for try await message in subscription.messages {
                    let delivery: Element
                    switch message {
                    case .message(let channel, let payload):
                        guard let decoded = try? codec.decode(payload) else { continue }
                        delivery = Element(
                            channel: String(channel.dropFirst(prefix.count)), pattern: nil, message: decoded)
                    case .patternMessage(let pattern, let channel, let payload):
                        guard let decoded = try? codec.decode(payload) else { continue }
                        delivery = Element(
                            channel: String(channel.dropFirst(prefix.count)),
                            pattern: String(pattern.dropFirst(prefix.count)),
                            message: decoded)
                    default:
                        continue
                    }
                    if case .dropped = continuation.yield(delivery) {
                        droppedCount.wrappingIncrement(ordering: .relaxed)
                        dropped.increment()
                        if overflow == .disconnect {
                            continuation.finish(
                                throwing: WharfError(
                                    .backend, "subscriber too slow: its buffer of \(bufferSize) messages was full"))
                            break
                        }
                    }
                }
                continuation.finish()
            } catch {
                continuation.finish(throwing: error)
            }
            await subscription.close()
        }
        let pump = self.pump
        continuation.onTermination = { _ in pump.cancel() }
    }

    public func makeAsyncIterator() -> AsyncIterator { self.stream.makeAsyncIterator() }

    /// Messages dropped because the buffer was full.
    public var dropped: Int { self.droppedCount.load(ordering: .relaxed) }

    /// Ends the subscription.
    public func close() async {
        self.pump.cancel()
        await self.subscription.close()
    }
}

/// Publish and subscribe with typed messages: channels and patterns, bounded subscriber
/// buffers with an overflow policy, and a drop counter (`wharf_pubsub_dropped_total`).
///
/// ```swift
/// let events = try wharf.pubSub("events", of: Event.self)
/// let subscription = try await events.subscribe(channels: ["orders"])
/// try await events.publish(Event(kind: "created"), to: "orders")
/// for try await delivery in subscription { print(delivery.channel, delivery.message) }
/// ```
public final class PubSub<Message: Sendable>: Sendable {
    public let name: String
    /// Prepended to channel names on the wire; `""` by default, so other clients of the
    /// backend see the channels as named.
    public let prefix: String
    private let backend: any PubSubBackend
    private let codec: any WharfCodec<Message>
    private let dropped: Counter
    private let maximumValueBytes: Int

    init(
        name: String, prefix: String, backend: any PubSubBackend, codec: any WharfCodec<Message>,
        maximumValueBytes: Int, metrics: any MetricsFactory
    ) throws(WharfError) {
        try Names.validate(name, what: "pub/sub name")
        self.name = name
        self.prefix = prefix
        self.backend = backend
        self.codec = codec
        self.maximumValueBytes = maximumValueBytes
        self.dropped = Counter(label: "wharf_pubsub_dropped_total", dimensions: [("pubsub", name)], factory: metrics)
    }

    /// Publishes `message` to `channel`; returns how many subscribers received it.
    @discardableResult
    public func publish(_ message: Message, to channel: String) async throws -> Int {
        try Names.validateKey(channel, limit: 1024)
        let bytes = try self.codec.encodeChecked(message, limit: self.maximumValueBytes, what: "channel '\(channel)'")
        return try await self.backend.publish(self.prefix + channel, bytes)
    }

    /// Subscribes to channels and glob-style patterns; returns once the backend confirmed.
    public func subscribe(
        channels: [String] = [], patterns: [String] = [], bufferSize: Int = 1024,
        overflow: SubscriberOverflow = .dropOldest
    ) async throws -> PubSubSubscription<Message> {
        guard !channels.isEmpty || !patterns.isEmpty else {
            throw WharfError(.invalidConfiguration, "subscribe needs at least one channel or pattern")
        }
        let subscription = try await self.backend.subscribe(
            channels: channels.map { self.prefix + $0 }, patterns: patterns.map { Names.escapeGlob(self.prefix) + $0 },
            routingKey: nil)
        return PubSubSubscription(
            subscription: subscription, prefix: self.prefix, codec: self.codec, bufferSize: bufferSize,
            overflow: overflow, dropped: self.dropped)
    }
}
