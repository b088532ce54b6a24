import Foundation
import Synchronization
import Testing
import Wharf
import WharfClient

/// One suite, written once, run against every backend: the embedded engine, `wharf serve`,
/// Redis standalone, Redis behind Sentinel (with a failover between the key-value and the
/// queue checks) and a three-primary Redis Cluster. Each backend starts once and every
/// container check runs against it in turn.
@Suite(.serialized) struct LibraryConformanceTests {
    @Test(arguments: LibraryBackendKind.selected)
    func containersBehaveTheSame(on kind: LibraryBackendKind) async throws {
        let backend = LibraryBackend(kind)
        do {
            let wharf = try await backend.open()
            let health = await wharf.health()
            #expect(health.isHealthy, "\(health)")
            if kind != .embedded { #expect(health.roundTrip != nil) }
            try await CacheChecks.run(wharf)
            try await KeyValueChecks.run(wharf)
            // Sentinel: the primary changes in the middle; the rest runs on the new one.
            try await backend.failOver(wharf)
            try await QueueChecks.run(wharf)
            try await PubSubChecks.run(wharf, countsReceivers: kind != .cluster)
            try await EventStreamChecks.run(wharf)
            try await wharf.close()
        } catch {
            await backend.stop()
            throw error
        }
        await backend.stop()
    }

    @Test func embeddedDataSurvivesReopening() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "wharf-reopen-\(UUID().uuidString)"
        )
        .path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let first = try await Wharf.open(.embedded(directory: directory, durability: .always))
        let store = try first.keyValueStore("durable", of: String.self)
        try await store.set("a", "one")
        let queue = try first.workQueue("durable", of: Int.self)
        try await queue.enqueue(contentsOf: [1, 2, 3])
        try await first.close()

        let second = try await Wharf.open(.embedded(directory: directory))
        #expect(try await second.keyValueStore("durable", of: String.self).entry("a")?.version == 1)
        let reopened = try second.workQueue("durable", of: Int.self)
        #expect(try await reopened.dequeue() == 1)
        #expect(try await reopened.count() == 2)
        try await second.close()
    }

    /// With Sentinel, every event whose publish returned survives the primary's death.
    @Test func eventStreamKeepsAcknowledgedEntriesThroughFailover() async throws {
        let backend = LibraryBackend(.sentinel)
        do {
            let wharf = try await backend.open()
            var configuration = EventStreamConfiguration<Int>()
            configuration.replicasToAcknowledge = 1
            configuration.replicaTimeout = .milliseconds(200)
            let stream = try wharf.eventStream("failover", of: Int.self, configuration: configuration)
            let acknowledged = Mutex<[Int]>([])
            let writer = Task {
                var value = 0
                while !Task.isCancelled {
                    value += 1
                    do {
                        try await stream.publish(value)
                        acknowledged.withLock { $0.append(value) }
                    } catch {
                        try? await Task.sleep(for: .milliseconds(20))
                    }
                }
            }
            while acknowledged.withLock({ $0.count }) < 20 { try await Task.sleep(for: .milliseconds(20)) }
            await backend.servers[0].stop(kill: true)
            let before = acknowledged.withLock { $0.count }
            let deadline = ContinuousClock.now + .seconds(40)
            // After the failover the new primary has no replica, so WAIT cannot confirm:
            // progress shows as publishes that are rejected, then the test reads back.
            while ContinuousClock.now < deadline {
                let health = await wharf.health()
                if health.isHealthy, try await stream.measure().length >= before { break }
                try await Task.sleep(for: .milliseconds(200))
            }
            writer.cancel()
            _ = await writer.value
            let stored = Set(try await Self.allValues(stream))
            let lost = acknowledged.withLock { $0 }.filter { !stored.contains($0) }
            #expect(lost.isEmpty, "acknowledged but lost: \(lost.prefix(10))")
            try await wharf.close()
        } catch {
            await backend.stop()
            throw error
        }
        await backend.stop()
    }

    static func allValues(_ stream: EventStream<Int>) async throws -> [Int] {
        var values: [Int] = []
        let consumer = try await stream.consume(group: "reader-\(UUID().uuidString.prefix(8))", consumer: "r")
        var iterator = consumer.makeAsyncIterator()
        let length = try await stream.measure().length
        while values.count < length, let delivery = try await iterator.next() { values.append(delivery.event) }
        return values
    }
}

/// A name no other check uses, so checks never see each other's keys.
func unique(_ base: String) -> String {
    "\(base)-\(UUID().uuidString.prefix(8).lowercased())"
}

struct Profile: Codable, Sendable, Equatable {
    var name: String
    var visits: Int
}

enum CacheChecks {
    static func run(_ wharf: Wharf) async throws {
        let cache = try wharf.cache(unique("profiles"), of: Profile.self)
        #expect(try await cache.get("ada") == nil)
        try await cache.set("ada", Profile(name: "Ada", visits: 1))
        #expect(try await cache.get("ada") == Profile(name: "Ada", visits: 1))
        #expect(try await cache.delete("ada"))
        #expect(try await cache.get("ada") == nil)

        // Time to live.
        try await cache.set("short", Profile(name: "S", visits: 0), timeToLive: .milliseconds(100))
        try await Task.sleep(for: .milliseconds(300))
        #expect(try await cache.get("short") == nil)

        // Batches.
        try await cache.set(["a": Profile(name: "A", visits: 1), "b": Profile(name: "B", visits: 2)])
        let batch = try await cache.get(["a", "b", "missing"])
        #expect(batch.count == 2 && batch["b"]?.visits == 2)

        // Stampede protection: twenty concurrent callers, one load.
        let loads = LoadCounter()
        try await withThrowingTaskGroup(of: Profile.self) { group in
            for _ in 0..<20 {
                group.addTask {
                    try await cache.value(for: "loaded") {
                        loads.count.withLock { $0 += 1 }
                        try await Task.sleep(for: .milliseconds(100))
                        return Profile(name: "L", visits: 7)
                    }
                }
            }
            for try await profile in group { #expect(profile.visits == 7) }
        }
        #expect(loads.count.withLock { $0 } == 1)

        // The local tier: LRU with a bound.
        let tiered = try wharf.cache(
            unique("tiered"), of: Int.self,
            configuration: CacheConfiguration(localTier: .init(capacity: 2, eviction: .lru, timeToLive: .seconds(60))))
        try await tiered.set("1", 1)
        try await tiered.set("2", 2)
        _ = try await tiered.get("1")
        try await tiered.set("3", 3)
        #expect(try await tiered.get("2") == 2, "evicted locally, still in the backend")

        // Bad input gets typed errors.
        var limited = CacheConfiguration()
        limited.maximumValueBytes = 8
        let small = try wharf.cache(unique("small"), of: String.self, configuration: limited)
        await #expect(throws: WharfError.self) { try await small.set("k", "far more than eight bytes") }
        #expect(throws: WharfError.self) { try wharf.cache("bad name!", of: Int.self) }
        let raw = try wharf.cache(unique("raw"), of: Data.self, codec: RawBytesCodec())
        try await raw.set("x", Data("not json".utf8))
        let sameKeys = try wharf.cache(
            raw.name, of: Profile.self, configuration: CacheConfiguration(prefix: "cache:\(raw.name):"))
        do {
            _ = try await sameKeys.get("x")
            Issue.record("decoding bad JSON did not fail")
        } catch let error as WharfError {
            #expect(error.code == .decodingFailed)
        }
    }
}

final class LoadCounter: Sendable {
    let count = Mutex(0)
}

enum KeyValueChecks {
    static func run(_ wharf: Wharf) async throws {
        let store = try wharf.keyValueStore(unique("settings"), of: Profile.self)
        #expect(try await store.set("k", Profile(name: "A", visits: 1)) == 1)
        #expect(try await store.set("k", Profile(name: "A", visits: 2)) == 2)
        #expect(try await store.entry("k")?.version == 2)
        #expect(try await store.compareAndSet("k", expectedVersion: 2, to: Profile(name: "A", visits: 3)) == 3)
        do {
            try await store.compareAndSet("k", expectedVersion: 2, to: Profile(name: "stale", visits: 0))
            Issue.record("a stale version was accepted")
        } catch let error as WharfError {
            #expect(error.code == .conflict)
        }
        try await store.compareAndSet("k", expected: Profile(name: "A", visits: 3), to: Profile(name: "B", visits: 4))
        #expect(try await store.get("k")?.name == "B")
        #expect(try await store.setIfAbsent("k", Profile(name: "C", visits: 0)) == nil)
        #expect(try await store.setIfAbsent("new", Profile(name: "N", visits: 0)) == 1)

        // Concurrent increments through compare-and-set lose nothing.
        let counters = try wharf.keyValueStore(unique("counters"), of: Int.self)
        try await counters.set("n", 0)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<5 {
                group.addTask {
                    for _ in 0..<5 {
                        while true {
                            let entry = try await counters.entry("n")!
                            do {
                                try await counters.compareAndSet(
                                    "n", expectedVersion: entry.version, to: entry.value + 1)
                                break
                            } catch let error as WharfError where error.code == .conflict {
                                continue
                            }
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
        #expect(try await counters.get("n") == 25)

        // Expiry, batches, deletion with a version.
        try await store.set("temp", Profile(name: "T", visits: 0), timeToLive: .milliseconds(100))
        try await Task.sleep(for: .milliseconds(300))
        #expect(try await store.get("temp") == nil)
        try await store.set(["x1": Profile(name: "X", visits: 1), "x2": Profile(name: "X", visits: 2)])
        #expect(try await store.get(["x1", "x2", "none"]).count == 2)
        await #expect(throws: WharfError.self) { try await store.delete("x1", expectedVersion: 9) }
        try await store.delete("x1", expectedVersion: 1)
        #expect(try await store.delete(["x2", "none"]) == 1)

        // Prefix listing, a page at a time.
        let listed = try wharf.keyValueStore(unique("listed"), of: Int.self)
        for index in 0..<30 { try await listed.set("user:\(index)", index) }
        try await listed.set("other", 0)
        var keys: Set<String> = []
        var cursor: String?
        repeat {
            let page = try await listed.keys(prefix: "user:", cursor: cursor, count: 7)
            keys.formUnion(page.keys)
            cursor = page.cursor
        } while cursor != nil
        #expect(keys.count == 30 && !keys.contains("other"))

        let changes = try await listed.watch(prefix: "user:")
        try await listed.set("user:1", 100)
        try await listed.delete("user:2")
        try await listed.set("other", 5)
        var iterator = changes.makeAsyncIterator()
        let first = try await iterator.next()
        #expect(first?.key == "user:1" && first?.kind == .set && first?.entry?.value == 100)
        let second = try await iterator.next()
        #expect(second?.key == "user:2" && second?.kind == .deleted)
    }
}

enum QueueChecks {
    static func run(_ wharf: Wharf) async throws {
        let queue = try wharf.workQueue(unique("jobs"), of: Int.self)
        for value in 1...5 { try await queue.enqueue(value) }
        #expect(try await queue.count() == 5)
        var order: [Int] = []
        while let value = try await queue.dequeue() { order.append(value) }
        #expect(order == [1, 2, 3, 4, 5])

        // A blocked consumer gets an element enqueued later.
        let waiting = Task { try await queue.dequeue(timeout: .seconds(5)) }
        try await Task.sleep(for: .milliseconds(100))
        try await queue.enqueue(42)
        #expect(try await waiting.value == 42)
        #expect(try await queue.dequeue(timeout: .milliseconds(50)) == nil)

        // A bound: fail fast, or wait for room.
        let bounded = try wharf.workQueue(unique("bounded"), of: Int.self, configuration: .init(bound: 2))
        try await bounded.enqueue(1)
        try await bounded.enqueue(2)
        do {
            try await bounded.enqueue(3)
            Issue.record("a full queue took an element")
        } catch let error as WharfError {
            #expect(error.code == .queueFull)
        }
        let producer = Task { try await bounded.enqueue(3, whenFull: .wait(.seconds(5))) }
        try await Task.sleep(for: .milliseconds(50))
        #expect(try await bounded.dequeue() == 1)
        try await producer.value
        #expect(try await bounded.count() == 2)

        // Close: producers are refused, consumers drain, then get nil at once.
        try await bounded.close()
        await #expect(throws: WharfError.self) { try await bounded.enqueue(9) }
        #expect(try await bounded.dequeue(timeout: .seconds(5)) == 2)
        #expect(try await bounded.dequeue(timeout: .seconds(5)) == 3)
        let start = ContinuousClock.now
        #expect(try await bounded.dequeue(timeout: .seconds(5)) == nil)
        #expect(ContinuousClock.now - start < .seconds(3))

        // Reliable delivery: fail, retry with backoff, dead letter.
        var reliableConfiguration = WorkQueueConfiguration(maximumDeliveries: 2)
        reliableConfiguration.retryBackoff = .init(initial: .milliseconds(50), maximum: .milliseconds(50), jitter: 0)
        reliableConfiguration.consumerTimeout = .milliseconds(200)
        let reliable = try wharf.workQueue(unique("reliable"), of: String.self, configuration: reliableConfiguration)
        try await reliable.enqueue("email")
        let first = try #require(try await reliable.dequeue(consumer: "w1", timeout: .seconds(1)))
        #expect(first.attempt == 1 && first.element == "email")
        try await first.fail()
        try await Task.sleep(for: .milliseconds(200))
        let second = try #require(try await reliable.dequeue(consumer: "w1", timeout: .seconds(2)))
        #expect(second.attempt == 2)
        try await second.fail()
        #expect(try await reliable.deadLetters() == ["email"])
        #expect(try await reliable.retryDeadLetters() == 1)
        let third = try #require(try await reliable.dequeue(consumer: "w1", timeout: .seconds(1)))
        try await third.acknowledge()
        #expect(try await reliable.dequeue(consumer: "w1") == nil)

        // A consumer that dies holding an element: the recovery pass returns it.
        try await reliable.enqueue("report")
        _ = try #require(try await reliable.dequeue(consumer: "doomed", timeout: .seconds(1)))
        try await Task.sleep(for: .milliseconds(300))
        #expect(try await reliable.recoverAbandoned() == 1)
        #expect(try await reliable.dequeue(consumer: "w2", timeout: .seconds(1))?.element == "report")

        // Rate limits: token bucket and sliding window, each local and shared, failing fast.
        for algorithm in [
            RateLimit.Algorithm.tokenBucket(rate: 0.5, burst: 2), .slidingWindow(limit: 2, window: .seconds(10)),
        ] {
            for scope in [RateLimit.Scope.local, .shared] {
                let name = unique("limited")
                let limit = RateLimit(algorithm, scope: scope, overflow: .fail)
                let limited = try wharf.workQueue(name, of: Int.self, configuration: .init(rateLimit: limit))
                try await limited.enqueue(1)
                try await limited.enqueue(2)
                do {
                    try await limited.enqueue(3)
                    Issue.record("\(algorithm) (\(scope)) let a third element through")
                } catch let error as WharfError {
                    #expect(error.code == .rateLimited)
                }
                // Shared: another handle on the same queue is refused too; local: it has its own.
                let other = try wharf.workQueue(name, of: Int.self, configuration: .init(rateLimit: limit))
                if scope == .shared {
                    await #expect(throws: WharfError.self) { try await other.enqueue(4) }
                } else {
                    try await other.enqueue(4)
                }
            }
        }
    }
}

enum PubSubChecks {
    /// `countsReceivers`: PUBLISH counts every receiver and messages keep their order (in a
    /// cluster the count is the node's own, and order holds only per node).
    static func run(_ wharf: Wharf, countsReceivers: Bool) async throws {
        let pubsub = try wharf.pubSub(unique("events"), of: Profile.self, prefix: unique("ps") + ":")
        let subscription = try await pubsub.subscribe(channels: ["news"], patterns: ["user.*"])
        let receivers = try await pubsub.publish(Profile(name: "N", visits: 1), to: "news")
        if countsReceivers { #expect(receivers == 1) }
        try await pubsub.publish(Profile(name: "U", visits: 2), to: "user.7")
        var iterator = subscription.makeAsyncIterator()
        let news = try await iterator.next()
        #expect(news?.channel == "news" && news?.message.name == "N")
        let user = try await iterator.next()
        #expect(user?.channel == "user.7" && user?.pattern == "user.*")
        await subscription.close()

        // A bounded buffer that keeps the oldest and counts what it drops.
        let slow = try await pubsub.subscribe(channels: ["burst"], bufferSize: 1, overflow: .dropNewest)
        for index in 0..<5 { try await pubsub.publish(Profile(name: "B", visits: index), to: "burst") }
        let deadline = ContinuousClock.now + .seconds(5)
        while slow.dropped < 4 && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
        #expect(slow.dropped == 4)
        var slowIterator = slow.makeAsyncIterator()
        // In a cluster, messages published through different nodes may arrive in any order.
        let kept = try await slowIterator.next()?.message.visits
        if countsReceivers { #expect(kept == 0) } else { #expect(kept != nil) }
        await slow.close()
    }
}

struct OrderEvent: Codable, Sendable, Equatable {
    var order: Int
}

enum EventStreamChecks {
    static func run(_ wharf: Wharf) async throws {
        // Names are validated before anything is written.
        #expect(throws: WharfError.self) { try wharf.eventStream("Orders!", of: OrderEvent.self) }

        let name = unique("orders")
        var configuration = EventStreamConfiguration<OrderEvent>(prefix: "test")
        configuration.claimIdleAfter = .milliseconds(200)
        configuration.maximumDeliveries = 3
        configuration.validator = { event in
            if event.order < 0 { throw WharfError(.validationFailed, "negative order") }
        }
        let stream = try wharf.eventStream(name, of: OrderEvent.self, configuration: configuration)
        #expect(stream.streamName == "test.\(name)")
        await #expect(throws: WharfError.self) { try await stream.publish(OrderEvent(order: -1)) }
        for order in 1...10 { try await stream.publish(OrderEvent(order: order)) }

        // Two consumers in one group share the entries; each is delivered once.
        let consumerA = try await stream.consume(group: "billing", consumer: "a", batchSize: 3)
        let consumerB = try await stream.consume(group: "billing", consumer: "b", batchSize: 3)
        var iteratorA = consumerA.makeAsyncIterator()
        var iteratorB = consumerB.makeAsyncIterator()
        var seen: [Int] = []
        for _ in 0..<5 {
            let delivery = try #require(try await iteratorA.next())
            seen.append(delivery.event.order)
            try await delivery.acknowledge()
        }
        // B takes three and dies without acknowledging them…
        var abandoned: [Int] = []
        for _ in 0..<3 { abandoned.append(try #require(try await iteratorB.next()).event.order) }
        for _ in 0..<2 {
            let delivery = try #require(try await iteratorA.next())
            seen.append(delivery.event.order)
            try await delivery.acknowledge()
        }
        // …and A claims them once they have been idle long enough.
        try await Task.sleep(for: .milliseconds(300))
        for _ in 0..<3 {
            let delivery = try #require(try await iteratorA.next())
            #expect(abandoned.contains(delivery.event.order))
            seen.append(delivery.event.order)
            try await delivery.acknowledge()
        }
        #expect(seen.sorted() == Array(1...10))
        #expect(!seen.isEmpty)

        let measurement = try await stream.measure()
        #expect(measurement.length == 10)
        #expect(measurement.groups.first { $0.name == "billing" }?.pending == 0)

        // Entries delivered too often go to the dead-letter stream.
        let dlqName = unique("payments")
        var dlqConfiguration = EventStreamConfiguration<OrderEvent>()
        dlqConfiguration.claimIdleAfter = .milliseconds(1)
        dlqConfiguration.maximumDeliveries = 2
        let payments = try wharf.eventStream(dlqName, of: OrderEvent.self, configuration: dlqConfiguration)
        try await payments.publish(OrderEvent(order: 99))
        let failing = try await payments.consume(group: "g", consumer: "c")
        // A consumer that never acknowledges: the entry comes back (claimed) until it is
        // dead-lettered.
        let deliveries = LoadCounter()
        let reader = Task {
            for try await _ in failing { deliveries.count.withLock { $0 += 1 } }
        }
        let deadline = ContinuousClock.now + .seconds(10)
        while try await payments.deadLetters().isEmpty && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        reader.cancel()
        _ = try? await reader.value
        #expect(try await payments.deadLetters() == [OrderEvent(order: 99)])
        #expect(deliveries.count.withLock { $0 } >= 2)

        // Trimming by length.
        let trimmed = try wharf.eventStream(
            unique("trimmed"), of: OrderEvent.self,
            configuration: EventStreamConfiguration(trim: .maxLength(5, approximate: false)))
        for order in 1...12 { try await trimmed.publish(OrderEvent(order: order)) }
        #expect(try await trimmed.measure().length == 5)

        // Replay into an isolated stream, consumed there, then removed.
        let replay = try await stream.replay(postfix: "replay1")
        #expect(replay.streamName == "test.\(name).replay1")
        let replayed = try await LibraryConformanceTests.allOrders(replay)
        #expect(replayed == Array(1...10))
        try await replay.delete()
        #expect(try await replay.measure().length == 0)

        // A failed event comes back after the retry backoff, counted; after the last allowed
        // delivery it is dead-lettered; the group, named by the strategy, can then go.
        var retryConfiguration = EventStreamConfiguration<OrderEvent>()
        retryConfiguration.retryBackoff = RetryBackoff(
            initial: .milliseconds(100), maximum: .milliseconds(100), jitter: 0)
        retryConfiguration.maximumDeliveries = 2
        retryConfiguration.groupNaming = { "svc-" + $0 }
        let retried = try wharf.eventStream(unique("retried"), of: OrderEvent.self, configuration: retryConfiguration)
        try await retried.publish(OrderEvent(order: 5))
        let retryConsumer = try await retried.consume(group: "g", consumer: "c")
        var retryIterator = retryConsumer.makeAsyncIterator()
        let firstTry = try #require(try await retryIterator.next())
        #expect(firstTry.deliveries == 1)
        let failedAt = ContinuousClock.now
        try await firstTry.fail()
        let secondTry = try #require(try await retryIterator.next())
        #expect(secondTry.id == firstTry.id && secondTry.deliveries == 2)
        #expect(ContinuousClock.now - failedAt >= .milliseconds(100))
        try await secondTry.fail()
        let drain = Task { [retryIterator] in
            var iterator = retryIterator
            return try await iterator.next()
        }
        let retryDeadline = ContinuousClock.now + .seconds(10)
        while try await retried.deadLetters().isEmpty && ContinuousClock.now < retryDeadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        drain.cancel()
        _ = try? await drain.value
        #expect(try await retried.deadLetters() == [OrderEvent(order: 5)])
        #expect(try await retried.measure().groups.map(\.name) == ["svc-g"])
        try await Task.sleep(for: .milliseconds(20))
        #expect(try await retried.removeUnusedGroups(idle: .milliseconds(1)) == ["svc-g"])
        #expect(try await retried.measure().groups.isEmpty)

        // Producer identity and sequence travel with each event.
        let tagged = try wharf.eventStream(unique("tagged"), of: OrderEvent.self)
        try await tagged.publish(OrderEvent(order: 1))
        try await tagged.publish(OrderEvent(order: 2))
        var taggedIterator = try await tagged.consume(group: "g", consumer: "c").makeAsyncIterator()
        let one = try #require(try await taggedIterator.next())
        let two = try #require(try await taggedIterator.next())
        #expect(one.producer == tagged.producerID && two.sequence == one.sequence + 1)
    }
}

extension LibraryConformanceTests {
    static func allOrders(_ stream: EventStream<OrderEvent>) async throws -> [Int] {
        var orders: [Int] = []
        var iterator = try await stream.consume(group: "replay-reader", consumer: "r").makeAsyncIterator()
        let length = try await stream.measure().length
        while orders.count < length, let delivery = try await iterator.next() {
            orders.append(delivery.event.order)
            try await delivery.acknowledge()
        }
        return orders
    }
}
