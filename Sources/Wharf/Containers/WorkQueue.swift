import CoreMetrics
import Foundation
import Synchronization
import WharfClient
import WharfEngine

/// Exponential backoff with jitter between deliveries of something that failed (work queue
/// elements, event stream entries).
public struct RetryBackoff: Sendable, Hashable {
    public var initial: Duration
    public var maximum: Duration
    public var multiplier: Double
    /// Each delay is drawn between (1 - jitter) and 1 times the computed one.
    public var jitter: Double

    public init(
        initial: Duration = .seconds(1), maximum: Duration = .seconds(300), multiplier: Double = 2,
        jitter: Double = 0.2
    ) {
        self.initial = initial
        self.maximum = maximum
        self.multiplier = multiplier
        self.jitter = jitter
    }

    /// The client's reconnection backoff computes the same curve.
    func delay(afterAttempt attempt: Int) -> Duration {
        Backoff(initial: self.initial, maximum: self.maximum, multiplier: self.multiplier, jitter: self.jitter)
            .delay(afterAttempt: attempt)
    }
}

/// A ``WorkQueue``'s bound, retries, dead letters and rate limit.
public struct WorkQueueConfiguration: Sendable {
    /// Exponential backoff between deliveries of an element that failed.
    public typealias Backoff = RetryBackoff

    /// At most this many elements wait; nil: unbounded.
    public var bound: Int?
    /// After this many failed deliveries an element goes to the dead-letter list.
    public var maximumDeliveries = 5
    public var retryBackoff = Backoff()
    public var rateLimit: RateLimit?
    /// A reliable consumer silent for longer than this is presumed dead by
    /// ``WorkQueue/recoverAbandoned()``, which returns its elements to the queue.
    public var consumerTimeout: Duration = .seconds(30)
    /// Largest encoded element accepted.
    public var maximumValueBytes = 16 << 20

    public init(bound: Int? = nil, maximumDeliveries: Int = 5, rateLimit: RateLimit? = nil) {
        self.bound = bound
        self.maximumDeliveries = maximumDeliveries
        self.rateLimit = rateLimit
    }
}

/// What a producer does when a bounded queue is full.
public enum WhenFull: Sendable, Hashable {
    /// Throw ``WharfError/Code/queueFull`` at once.
    case fail
    /// Wait for room up to the deadline, then throw ``WharfError/Code/queueFull``.
    case wait(Duration)
}

/// An element taken by a reliable consumer: it stays in the consumer's processing list
/// until acknowledged, and goes back to the queue (with backoff) when it fails.
public struct WorkQueueDelivery<Element: Sendable>: Sendable {
    public let element: Element
    /// 1 for the first delivery.
    public let attempt: Int
    let envelope: [UInt8]
    let queue: WorkQueue<Element>
    let consumer: String

    /// Done with it: removes it for good.
    public func acknowledge() async throws {
        try await self.queue.acknowledge(self)
    }

    /// It failed: it is delivered again after the backoff, or goes to the dead-letter list
    /// once it has failed ``WorkQueueConfiguration/maximumDeliveries`` times.
    public func fail() async throws {
        try await self.queue.fail(self)
    }
}

/// A FIFO queue of `Element`s shared by every process using the same backend: optional
/// bound, blocking dequeue, close, reliable delivery with acknowledgement, recovery of a
/// dead consumer's elements, retries with backoff, a dead-letter list, and rate limiting.
///
/// ```swift
/// let emails = try wharf.workQueue("emails", of: Email.self)
/// try await emails.enqueue(Email(to: "ada@example.com"))
/// if let delivery = try await emails.dequeue(consumer: "worker-1", timeout: .seconds(5)) {
///     try await send(delivery.element)
///     try await delivery.acknowledge()
/// }
/// ```
///
/// Keys (one cluster slot per queue): `queue:{<name>}` (the list), `…:processing:<consumer>`,
/// `…:retry` (sorted by due time), `…:dead`, `…:consumers`, `…:closed`, `…:rate`.
/// Metrics (dimension `queue`): `wharf_queue_size`, `wharf_enqueue_ops_total`,
/// `wharf_dequeue_latency_seconds` (from enqueue to dequeue).
public final class WorkQueue<Element: Sendable>: Sendable {
    public let name: String
    public let configuration: WorkQueueConfiguration
    private let backend: any QueueBackend
    private let codec: any WharfCodec<Element>
    private let rateLimiter: RateLimiter?
    private let queueKey: [UInt8]
    private let retryKey: [UInt8]
    private let deadKey: [UInt8]
    private let consumersKey: [UInt8]
    private let closedKey: [UInt8]
    private let processingPrefix: String
    private let size: Gauge
    private let enqueued: Counter
    private let latency: CoreMetrics.Timer
    /// When this handle last promoted due retries (monotonic ms) and last read the closed
    /// flag, so neither costs a round trip on every call.
    private let housekeeping = Mutex<(promoted: Int64, closedChecked: Int64, closed: Bool)>((0, 0, false))

    init(
        name: String, backend: any QueueBackend, transport: any CommandTransport, codec: any WharfCodec<Element>,
        configuration: WorkQueueConfiguration, metrics: any MetricsFactory
    ) throws(WharfError) {
        try Names.validate(name, what: "queue name")
        if let bound = configuration.bound, bound < 1 {
            throw WharfError(.invalidConfiguration, "queue '\(name)': bound must be at least 1 (got \(bound))")
        }
        self.name = name
        self.configuration = configuration
        self.backend = backend
        self.codec = codec
        let base = "queue:{\(name)}"
        self.queueKey = Array(base.utf8)
        self.retryKey = Array("\(base):retry".utf8)
        self.deadKey = Array("\(base):dead".utf8)
        self.consumersKey = Array("\(base):consumers".utf8)
        self.closedKey = Array("\(base):closed".utf8)
        self.processingPrefix = "\(base):processing:"
        self.rateLimiter = configuration.rateLimit.map {
            RateLimiter($0, key: Array("\(base):rate".utf8), transport: transport)
        }
        let dimensions = [("queue", name)]
        self.size = Gauge(label: "wharf_queue_size", dimensions: dimensions, factory: metrics)
        self.enqueued = Counter(label: "wharf_enqueue_ops_total", dimensions: dimensions, factory: metrics)
        self.latency = CoreMetrics.Timer(
            label: "wharf_dequeue_latency_seconds", dimensions: dimensions, factory: metrics)
    }

    // MARK: Envelope: marker, version, attempt, enqueue time (ms), then the payload

    private static var marker: [UInt8] { [0xF7, 0x01] }
    private static var headerSize: Int { 2 + 1 + 8 + 8 }

    private func wrap(_ element: Element, attempt: Int = 1) throws(WharfError) -> [UInt8] {
        let payload = try self.codec.encodeChecked(
            element, limit: self.configuration.maximumValueBytes, what: "queue '\(self.name)' element")
        return Self.envelope(payload, attempt: attempt)
    }

    private static func envelope(_ payload: [UInt8], attempt: Int, enqueuedAt: Int64? = nil) -> [UInt8] {
        var bytes = Self.marker
        bytes.reserveCapacity(Self.headerSize + payload.count)
        bytes.append(UInt8(clamping: attempt))
        // A random tag keeps equal payloads distinct, so LREM removes exactly this one.
        withUnsafeBytes(of: UInt64.random(in: 0...UInt64.max)) { bytes.append(contentsOf: $0) }
        let time = enqueuedAt ?? Int64(Date().timeIntervalSince1970 * 1000)
        withUnsafeBytes(of: time.littleEndian) { bytes.append(contentsOf: $0) }
        bytes.append(contentsOf: payload)
        return bytes
    }

    private func unwrap(_ bytes: [UInt8]) throws(WharfError) -> (element: Element, attempt: Int, payload: [UInt8]) {
        guard bytes.count >= Self.headerSize, bytes[0] == 0xF7, bytes[1] == 0x01 else {
            // Pushed by another client without the envelope: taken as a first delivery.
            return (try self.codec.decodeChecked(bytes, what: "queue '\(self.name)' element"), 1, bytes)
        }
        let payload = Array(bytes[Self.headerSize...])
        var time: Int64 = 0
        withUnsafeMutableBytes(of: &time) { $0.copyBytes(from: bytes[11..<19]) }
        let waited = Int64(Date().timeIntervalSince1970 * 1000) - Int64(littleEndian: time)
        self.latency.recordMilliseconds(max(0, waited))
        return (try self.codec.decodeChecked(payload, what: "queue '\(self.name)' element"), Int(bytes[2]), payload)
    }

    // MARK: Producing

    /// Adds `element` at the back. A bounded, full queue fails or waits as `whenFull` says;
    /// a closed queue throws ``WharfError/Code/queueClosed``.
    public func enqueue(_ element: Element, whenFull: WhenFull = .fail) async throws {
        try await self.checkNotClosed()
        try await self.rateLimiter?.acquire(queue: self.name)
        let envelope = try self.wrap(element)
        guard let bound = self.configuration.bound else {
            self.size.record(try await self.backend.push(self.queueKey, [envelope]))
            self.enqueued.increment()
            return
        }
        let deadline: ContinuousClock.Instant? =
            if case .wait(let wait) = whenFull { .now + wait } else { nil }
        var pause = Duration.milliseconds(5)
        while true {
            if try await self.backend.pushBounded(self.queueKey, envelope, bound: bound) {
                self.enqueued.increment()
                return
            }
            guard let deadline, ContinuousClock.now < deadline else {
                throw WharfError(.queueFull, "queue '\(self.name)' holds its bound of \(bound) elements")
            }
            try await Task.sleep(for: min(pause, deadline - .now))
            pause = min(pause * 2, .milliseconds(200))
        }
    }

    /// Adds several elements in one round trip (unbounded queues only).
    public func enqueue(contentsOf elements: [Element]) async throws {
        guard self.configuration.bound == nil else {
            for element in elements { try await self.enqueue(element) }
            return
        }
        try await self.checkNotClosed()
        for _ in elements { try await self.rateLimiter?.acquire(queue: self.name) }
        let envelopes = try elements.map { element throws(WharfError) in try self.wrap(element) }
        self.size.record(try await self.backend.push(self.queueKey, envelopes))
        self.enqueued.increment(by: Int64(elements.count))
    }

    private func checkNotClosed() async throws {
        let now = EngineClock.monotonicNanoseconds() / 1_000_000
        let cached = self.housekeeping.withLock { state -> Bool? in
            if state.closed { return true }
            return now - state.closedChecked < 100 ? false : nil
        }
        let closed: Bool
        if let cached {
            closed = cached
        } else {
            closed = try await self.backend.flag(self.closedKey)
            self.housekeeping.withLock {
                $0.closedChecked = now
                $0.closed = closed
            }
        }
        if closed { throw WharfError(.queueClosed, "queue '\(self.name)' is closed") }
    }

    // MARK: Consuming

    /// Takes the element at the front, waiting up to `timeout` (nil: do not wait). Returns
    /// nil when none came, or at once when the queue is closed and empty. At most once:
    /// an element taken here is gone even if the caller then fails.
    public func dequeue(timeout: Duration? = nil) async throws -> Element? {
        try await self.promoteDueRetries()
        if let bytes = try await self.backend.pop(self.queueKey) { return try self.unwrap(bytes).element }
        guard let timeout else { return nil }
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if try await self.isClosed() { return nil }
            // Waits in slices so that a close is noticed within a second.
            let slice = min(deadline - .now, .seconds(1))
            if let bytes = try await self.backend.pop(self.queueKey, wait: max(slice, .milliseconds(1))) {
                return try self.unwrap(bytes).element
            }
        }
        return nil
    }

    /// Takes the element at the front into `consumer`'s processing list (at least once):
    /// acknowledge it when done, or fail it to have it retried. Waits up to `timeout`.
    public func dequeue(consumer: String, timeout: Duration? = nil) async throws -> WorkQueueDelivery<Element>? {
        try Names.validate(consumer, what: "consumer name")
        try await self.promoteDueRetries()
        try await self.backend.setField(self.consumersKey, consumer, "\(Int(Date().timeIntervalSince1970 * 1000))")
        let processing = Array((self.processingPrefix + consumer).utf8)
        var bytes = try await self.backend.move(from: self.queueKey, to: processing, wait: nil)
        if bytes == nil, let timeout {
            let deadline = ContinuousClock.now + timeout
            while bytes == nil && ContinuousClock.now < deadline {
                if try await self.isClosed() { return nil }
                let slice = min(deadline - .now, .seconds(1))
                bytes = try await self.backend.move(
                    from: self.queueKey, to: processing, wait: max(slice, .milliseconds(1)))
            }
        }
        guard let bytes else { return nil }
        let (element, attempt, _) = try self.unwrap(bytes)
        return WorkQueueDelivery(element: element, attempt: attempt, envelope: bytes, queue: self, consumer: consumer)
    }

    func acknowledge(_ delivery: WorkQueueDelivery<Element>) async throws {
        _ = try await self.backend.remove(
            Array((self.processingPrefix + delivery.consumer).utf8), element: delivery.envelope)
    }

    func fail(_ delivery: WorkQueueDelivery<Element>) async throws {
        let processing = Array((self.processingPrefix + delivery.consumer).utf8)
        guard try await self.backend.remove(processing, element: delivery.envelope) == 1 else { return }
        let payload = Array(delivery.envelope.dropFirst(Self.headerSize))
        if delivery.attempt >= self.configuration.maximumDeliveries {
            _ = try await self.backend.push(self.deadKey, [Self.envelope(payload, attempt: delivery.attempt)])
            return
        }
        let delay = self.configuration.retryBackoff.delay(afterAttempt: delivery.attempt)
        let due = Int64(Date().timeIntervalSince1970 * 1000) + Int64(delay.milliseconds)
        try await self.backend.schedule(self.retryKey, Self.envelope(payload, attempt: delivery.attempt + 1), at: due)
    }

    /// Moves retries that are due back to the front of the queue (at most every 100 ms per handle).
    private func promoteDueRetries() async throws {
        let now = EngineClock.monotonicNanoseconds() / 1_000_000
        let due = self.housekeeping.withLock { state -> Bool in
            guard now - state.promoted >= 100 else { return false }
            state.promoted = now
            return true
        }
        guard due else { return }
        _ = try await self.backend.promoteDue(
            from: self.retryKey, to: self.queueKey, now: Int64(Date().timeIntervalSince1970 * 1000), limit: 100)
    }

    /// Returns the processing lists of consumers silent for longer than
    /// ``WorkQueueConfiguration/consumerTimeout`` to the front of the queue. Returns how
    /// many elements went back.
    @discardableResult
    public func recoverAbandoned() async throws -> Int {
        let now = Int(Date().timeIntervalSince1970 * 1000)
        var recovered = 0
        for (consumer, seen) in try await self.backend.fields(self.consumersKey) {
            guard now - (Int(seen) ?? 0) > self.configuration.consumerTimeout.milliseconds else { continue }
            let processing = Array((self.processingPrefix + consumer).utf8)
            // RPOPLPUSH-style moves keep each element in exactly one list throughout.
            while try await self.backend.moveBack(from: processing, to: self.queueKey) != nil { recovered += 1 }
            try await self.backend.removeField(self.consumersKey, consumer)
        }
        return recovered
    }

    /// Marks `consumer` alive (reliable consumers call it while working on long elements).
    public func heartbeat(consumer: String) async throws {
        try await self.backend.setField(self.consumersKey, consumer, "\(Int(Date().timeIntervalSince1970 * 1000))")
    }

    // MARK: State

    /// Elements waiting (retries and processing lists excluded).
    public func count() async throws -> Int {
        let count = try await self.backend.length(self.queueKey)
        self.size.record(count)
        return count
    }

    /// Elements that failed ``WorkQueueConfiguration/maximumDeliveries`` times.
    public func deadLetters() async throws -> [Element] {
        try await self.backend.elements(self.deadKey).map { bytes throws(WharfError) in try self.unwrap(bytes).element }
    }

    /// Puts every dead letter back in the queue for another round of deliveries.
    @discardableResult
    public func retryDeadLetters() async throws -> Int {
        var moved = 0
        while try await self.backend.moveBack(from: self.deadKey, to: self.queueKey) != nil { moved += 1 }
        return moved
    }

    /// Refuses further enqueues (``WharfError/Code/queueClosed``, seen by other processes
    /// within 100 ms); consumers drain what is left, then get nil at once.
    public func close() async throws {
        try await self.backend.setFlag(self.closedKey)
        self.housekeeping.withLock { $0.closed = true }
    }

    /// Whether the queue was closed (by any process).
    public func isClosed() async throws -> Bool {
        if self.housekeeping.withLock({ $0.closed }) { return true }
        let closed = try await self.backend.flag(self.closedKey)
        if closed { self.housekeeping.withLock { $0.closed = true } }
        return closed
    }
}
