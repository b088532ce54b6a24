import CoreMetrics
public import Foundation
import Synchronization
public import Tracing
import WharfClient

/// How an ``EventStream`` names, trims, consumes and checks its stream.
public struct EventStreamConfiguration<Event: Sendable>: Sendable {
    /// Trimming, by length or by age; `approximate` lets the backend drop whole nodes (`~`).
    public enum Trim: Sendable, Hashable {
        case maxLength(Int, approximate: Bool = true)
        case maxAge(Duration, approximate: Bool = true)
    }

    /// Environment in front of the name (`prod`, `test`); nil for none.
    public var prefix: String?
    /// After the name (replay runs); nil for none.
    public var postfix: String?
    /// Every part of the stream's name must match this regular expression.
    public var namePattern = "^[a-z0-9][a-z0-9_-]{0,99}$"
    public var trim: Trim?
    /// Trim on every publish (true) or only when ``EventStream/trimNow()`` runs (on a schedule).
    public var trimOnPublish = true
    /// Create a consumer group when a consumer first uses it; otherwise a missing group is
    /// an error.
    public var createGroupsOnDemand = true
    /// Entries pending longer than this with a consumer are claimed by another (XAUTOCLAIM).
    public var claimIdleAfter: Duration = .seconds(30)
    /// After this many deliveries an entry goes to the dead-letter stream `<stream>:dead`.
    public var maximumDeliveries = 5
    /// How long an entry a consumer failed (``EventDelivery/fail()``) waits before it is
    /// delivered again, by its number of deliveries so far.
    public var retryBackoff = RetryBackoff(initial: .milliseconds(100), maximum: .seconds(60))
    /// Turns a group's logical name into the stored one (say, prefixing the service's name);
    /// the identity by default.
    public var groupNaming: @Sendable (String) -> String = { $0 }
    /// Thresholds for the ``EventStreamSignal`` events of ``EventStream/measure()``.
    public var slowConsumerPending = 1000
    public var backpressureLag = 10_000
    /// A closure run on each event before publishing; a throw rejects it.
    public var validator: (@Sendable (Event) throws -> Void)?
    /// A JSON Schema the encoded event must satisfy (for the JSON codec); nil: none.
    public var schema: JSONSchema?
    /// Largest encoded event accepted.
    public var maximumValueBytes = 1 << 20
    /// Replicas that must have an entry before ``EventStream/publish(_:)`` returns (Redis
    /// WAIT): with Sentinel, an acknowledged entry then survives a failover. 0: no wait.
    public var replicasToAcknowledge = 0
    public var replicaTimeout: Duration = .seconds(1)

    public init(prefix: String? = nil, postfix: String? = nil, trim: Trim? = nil) {
        self.prefix = prefix
        self.postfix = postfix
        self.trim = trim
    }
}

/// A condition ``EventStream/measure()`` reports.
public enum EventStreamSignal: Sendable, Hashable {
    /// A group's pending list passed ``EventStreamConfiguration/slowConsumerPending``.
    case slowConsumer(group: String, pending: Int)
    /// A group's lag passed ``EventStreamConfiguration/backpressureLag``.
    case backpressure(group: String, lag: Int)
    /// Trimming removed this many entries.
    case trimmed(Int)
    /// An event failed validation and was not published.
    case validationFailed(String)
    /// An entry went to the dead-letter stream after too many deliveries.
    case deadLettered(id: String)
}

/// A stream's figures at one moment.
public struct EventStreamMeasurement: Sendable {
    public var length: Int
    public var memoryBytes: Int?
    public var groups: [(name: String, pending: Int, lag: Int?)]
}

/// One event as a consumer receives it.
public struct EventDelivery<Event: Sendable>: Sendable {
    /// The entry's stream ID.
    public let id: String
    public let event: Event
    /// Which producer published it and its sequence number there: together they identify
    /// an event that a failover made a producer publish twice.
    public let producer: String
    public let sequence: Int
    /// The trace context carried in the entry (W3C `traceparent`), to make the
    /// publishing span the parent of the consumer's work.
    public let serviceContext: ServiceContext
    let stream: EventStream<Event>
    let group: String

    /// How many times the entry has been delivered to the group, this time included
    /// (known for retried and claimed entries; 1 for a first delivery).
    public let deliveries: Int

    /// Acknowledges the event: it leaves the group's pending list.
    public func acknowledge() async throws {
        _ = try await self.stream.backend.acknowledge(self.stream.key, group: self.group, ids: [self.id])
    }

    /// Processing failed: the entry is delivered again (to any consumer of the group) after
    /// ``EventStreamConfiguration/retryBackoff``, and goes to the dead-letter stream after
    /// ``EventStreamConfiguration/maximumDeliveries``.
    public func fail() async throws {
        _ = try await self.stream.backend.claim(
            self.stream.key, group: self.group, consumer: EventStream<Event>.retryConsumer, ids: [self.id], justID: true
        )
    }
}

extension Array {
    /// Acknowledges several deliveries of one group in one round trip.
    public func acknowledge<Event: Sendable>() async throws where Element == EventDelivery<Event> {
        guard let first = self.first else { return }
        _ = try await first.stream.backend.acknowledge(first.stream.key, group: first.group, ids: self.map(\.id))
    }
}

/// An event stream with consumer groups: explicit validated names, trimming, at-least-once
/// consumers with acknowledgement and claiming of stuck entries, a dead-letter stream,
/// measurements with slow-consumer and backpressure signals, replay into isolated streams,
/// validation, trace propagation and producer sequence numbers for deduplication.
///
/// ```swift
/// let orders = try wharf.eventStream("orders", of: OrderEvent.self, configuration: .init(prefix: "prod"))
/// try await orders.publish(OrderEvent(id: 7))
/// for try await delivery in try await orders.consume(group: "billing", consumer: "billing-1") {
///     try await bill(delivery.event)
///     try await delivery.acknowledge()
/// }
/// ```
public final class EventStream<Event: Sendable>: Sendable {
    /// The stream's full name: prefix, name and postfix joined by `.`.
    public let streamName: String
    public let configuration: EventStreamConfiguration<Event>
    let backend: any StreamBackend
    private let codec: any WharfCodec<Event>
    let key: [UInt8]
    private let deadKey: [UInt8]
    /// Identifies this publisher; with ``sequence`` it makes every event unique.
    public let producerID: String
    private let producerBytes: [UInt8]
    private let sequence = Atomic<Int>(0)
    private let lengthGauge: Gauge
    private let signals: AsyncStream<EventStreamSignal>.Continuation
    /// Conditions seen while publishing, consuming and measuring.
    public let events: AsyncStream<EventStreamSignal>
    private let validationFailures: Counter
    private let name: String
    private let metrics: any MetricsFactory
    /// Injects and extracts trace context: the handle's tracer, or the bootstrapped instrument.
    private let instrument: any Instrument

    init(
        name: String, backend: any StreamBackend, codec: any WharfCodec<Event>,
        configuration: EventStreamConfiguration<Event>, metrics: any MetricsFactory = MetricsSystem.factory,
        instrument: (any Instrument)? = nil
    ) throws(WharfError) {
        let parts = [configuration.prefix, name, configuration.postfix].compactMap { $0 }
        let pattern: NSRegularExpression
        do {
            pattern = try NSRegularExpression(pattern: configuration.namePattern)
        } catch {
            throw WharfError(
                .invalidConfiguration, "namePattern '\(configuration.namePattern)' is not a regular expression")
        }
        for part in parts {
            let range = NSRange(part.startIndex..., in: part)
            guard pattern.firstMatch(in: part, range: range) != nil else {
                throw WharfError(
                    .invalidName, "stream name part '\(part.prefix(64))' does not match '\(configuration.namePattern)'")
            }
        }
        self.name = name
        self.streamName = parts.joined(separator: ".")
        self.configuration = configuration
        self.backend = backend
        self.codec = codec
        self.key = Array("stream:\(self.streamName)".utf8)
        self.deadKey = Array("stream:\(self.streamName):dead".utf8)
        self.producerID = UUID().uuidString.lowercased()
        self.producerBytes = Array(self.producerID.utf8)
        let dimensions = [("stream", self.streamName)]
        self.metrics = metrics
        self.instrument = instrument ?? InstrumentationSystem.instrument
        self.lengthGauge = Gauge(label: "wharf_stream_length", dimensions: dimensions, factory: metrics)
        self.validationFailures = Counter(
            label: "wharf_stream_validation_failures_total", dimensions: dimensions, factory: metrics)
        (self.events, self.signals) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(256))
    }

    private func trimSpec() -> StreamTrim? {
        switch self.configuration.trim {
        case nil: return nil
        case .maxLength(let length, let approximate): return .maxLength(length, approximate: approximate)
        case .maxAge(let age, let approximate):
            let cutoff = Int(Date().timeIntervalSince1970 * 1000) - age.milliseconds
            return .minID("\(max(0, cutoff))-0", approximate: approximate)
        }
    }

    // MARK: Publishing

    /// Validates, encodes and appends `event`; returns its stream ID. The current trace
    /// context travels with it.
    @discardableResult
    public func publish(_ event: Event) async throws -> String {
        let fields = try self.fields(for: event)
        let trim = self.configuration.trimOnPublish ? self.trimSpec() : nil
        if self.configuration.replicasToAcknowledge > 0 {
            return try await self.backend.append(
                self.key, fields, trim: trim, replicas: self.configuration.replicasToAcknowledge,
                timeout: self.configuration.replicaTimeout)
        }
        return try await self.backend.append(self.key, fields, trim: trim)
    }

    /// Validates and encodes an event into the entry's fields.
    private func fields(for event: Event) throws(WharfError) -> [StreamField] {
        if let validator = self.configuration.validator {
            do {
                try validator(event)
            } catch {
                self.validationFailures.increment()
                self.signals.yield(.validationFailed("\(error)"))
                throw WharfError(.validationFailed, "stream '\(self.streamName)': \(error)")
            }
        }
        let payload = try self.codec.encodeChecked(
            event, limit: self.configuration.maximumValueBytes, what: "stream '\(self.streamName)' event")
        if let schema = self.configuration.schema, let problem = schema.violation(in: payload) {
            self.validationFailures.increment()
            self.signals.yield(.validationFailed(problem))
            throw WharfError(.validationFailed, "stream '\(self.streamName)': \(problem)")
        }
        var fields = [
            StreamField("data", payload), StreamField("producer", self.producerBytes),
            StreamField("seq", String(self.sequence.wrappingAdd(1, ordering: .relaxed).newValue)),
        ]
        // Without a current context there is nothing to carry.
        if let context = ServiceContext.current {
            var carrier: [String: String] = [:]
            self.instrument.inject(context, into: &carrier, using: HeaderInjector())
            for (name, value) in carrier.sorted(by: { $0.key < $1.key }) { fields.append(StreamField(name, value)) }
        }
        return fields
    }

    /// Publishes several events in one round trip; returns their IDs in order.
    @discardableResult
    public func publish(contentsOf events: [Event]) async throws -> [String] {
        var ids: [String] = []
        ids.reserveCapacity(events.count)
        var batch: [[StreamField]] = []
        batch.reserveCapacity(events.count)
        for event in events { batch.append(try self.fields(for: event)) }
        let trim = self.configuration.trimOnPublish ? self.trimSpec() : nil
        return try await self.backend.append(many: self.key, batch, trim: trim)
    }

    /// Trims now as configured (for `trimOnPublish: false`, on a schedule); returns how
    /// many entries went.
    @discardableResult
    public func trimNow() async throws -> Int {
        guard let trim = self.trimSpec() else { return 0 }
        let removed = try await self.backend.trim(self.key, trim)
        if removed > 0 { self.signals.yield(.trimmed(removed)) }
        return removed
    }

    // MARK: Consuming

    /// Makes sure `group` exists (created at the stream's end, or at `from`).
    public func createGroup(_ group: String, from id: String = "$") async throws {
        let group = self.configuration.groupNaming(group)
        try Names.validate(group, what: "group name")
        _ = try await self.backend.createGroup(self.key, group, from: id)
    }

    /// A consumer in `group`: an `AsyncSequence` of deliveries, at least once. It reads
    /// only when iterated (its buffer never overflows), claims entries left idle by dead
    /// consumers for ``EventStreamConfiguration/claimIdleAfter``, and moves entries
    /// delivered ``EventStreamConfiguration/maximumDeliveries`` times to the dead-letter
    /// stream. With `deduplicate`, an event already seen (same producer, same or lower
    /// sequence) is acknowledged and skipped.
    public func consume(
        group: String, consumer: String, batchSize: Int = 100, deduplicate: Bool = false
    ) async throws -> EventConsumer<Event> {
        let group = self.configuration.groupNaming(group)
        try Names.validate(group, what: "group name")
        try Names.validate(consumer, what: "consumer name")
        if self.configuration.createGroupsOnDemand {
            _ = try await self.backend.createGroup(self.key, group, from: "0")
        } else if try await !self.backend.groupExists(self.key, group) {
            throw WharfError(.invalidConfiguration, "stream '\(self.streamName)' has no group '\(group)'")
        }
        return EventConsumer(
            stream: self, group: group, consumer: consumer, batchSize: batchSize, deduplicate: deduplicate)
    }

    /// The pseudo-consumer that holds failed entries until their retry is due.
    static var retryConsumer: String { "wharf-retry" }

    func decode(_ record: StreamEntry, group: String, deliveries: Int = 1) -> EventDelivery<Event>? {
        var data: [UInt8]?
        var producer = ""
        var sequence = 0
        var carrier: [String: String]?
        for field in record.fields {
            let value = field.value
            switch field.name {
            case "data": data = value
            case "producer": producer = String(decoding: value, as: UTF8.self)
            case "seq": sequence = Int(String(decoding: value, as: UTF8.self)) ?? 0
            case "origin-id", "group": break
            default:
                // Whatever the instrument injected (W3C `traceparent` and `tracestate` for
                // OpenTelemetry); an entry without any costs no extraction.
                carrier = carrier ?? [:]
                carrier?[field.name] = field.text
            }
        }
        guard let data, let event = try? self.codec.decode(data) else { return nil }
        var context = ServiceContext.topLevel
        if let carrier { self.instrument.extract(carrier, into: &context, using: HeaderExtractor()) }
        return EventDelivery(
            id: record.id, event: event, producer: producer, sequence: sequence, serviceContext: context,
            stream: self, group: group, deliveries: deliveries)
    }

    /// Entries of `group` delivered too often: copied to the dead-letter stream and acknowledged.
    func deadLetterExhausted(group: String) async throws {
        let pending = try await self.backend.pending(self.key, group: group, count: 100, consumer: nil)
        let maximum = self.configuration.maximumDeliveries
        // Failed (waiting for a retry) after the last allowed delivery, or delivered past it
        // (claimed again from consumers that died): never one still being worked on.
        for entry in pending
        where (entry.consumer == Self.retryConsumer && entry.deliveries >= maximum) || entry.deliveries > maximum {
            if let record = try await self.backend.range(self.key, from: entry.id, to: entry.id, count: 1).first {
                _ = try await self.backend.append(
                    self.deadKey, record.fields + [StreamField("origin-id", entry.id), StreamField("group", group)],
                    trim: nil)
            }
            _ = try await self.backend.acknowledge(self.key, group: group, ids: [entry.id])
            self.signals.yield(.deadLettered(id: entry.id))
        }
    }

    /// Failed entries whose retry is due, claimed for `consumer` (which counts a delivery).
    func dueRetries(group: String, consumer: String, count: Int) async throws -> [EventDelivery<Event>] {
        let waiting = try await self.backend.pending(self.key, group: group, count: count, consumer: Self.retryConsumer)
        let due = waiting.filter { entry in
            entry.deliveries < self.configuration.maximumDeliveries
                && entry.idle >= self.configuration.retryBackoff.delay(afterAttempt: entry.deliveries).milliseconds
        }
        guard !due.isEmpty else { return [] }
        let deliveries = Dictionary(due.map { ($0.id, $0.deliveries + 1) }, uniquingKeysWith: { first, _ in first })
        return try await self.backend.claim(
            self.key, group: group, consumer: consumer, ids: due.map(\.id), justID: false
        )
        .compactMap { self.decode($0, group: group, deliveries: deliveries[$0.id] ?? 1) }
    }

    /// Destroys groups whose consumers have all been idle longer than `idle` and that hold
    /// no pending entries (or have no consumers at all); returns their names.
    @discardableResult
    public func removeUnusedGroups(idle: Duration) async throws -> [String] {
        var removed: [String] = []
        for group in try await self.backend.groups(self.key) where group.pending == 0 {
            let consumers = try await self.backend.consumers(self.key, group: group.name)
            guard consumers.allSatisfy({ $0.idle > idle.milliseconds }) else { continue }
            try await self.backend.destroyGroup(self.key, group: group.name)
            removed.append(group.name)
        }
        return removed
    }

    /// The dead-letter stream's events, oldest first.
    public func deadLetters(count: Int = 100) async throws -> [Event] {
        try await self.backend.range(self.deadKey, from: "-", to: "+", count: count).compactMap { record in
            record.fields.first { $0.name == "data" }.flatMap { try? self.codec.decode($0.value) }
        }
    }

    // MARK: Measuring and housekeeping

    /// Length, memory and per-group pending and lag; updates the gauges `wharf_stream_length`,
    /// `wharf_stream_group_lag`, `wharf_stream_pending` and `wharf_stream_memory_bytes`,
    /// and raises ``EventStreamSignal/slowConsumer(group:pending:)`` and
    /// ``EventStreamSignal/backpressure(group:lag:)`` past the thresholds.
    public func measure() async throws -> EventStreamMeasurement {
        let length = try await self.backend.streamLength(self.key)
        self.lengthGauge.record(length)
        let memory = try? await self.backend.memoryUsage(self.key)
        if let memory {
            Gauge(label: "wharf_stream_memory_bytes", dimensions: [("stream", self.streamName)], factory: self.metrics)
                .record(memory)
        }
        var groups: [(name: String, pending: Int, lag: Int?)] = []
        for group in (try? await self.backend.groups(self.key)) ?? [] {
            groups.append((group.name, group.pending, group.lag))
            let dimensions = [("stream", self.streamName), ("group", group.name)]
            Gauge(label: "wharf_stream_pending", dimensions: dimensions, factory: self.metrics).record(group.pending)
            if let lag = group.lag {
                Gauge(label: "wharf_stream_group_lag", dimensions: dimensions, factory: self.metrics).record(lag)
            }
            if group.pending > self.configuration.slowConsumerPending {
                self.signals.yield(.slowConsumer(group: group.name, pending: group.pending))
            }
            if let lag = group.lag, lag > self.configuration.backpressureLag {
                self.signals.yield(.backpressure(group: group.name, lag: lag))
            }
        }
        return EventStreamMeasurement(length: length, memoryBytes: memory ?? nil, groups: groups)
    }

    /// Measures (and trims, when not trimming on publish) every `interval` until cancelled.
    public func monitor(every interval: Duration) async throws {
        while !Task.isCancelled {
            _ = try await self.measure()
            if !self.configuration.trimOnPublish { try await self.trimNow() }
            try await Task.sleep(for: interval)
        }
    }

    /// Removes consumers of `group` idle longer than `idle` that hold no pending entries;
    /// returns their names.
    @discardableResult
    public func removeIdleConsumers(group: String, idle: Duration) async throws -> [String] {
        var removed: [String] = []
        for consumer in try await self.backend.consumers(self.key, group: group)
        where consumer.pending == 0 && consumer.idle > idle.milliseconds {
            try await self.backend.deleteConsumer(self.key, group: group, consumer: consumer.name)
            removed.append(consumer.name)
        }
        return removed
    }

    /// Destroys `group` (its pending entries are forgotten).
    public func removeGroup(_ group: String) async throws {
        try await self.backend.destroyGroup(self.key, group: group)
    }

    // MARK: Replay

    /// Copies the entries between two IDs (`-` and `+` for the ends; or times, as
    /// ``replay(from:to:postfix:)-(Date,Date,String)``) into an isolated stream with
    /// `postfix`, which is returned to be consumed like any other.
    public func replay(fromID start: String = "-", toID end: String = "+", postfix: String) async throws
        -> EventStream<Event>
    {
        var configuration = self.configuration
        configuration.postfix = postfix
        configuration.trim = nil
        let replay = try EventStream(
            name: self.name, backend: self.backend, codec: self.codec, configuration: configuration,
            metrics: self.metrics, instrument: self.instrument)
        var cursor = start
        while true {
            let batch = try await self.backend.range(self.key, from: cursor, to: end, count: 500)
            for record in batch { _ = try await self.backend.append(replay.key, record.fields, trim: nil) }
            guard batch.count == 500, let last = batch.last else { break }
            cursor = "(" + last.id
        }
        return replay
    }

    /// As ``replay(fromID:toID:postfix:)``, by the entries' times.
    public func replay(from start: Date, to end: Date, postfix: String) async throws -> EventStream<Event> {
        try await self.replay(
            fromID: "\(Int(start.timeIntervalSince1970 * 1000))-0",
            toID: "\(Int(end.timeIntervalSince1970 * 1000))-\(UInt64.max)", postfix: postfix)
    }

    /// Deletes this stream and its dead letters (for replay streams once used).
    public func delete() async throws {
        try await self.backend.deleteStream(self.key)
        try await self.backend.deleteStream(self.deadKey)
    }
}

/// A consumer of an ``EventStream``'s group; see ``EventStream/consume(group:consumer:batchSize:deduplicate:)``.
public final class EventConsumer<Event: Sendable>: AsyncSequence, Sendable {
    public typealias Element = EventDelivery<Event>

    let stream: EventStream<Event>
    let group: String
    let consumer: String
    let batchSize: Int
    let deduplicate: Bool

    init(stream: EventStream<Event>, group: String, consumer: String, batchSize: Int, deduplicate: Bool) {
        self.stream = stream
        self.group = group
        self.consumer = consumer
        self.batchSize = batchSize
        self.deduplicate = deduplicate
    }

    public struct AsyncIterator: AsyncIteratorProtocol {
        let owner: EventConsumer<Event>
        var buffer: [EventDelivery<Event>] = []
        var lastClaim = ContinuousClock.now
        /// First its own pending entries (after a restart), then new ones.
        var readingHistory = true
        var historyID = "0"
        var seen: [String: Int] = [:]

        public mutating func next() async throws -> EventDelivery<Event>? {
            let stream = self.owner.stream
            while true {
                if !self.buffer.isEmpty {
                    let delivery = self.buffer.removeFirst()
                    if self.owner.deduplicate {
                        if let last = self.seen[delivery.producer], delivery.sequence <= last {
                            try await delivery.acknowledge()
                            continue
                        }
                        self.seen[delivery.producer] = delivery.sequence
                    }
                    return delivery
                }
                try Task.checkCancellation()
                // Claims (stuck entries, due retries, dead letters) are checked at most this often.
                let claimPeriod = Swift.min(
                    stream.configuration.claimIdleAfter / 2, stream.configuration.retryBackoff.initial / 2)
                if ContinuousClock.now - self.lastClaim >= claimPeriod {
                    self.lastClaim = .now
                    try await stream.deadLetterExhausted(group: self.owner.group)
                    self.buffer = try await stream.dueRetries(
                        group: self.owner.group, consumer: self.owner.consumer, count: self.owner.batchSize)
                    if !self.buffer.isEmpty { continue }
                    let claimed = try await stream.backend.claimIdle(
                        stream.key, group: self.owner.group, consumer: self.owner.consumer,
                        idle: stream.configuration.claimIdleAfter, count: self.owner.batchSize)
                    self.buffer = claimed.compactMap { stream.decode($0, group: self.owner.group) }
                    if !self.buffer.isEmpty { continue }
                }
                let records = try await stream.backend.readGroup(
                    stream.key, group: self.owner.group, consumer: self.owner.consumer, count: self.owner.batchSize,
                    // The wait ends in time for the next claim check.
                    wait: self.readingHistory ? nil : Swift.max(.milliseconds(10), Swift.min(.seconds(1), claimPeriod)),
                    id: self.readingHistory ? self.historyID : ">")
                if self.readingHistory && records.isEmpty {
                    self.readingHistory = false
                    continue
                }
                self.buffer = records.compactMap { stream.decode($0, group: self.owner.group) }
                // Its own history is read in pages; the next page starts after this one.
                if self.readingHistory, let last = records.last { self.historyID = last.id }
            }
        }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(owner: self) }
}

private struct HeaderInjector: Injector {
    func inject(_ value: String, forKey key: String, into carrier: inout [String: String]) {
        carrier[key] = value
    }
}

private struct HeaderExtractor: Extractor {
    func extract(key: String, from carrier: [String: String]) -> String? {
        carrier[key]
    }
}
