import Foundation
import Testing
import WharfEngine
import WharfProtocol

@testable import Wharf

/// The engine's in-process entry point: arguments in, a typed reply out.
@Suite struct EmbeddedSessionTests {
    private func bytes(_ words: String...) -> [[UInt8]] { words.map { Array($0.utf8) } }

    @Test func runsCommandsAndReturnsTypedReplies() async throws {
        let engine = Engine()
        let session = EmbeddedSession(engine: engine)
        #expect(await session.run(bytes("SET", "k", "v")) == .simpleString("OK"))
        #expect(await session.run(bytes("GET", "k")) == .bulkString(Array("v".utf8)))
        #expect(await session.run(bytes("HSET", "h", "f", "1")) == .integer(1))
        // RESP3: maps keep their type.
        #expect(
            await session.run(bytes("HGETALL", "h"))
                == .map([.bulkString(Array("f".utf8)), .bulkString(Array("1".utf8))]))
        if case .error(let message) = await session.run(bytes("NOSUCH")) {
            #expect(message.hasPrefix("ERR unknown command"))
        } else {
            Issue.record("an unknown command did not answer an error")
        }
        #expect(try session.readString(Array("k".utf8)) == Array("v".utf8))
        #expect(try session.readString(Array("missing".utf8)) == nil)
        #expect(throws: EmbeddedSession.WrongTypeError.self) { try session.readString(Array("h".utf8)) }
    }

    @Test func blockingCommandsWaitForAnotherSessionsWrite() async throws {
        let engine = Engine()
        let consumer = EmbeddedSession(engine: engine)
        let producer = EmbeddedSession(engine: engine)
        let popped = Task { await consumer.run(self.bytes("BLPOP", "jobs", "5")) }
        try await Task.sleep(for: .milliseconds(100))
        #expect(await producer.run(bytes("RPUSH", "jobs", "one")) == .integer(1))
        #expect(await popped.value == .array([.bulkString(Array("jobs".utf8)), .bulkString(Array("one".utf8))]))

        // A timeout answers as the server does (a null array), and cancellation ends the wait.
        #expect(await consumer.run(bytes("BLPOP", "jobs", "0.05")) == .null)
        let cancelled = Task { await consumer.run(self.bytes("BLPOP", "jobs", "0")) }
        try await Task.sleep(for: .milliseconds(50))
        cancelled.cancel()
        #expect(await cancelled.value == .null)
    }

    @Test func pubSubMessagesArriveAsPushes() async throws {
        let engine = Engine()
        let subscriber = EmbeddedSession(engine: engine)
        let received = AsyncStream.makeStream(of: RESPValue.self)
        subscriber.onPush { received.continuation.yield($0) }
        _ = await subscriber.run(bytes("SUBSCRIBE", "news"))
        #expect(await EmbeddedSession(engine: engine).run(bytes("PUBLISH", "news", "hello")) == .integer(1))
        var iterator = received.stream.makeAsyncIterator()
        let push = await iterator.next()
        #expect(
            push
                == .push([
                    .bulkString(Array("message".utf8)), .bulkString(Array("news".utf8)),
                    .bulkString(Array("hello".utf8)),
                ]))
    }
}

@Suite struct LocalTierTests {
    @Test func lruKeepsTheRecentlyUsedAndFifoTheNewest() {
        let lru = LocalTier<Int>(capacity: 2, policy: .lru, timeToLive: .seconds(60)) {}
        lru.set("a", 1, ttl: nil)
        lru.set("b", 2, ttl: nil)
        _ = lru.get("a")
        lru.set("c", 3, ttl: nil)
        #expect(lru.get("a") == 1 && lru.get("b") == nil && lru.get("c") == 3)

        let evictions = Counter()
        let fifo = LocalTier<Int>(capacity: 2, policy: .fifo, timeToLive: .seconds(60)) { evictions.add() }
        fifo.set("a", 1, ttl: nil)
        fifo.set("b", 2, ttl: nil)
        _ = fifo.get("a")
        fifo.set("c", 3, ttl: nil)
        #expect(fifo.get("a") == nil && fifo.get("b") == 2 && evictions.value == 1)
    }

    @Test func lruGivesHitEntriesASecondChance() {
        let tier = LocalTier<Int>(capacity: 2, policy: .lru, timeToLive: .seconds(60)) {}
        tier.set("a", 1, ttl: nil)
        tier.set("b", 2, ttl: nil)
        _ = tier.get("a")
        _ = tier.get("b")
        // Both were hit: each loses its mark once, then the oldest goes.
        tier.set("c", 3, ttl: nil)
        #expect(tier.get("a") == nil && tier.get("b") == 2 && tier.get("c") == 3)
        #expect(tier.count == 2)
    }

    @Test func entriesExpire() async throws {
        let tier = LocalTier<Int>(capacity: 10, policy: .lru, timeToLive: .seconds(60)) {}
        tier.set("a", 1, ttl: .milliseconds(20))
        try await Task.sleep(for: .milliseconds(50))
        #expect(tier.get("a") == nil)
    }

    final class Counter: @unchecked Sendable {
        private let lock = NSLock()
        private var count = 0
        func add() { self.lock.withLock { self.count += 1 } }
        var value: Int { self.lock.withLock { self.count } }
    }
}

@Suite struct NamingAndCodecTests {
    @Test func namesAreValidated() throws {
        #expect(throws: WharfError.self) { try Names.validate("", what: "name") }
        #expect(throws: WharfError.self) { try Names.validate("has space", what: "name") }
        try Names.validate("orders.v2:eu-west_1", what: "name")
        #expect(Names.escapeGlob("a*b?[c]") == "a\\*b\\?\\[c\\]")
    }

    @Test func codecsRoundTrip() throws {
        struct Item: Codable, Equatable { var id: Int }
        #expect(try JSONCodec<Item>().decode(JSONCodec<Item>().encode(Item(id: 3))) == Item(id: 3))
        #expect(try PropertyListCodec<Item>().decode(PropertyListCodec<Item>().encode(Item(id: 4))) == Item(id: 4))
        #expect(try RawBytesCodec().decode([1, 2]) == Data([1, 2]))
        #expect(throws: WharfError.self) { try JSONCodec<Item>().encodeChecked(Item(id: 1), limit: 2, what: "x") }
    }
}
