import Atomics
import NIOCore
import Synchronization
import WharfProtocol

/// The kinds of subscription: channels, patterns and shard channels.
package enum SubscriptionKind: Sendable {
    case channel, pattern, shardChannel

    /// The reply words: `subscribe`/`unsubscribe`, `psubscribe`/…, `ssubscribe`/….
    var subscribeWord: StaticString {
        switch self {
        case .channel: return "subscribe"
        case .pattern: return "psubscribe"
        case .shardChannel: return "ssubscribe"
        }
    }

    var unsubscribeWord: StaticString {
        switch self {
        case .channel: return "unsubscribe"
        case .pattern: return "punsubscribe"
        case .shardChannel: return "sunsubscribe"
        }
    }
}

/// Every subscription of every client, and delivery of published messages.
///
/// Publishing formats each message once per protocol version and appends it to each
/// receiver's mailbox; the receivers' own threads send it. A receiver that has fallen
/// past its output buffer limit is cut off instead (see ``ClientMailbox``), so a slow
/// subscriber never slows a publisher down.
package final class PubSubHub: Sendable {
    struct Subscriber {
        let info: ClientInfo
        let mailbox: ClientMailbox
    }

    struct State {
        var channels: [[UInt8]: [Int64: Subscriber]] = [:]
        var patterns: [[UInt8]: [Int64: Subscriber]] = [:]
        var shardChannels: [[UInt8]: [Int64: Subscriber]] = [:]

        subscript(kind: SubscriptionKind) -> [[UInt8]: [Int64: Subscriber]] {
            get {
                switch kind {
                case .channel: return self.channels
                case .pattern: return self.patterns
                case .shardChannel: return self.shardChannels
                }
            }
            set {
                switch kind {
                case .channel: self.channels = newValue
                case .pattern: self.patterns = newValue
                case .shardChannel: self.shardChannels = newValue
                }
            }
        }
    }

    private let state = Mutex<State>(State())
    /// Subscriptions of all kinds, so publishing to nobody (and keyspace notifications
    /// with nobody listening) costs one load.
    private let subscriptionCount = ManagedAtomic<Int>(0)
    private let stats: StatsSlab
    private let limit: @Sendable () -> OutputBufferLimits.Limit

    init(stats: StatsSlab, limit: @escaping @Sendable () -> OutputBufferLimits.Limit) {
        self.stats = stats
        self.limit = limit
    }

    package var hasSubscribers: Bool { self.subscriptionCount.load(ordering: .relaxed) > 0 }

    // MARK: Subscribing

    /// Adds a subscription; returns whether it is new.
    func subscribe(_ kind: SubscriptionKind, _ name: [UInt8], info: ClientInfo, mailbox: ClientMailbox) -> Bool {
        let added = self.state.withLock { state -> Bool in
            var table = state[kind]
            defer { state[kind] = table }
            if table[name]?[info.id] != nil { return false }
            table[name, default: [:]][info.id] = Subscriber(info: info, mailbox: mailbox)
            return true
        }
        if added { self.subscriptionCount.wrappingIncrement(ordering: .relaxed) }
        return added
    }

    func unsubscribe(_ kind: SubscriptionKind, _ name: [UInt8], clientID: Int64) {
        let removed = self.state.withLock { state -> Bool in
            var table = state[kind]
            defer { state[kind] = table }
            guard var subscribers = table[name], subscribers.removeValue(forKey: clientID) != nil else { return false }
            table[name] = subscribers.isEmpty ? nil : subscribers
            return true
        }
        if removed { self.subscriptionCount.wrappingDecrement(ordering: .relaxed) }
    }

    // MARK: Publishing

    /// Delivers `message` on `channel` to its subscribers (and, for plain channels, to the
    /// matching patterns). Returns the number of receivers.
    @discardableResult
    package func publish(_ channel: UnsafeRawBufferPointer, _ message: UnsafeRawBufferPointer, shard: Bool = false)
        -> Int
    {
        guard self.hasSubscribers else { return 0 }
        let limit = self.limit()
        var formatted = FormattedMessages()
        return self.state.withLock { state -> Int in
            var receivers = 0
            let channelKey = Array(channel)
            if let subscribers = (shard ? state.shardChannels : state.channels)[channelKey] {
                for subscriber in subscribers.values {
                    let version =
                        subscriber.info.protocolVersion.load(ordering: .relaxed) == 3 ? RESPVersion.resp3 : .resp2
                    let bytes = formatted.message(
                        version, kind: shard ? "smessage" : "message", pattern: nil, channel: channel, payload: message)
                    self.deliver(bytes, to: subscriber, limit: limit)
                    receivers += 1
                }
            }
            if !shard {
                for (pattern, subscribers) in state.patterns {
                    let matches = pattern.withUnsafeBytes { GlobPattern.matches($0, channel) }
                    guard matches else { continue }
                    var perPattern = FormattedMessages()
                    for subscriber in subscribers.values {
                        let version =
                            subscriber.info.protocolVersion.load(ordering: .relaxed) == 3 ? RESPVersion.resp3 : .resp2
                        let bytes = pattern.withUnsafeBytes {
                            perPattern.message(
                                version, kind: "pmessage", pattern: $0, channel: channel, payload: message)
                        }
                        self.deliver(bytes, to: subscriber, limit: limit)
                        receivers += 1
                    }
                }
            }
            return receivers
        }
    }

    private func deliver(_ bytes: ByteBuffer, to subscriber: Subscriber, limit: OutputBufferLimits.Limit) {
        if subscriber.mailbox.deliver(bytes, limits: limit) == .cutOff {
            self.stats.add(.outputBufferLimitDisconnections)
        }
    }

    /// A message formatted once per protocol version.
    struct FormattedMessages {
        var resp2: ByteBuffer?
        var resp3: ByteBuffer?

        mutating func message(
            _ version: RESPVersion, kind: StaticString, pattern: UnsafeRawBufferPointer?,
            channel: UnsafeRawBufferPointer, payload: UnsafeRawBufferPointer
        ) -> ByteBuffer {
            if version == .resp3, let resp3 { return resp3 }
            if version == .resp2, let resp2 { return resp2 }
            var writer = RESPReplyWriter(buffer: ByteBuffer(), version: version)
            writer.writePushHeader(count: pattern == nil ? 3 : 4)
            writer.writeBulkString(UnsafeRawBufferPointer(start: kind.utf8Start, count: kind.utf8CodeUnitCount))
            if let pattern { writer.writeBulkString(pattern) }
            writer.writeBulkString(channel)
            writer.writeBulkString(payload)
            if version == .resp3 { self.resp3 = writer.buffer } else { self.resp2 = writer.buffer }
            return writer.buffer
        }
    }

    // MARK: Introspection (PUBSUB)

    /// Active channels (with at least one subscriber) matching `pattern`, if given.
    func channels(_ kind: SubscriptionKind, matching pattern: UnsafeRawBufferPointer?) -> [[UInt8]] {
        self.state.withLock { state in
            state[kind].keys.filter { name in
                guard let pattern else { return true }
                return name.withUnsafeBytes { GlobPattern.matches(pattern, $0) }
            }
        }
    }

    func subscriberCount(_ kind: SubscriptionKind, _ name: [UInt8]) -> Int {
        self.state.withLock { $0[kind][name]?.count ?? 0 }
    }

    /// Number of distinct patterns subscribed to (PUBSUB NUMPAT).
    var patternCount: Int {
        self.state.withLock { $0.patterns.count }
    }
}
