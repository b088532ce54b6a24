import Synchronization
import WharfProtocol

/// What a ``WharfSubscription`` delivers.
public enum PubSubMessage: Sendable, Hashable {
    /// A message published to a channel the subscription named.
    case message(channel: String, payload: [UInt8])
    /// A message published to a channel that matched a pattern.
    case patternMessage(pattern: String, channel: String, payload: [UInt8])
    /// A message published with SPUBLISH to a shard channel.
    case shardMessage(channel: String, payload: [UInt8])
    /// The connection was lost and a new one has subscribed again to every channel and
    /// pattern. Messages published while it was down were missed.
    case resubscribed

    /// The payload as UTF-8 text (nil for ``resubscribed``).
    public var text: String? {
        switch self {
        case .message(_, let payload), .patternMessage(_, _, let payload), .shardMessage(_, let payload):
            return String(decoding: payload, as: UTF8.self)
        case .resubscribed: return nil
        }
    }
}

/// One push message on a subscribed connection, as both kinds of subscription read it.
enum PubSubPush {
    /// A message, with the channel, pattern or shard channel it was delivered for.
    case message(PubSubMessage, kind: SharedSubscriptions.Kind, name: String)
    /// The server's confirmation of one name of a (P|S)(UN)SUBSCRIBE.
    case confirmation

    /// nil for anything else (a RESP2 `pong`, RESP3 pushes meant for others).
    init?(_ value: RESPValue) {
        guard let parts = value.elements, let kind = parts.first?.string?.lowercased() else { return nil }
        switch kind {
        case "message" where parts.count == 3:
            let channel = parts[1].string ?? ""
            self = .message(.message(channel: channel, payload: Self.bytes(parts[2])), kind: .channel, name: channel)
        case "smessage" where parts.count == 3:
            let channel = parts[1].string ?? ""
            self = .message(
                .shardMessage(channel: channel, payload: Self.bytes(parts[2])), kind: .shardChannel, name: channel)
        case "pmessage" where parts.count == 4:
            let pattern = parts[1].string ?? ""
            self = .message(
                .patternMessage(pattern: pattern, channel: parts[2].string ?? "", payload: Self.bytes(parts[3])),
                kind: .pattern, name: pattern)
        case "subscribe", "psubscribe", "ssubscribe", "unsubscribe", "punsubscribe", "sunsubscribe":
            self = .confirmation
        default:
            return nil
        }
    }

    private static func bytes(_ value: RESPValue) -> [UInt8] {
        if case .bulkString(let bytes) = value { return bytes }
        return Array((value.string ?? "").utf8)
    }
}

/// The confirmations the server owes for subscription commands sent on one connection, and
/// those received; a caller waits until the count received reaches its target. Kept
/// inside its owner's lock; continuations it returns are resumed after the lock.
struct SubscriptionConfirmations {
    private var expected = 0
    private var received = 0
    private var waiters: [(target: Int, continuation: CheckedContinuation<Void, Never>)] = []

    /// `count` more confirmations are owed; returns the count to wait for.
    mutating func expect(_ count: Int) -> Int {
        self.expected += count
        return self.expected
    }

    /// A new connection: nothing is owed on it yet.
    mutating func reset() {
        self.expected = 0
        self.received = 0
    }

    /// The count to wait for: every confirmation owed so far.
    var target: Int { self.expected }

    func reached(_ target: Int) -> Bool { self.received >= target }

    mutating func wait(for target: Int, _ continuation: CheckedContinuation<Void, Never>) {
        self.waiters.append((target, continuation))
    }

    /// One confirmation arrived; returns the waiters it satisfies.
    mutating func confirm() -> [CheckedContinuation<Void, Never>] {
        self.received += 1
        let due = self.waiters.filter { $0.target <= self.received }.map(\.continuation)
        self.waiters.removeAll { $0.target <= self.received }
        return due
    }

    /// Every waiter, released because the connection ended or the subscription closed.
    mutating func releaseAll() -> [CheckedContinuation<Void, Never>] {
        defer { self.waiters = [] }
        return self.waiters.map(\.continuation)
    }
}

/// Messages from channels, patterns and shard channels, as an `AsyncSequence`.
///
/// In RESP3 the subscriptions of a client share one of its pooled connections (messages
/// are push messages beside the replies); in RESP2 each has a connection of its own. When
/// the connection is lost, the subscription reconnects (with the client's backoff),
/// subscribes again to everything and yields ``PubSubMessage/resubscribed``; the sequence
/// ends with an error only when it cannot reconnect.
///
/// ```swift
/// let subscription = try await client.subscribe(channels: ["news"])
/// for try await message in subscription {
///     if case .message(let channel, _) = message { print(channel, message.text!) }
/// }
/// ```
public final class WharfSubscription: AsyncSequence, Sendable {
    public typealias Element = PubSubMessage
    public typealias AsyncIterator = AsyncThrowingStream<PubSubMessage, any Error>.Iterator

    private struct State {
        var channels: Set<String> = []
        var patterns: Set<String> = []
        var shardChannels: Set<String> = []
        var connection: WharfConnection?
        var closed = false
        /// For the commands sent on the current connection.
        var confirmations = SubscriptionConfirmations()
    }

    private let client: WharfClient
    /// In a cluster, a key whose slot's node the subscription connects to (keyspace
    /// notifications are published on the node that holds the key); nil: any node.
    private let routingKey: String?
    /// Set in RESP3: the client's registry on its shared connection does the work.
    private let shared: SharedSubscriptions?
    private let stream: AsyncThrowingStream<PubSubMessage, any Error>
    private let continuation: AsyncThrowingStream<PubSubMessage, any Error>.Continuation
    private let state = Mutex(State())

    init(client: WharfClient, shared: SharedSubscriptions? = nil, routingKey: String? = nil) {
        self.client = client
        self.routingKey = routingKey
        self.shared = shared
        (self.stream, self.continuation) = AsyncThrowingStream.makeStream()
    }

    deinit {
        self.continuation.finish()
    }

    public func makeAsyncIterator() -> AsyncIterator { self.stream.makeAsyncIterator() }

    /// Adds channels; returns once the server has confirmed them.
    public func subscribe(channels: [String]) async {
        if let shared { return await self.sharedChange(shared, .channel, channels, add: true) }
        await self.change("SUBSCRIBE", channels, \.channels, add: true)
    }
    public func unsubscribe(channels: [String]) async {
        if let shared { return await self.sharedChange(shared, .channel, channels, add: false) }
        await self.change("UNSUBSCRIBE", channels, \.channels, add: false)
    }
    /// Adds glob-style patterns (PSUBSCRIBE).
    public func subscribe(patterns: [String]) async {
        if let shared { return await self.sharedChange(shared, .pattern, patterns, add: true) }
        await self.change("PSUBSCRIBE", patterns, \.patterns, add: true)
    }
    public func unsubscribe(patterns: [String]) async {
        if let shared { return await self.sharedChange(shared, .pattern, patterns, add: false) }
        await self.change("PUNSUBSCRIBE", patterns, \.patterns, add: false)
    }
    /// Adds shard channels (SSUBSCRIBE).
    public func subscribe(shardChannels: [String]) async {
        if let shared { return await self.sharedChange(shared, .shardChannel, shardChannels, add: true) }
        await self.change("SSUBSCRIBE", shardChannels, \.shardChannels, add: true)
    }
    public func unsubscribe(shardChannels: [String]) async {
        if let shared { return await self.sharedChange(shared, .shardChannel, shardChannels, add: false) }
        await self.change("SUNSUBSCRIBE", shardChannels, \.shardChannels, add: false)
    }

    /// A change made through the shared registry; a failure ends the sequence with it.
    private func sharedChange(
        _ shared: SharedSubscriptions, _ kind: SharedSubscriptions.Kind, _ names: [String], add: Bool
    ) async {
        do {
            try await shared.change(self, kind, names, add: add)
        } catch {
            shared.remove(self)
            self.end(throwing: error)
        }
    }

    /// Hands a message to the sequence (from the shared registry).
    func deliver(_ message: PubSubMessage) {
        self.continuation.yield(message)
    }

    /// Ends the sequence with `error` (from the shared registry).
    func end(throwing error: any Error) {
        self.state.withLock { $0.closed = true }
        self.continuation.finish(throwing: error)
    }

    func closeWhenIterationEnds() {
        self.continuation.onTermination = { [weak self] termination in
            if case .cancelled = termination { self?.close() }
        }
    }

    /// Ends the subscription: the sequence finishes and the connection closes.
    public func close() {
        if let shared {
            shared.remove(self)
            self.state.withLock { $0.closed = true }
            self.continuation.finish()
            return
        }
        let (connection, waiters) = self.state.withLock { state in
            state.closed = true
            return (state.connection, state.confirmations.releaseAll())
        }
        for waiter in waiters { waiter.resume() }
        connection?.close()
        self.continuation.finish()
    }

    private func change(_ name: String, _ names: [String], _ set: WritableKeyPath<State, Set<String>>, add: Bool) async
    {
        guard !names.isEmpty else { return }
        let (connection, target) = self.state.withLock { state -> (WharfConnection?, Int) in
            for item in names {
                if add { state[keyPath: set].insert(item) } else { state[keyPath: set].remove(item) }
            }
            guard let connection = state.connection else { return (nil, 0) }
            return (connection, state.confirmations.expect(names.count))
        }
        guard let connection else { return }  // the next connection subscribes to the new set
        var command = RESPCommand(name)
        command.append(contentsOf: names)
        connection.sendWithoutReply(command)
        await self.waitForConfirmations(target)
    }

    private func waitForConfirmations(_ target: Int) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let ready = self.state.withLock { state -> Bool in
                if state.confirmations.reached(target) || state.closed { return true }
                state.confirmations.wait(for: target, continuation)
                return false
            }
            if ready { continuation.resume() }
        }
    }

    /// Connects, subscribes to everything, and does it again whenever the connection is lost.
    func run() async {
        var first = true
        while !self.state.withLock({ $0.closed }) {
            let connection: WharfConnection
            do {
                connection = try await self.client.openDedicatedConnection(routingKey: self.routingKey)
            } catch {
                self.continuation.finish(throwing: error)
                self.readyOnce(failure: error)
                return
            }
            let (ended, endedContinuation) = AsyncStream<Void>.makeStream()
            do {
                try await connection.setPushReceiver(arraysArePushes: connection.protocolVersion == 2) { value in
                    self.receive(value)
                } onClose: { _ in
                    endedContinuation.finish()
                }
            } catch {
                connection.close()
                continue
            }
            let (commands, target, closed) = self.state.withLock {
                state -> (commands: [RESPCommand], target: Int, closed: Bool) in
                state.connection = connection
                state.confirmations.reset()
                var commands: [RESPCommand] = []
                for (name, names) in [
                    ("SUBSCRIBE", state.channels), ("PSUBSCRIBE", state.patterns), ("SSUBSCRIBE", state.shardChannels),
                ] where !names.isEmpty {
                    var command = RESPCommand(name)
                    command.append(contentsOf: names.sorted())
                    commands.append(command)
                    _ = state.confirmations.expect(names.count)
                }
                return (commands, state.confirmations.target, state.closed)
            }
            if closed {
                connection.close()
                self.readyOnce()
                return
            }
            for command in commands { connection.sendWithoutReply(command) }
            await self.waitForConfirmations(target)
            if !first { self.continuation.yield(.resubscribed) }
            first = false
            self.readyOnce()
            for await _ in ended {}
            let waiters = self.state.withLock { state in
                state.connection = nil
                return state.confirmations.releaseAll()
            }
            for waiter in waiters { waiter.resume() }
            if !self.state.withLock({ $0.closed }) {
                try? await Task.sleep(for: self.client.configuration.reconnect.initial)
            }
        }
    }

    private struct Readiness {
        var done = false
        var failure: (any Error)?
        var waiter: CheckedContinuation<Void, any Error>?
    }
    private let ready = Mutex(Readiness())

    private func readyOnce(failure: (any Error)? = nil) {
        let waiter = self.ready.withLock { ready -> CheckedContinuation<Void, any Error>? in
            guard !ready.done else { return nil }
            ready.done = true
            ready.failure = failure
            defer { ready.waiter = nil }
            return ready.waiter
        }
        if let failure { waiter?.resume(throwing: failure) } else { waiter?.resume() }
    }

    /// Waits until the first connection has subscribed; throws if it could not connect.
    func waitUntilReady() async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let (done, failure) = self.ready.withLock { ready -> (Bool, (any Error)?) in
                if ready.done { return (true, ready.failure) }
                ready.waiter = continuation
                return (false, nil)
            }
            guard done else { return }
            if let failure { continuation.resume(throwing: failure) } else { continuation.resume() }
        }
    }

    /// Runs on the connection's event loop for every push message.
    private func receive(_ value: RESPValue) {
        switch PubSubPush(value) {
        case .message(let message, _, _)?:
            self.continuation.yield(message)
        case .confirmation?:
            for continuation in self.state.withLock({ $0.confirmations.confirm() }) { continuation.resume() }
        case nil:
            break
        }
    }
}

extension WharfClient {
    /// Subscribes to channels, patterns and shard channels on a connection of the
    /// subscription's own; returns once the server has confirmed them. In a cluster,
    /// `routingKey` picks the node (the one serving that key's slot), which keyspace
    /// notifications need: a node publishes them only for its own keys.
    public func subscribe(
        channels: [String] = [], patterns: [String] = [], shardChannels: [String] = [], routingKey: String? = nil
    ) async throws -> WharfSubscription {
        if let shared = self.sharedSubscriptions(), try await self.sharesConnectionForPush() {
            let subscription = WharfSubscription(client: self, shared: shared)
            try await shared.change(subscription, .channel, channels, add: true)
            try await shared.change(subscription, .pattern, patterns, add: true)
            try await shared.change(subscription, .shardChannel, shardChannels, add: true)
            subscription.closeWhenIterationEnds()
            return subscription
        }
        let subscription = WharfSubscription(client: self, routingKey: routingKey)
        await subscription.subscribe(channels: channels)
        await subscription.subscribe(patterns: patterns)
        await subscription.subscribe(shardChannels: shardChannels)
        Task { await subscription.run() }
        try await subscription.waitUntilReady()
        subscription.closeWhenIterationEnds()
        return subscription
    }
}
