import NIOCore
import Testing
import WharfEngine
import WharfProtocol

@Suite("Transactions")
struct TransactionTests {
    @Test("MULTI queues, EXEC runs the queue and replies every result, runtime errors included")
    func execRuns() {
        let h = EngineHarness()
        #expect(h.run("MULTI") == .ok)
        #expect(h.run("SET", "k", "v") == .simple("QUEUED"))
        #expect(h.run("LPUSH", "k", "x") == .simple("QUEUED"))
        #expect(h.run("GET", "k") == .simple("QUEUED"))
        #expect(h.run("MULTI") == .error("ERR MULTI calls can not be nested"))
        #expect(
            h.run("EXEC")
                == .array([
                    .ok, .error("WRONGTYPE Operation against a key holding the wrong kind of value"), .bulk("v"),
                ]))
        #expect(h.run("EXEC") == .error("ERR EXEC without MULTI"))
        #expect(h.run("DISCARD") == .error("ERR DISCARD without MULTI"))
    }

    @Test(
        "A command refused while queueing aborts EXEC with EXECABORT",
        arguments: [
            ["NOSUCHCOMMAND"], ["GET"], ["SET", "only-key"],
        ])
    func execAbort(_ refused: [String]) {
        let h = EngineHarness()
        h.run("MULTI")
        h.run("SET", "k", "v")
        guard case .error = h.run(refused.map { Array($0.utf8) }) else {
            Issue.record("\(refused) was queued")
            return
        }
        #expect(h.run("EXEC") == .error("EXECABORT Transaction discarded because of previous errors."))
        #expect(h.run("EXISTS", "k") == .integer(0))
    }

    @Test("WATCH aborts EXEC after a change by another client, a FLUSHALL, or an expiry")
    func watch() {
        let h = EngineHarness()
        let other = EngineHarness(sharing: h)
        h.run("SET", "w", "1")

        h.run("WATCH", "w")
        other.run("INCR", "w")
        h.run("MULTI")
        h.run("SET", "result", "x")
        #expect(h.run("EXEC") == .null)
        #expect(h.run("EXISTS", "result") == .integer(0))

        h.run("WATCH", "w")
        h.run("MULTI")
        h.run("SET", "result", "y")
        #expect(h.run("EXEC") == .array([.ok]), "an unchanged watched key lets EXEC run")

        h.run("WATCH", "w")
        other.run("FLUSHALL")
        h.run("MULTI")
        h.run("SET", "result", "z")
        #expect(h.run("EXEC") == .null)

        h.run("SET", "ttl", "1", "PX", "100")
        h.run("WATCH", "ttl")
        h.advance(milliseconds: 200)
        h.run("MULTI")
        h.run("SET", "result", "w")
        #expect(h.run("EXEC") == .null, "a watched key that expired counts as changed")

        h.run("WATCH", "missing")
        h.run("UNWATCH")
        other.run("SET", "missing", "now")
        h.run("MULTI")
        h.run("SET", "result", "v")
        #expect(h.run("EXEC") == .array([.ok]))
        h.run("MULTI")
        #expect(h.run("WATCH", "x") == .error("ERR WATCH inside MULTI is not allowed"))
        #expect(h.run("DISCARD") == .ok)
    }
}

@Suite("Publish and subscribe")
struct PubSubTests {
    @Test("SUBSCRIBE and PSUBSCRIBE receive messages; PUBLISH counts receivers")
    func subscribe() {
        let publisher = EngineHarness()
        let subscriber = EngineHarness(sharing: publisher)
        subscriber.connect()
        #expect(subscriber.run("SUBSCRIBE", "news") == .array([.bulk("subscribe"), .bulk("news"), .integer(1)]))
        #expect(subscriber.run("PSUBSCRIBE", "n*") == .array([.bulk("psubscribe"), .bulk("n*"), .integer(2)]))
        #expect(publisher.run("PUBLISH", "news", "hello") == .integer(2))
        #expect(
            subscriber.takeDeliveries() == [
                .array([.bulk("message"), .bulk("news"), .bulk("hello")]),
                .array([.bulk("pmessage"), .bulk("n*"), .bulk("news"), .bulk("hello")]),
            ])
        #expect(publisher.run("PUBSUB", "CHANNELS") == .array([.bulk("news")]))
        #expect(
            publisher.run("PUBSUB", "NUMSUB", "news", "other")
                == .array([.bulk("news"), .integer(1), .bulk("other"), .integer(0)]))
        #expect(publisher.run("PUBSUB", "NUMPAT") == .integer(1))
        #expect(subscriber.run("UNSUBSCRIBE") == .array([.bulk("unsubscribe"), .bulk("news"), .integer(1)]))
        #expect(publisher.run("PUBLISH", "news", "again") == .integer(1))
    }

    @Test("A RESP2 subscriber may only use the subscribe family, PING, QUIT and RESET")
    func subscribedMode() {
        let h = EngineHarness()
        h.connect()
        h.run("SUBSCRIBE", "c")
        #expect(
            h.run("GET", "k")
                == .error(
                    "ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context"
                ))
        #expect(h.run("PING") == .array([.bulk("pong"), .bulk("")]))
        h.protocolVersion = .resp3
        #expect(h.run("GET", "k") == .null, "RESP3 clients keep every command")
        h.protocolVersion = .resp2
        #expect(h.run("RESET") == .simple("RESET"))
        #expect(h.run("GET", "k") == .null)
    }

    @Test("Shard channels are separate from channels")
    func shardChannels() {
        let publisher = EngineHarness()
        let subscriber = EngineHarness(sharing: publisher)
        subscriber.connect()
        subscriber.protocolVersion = .resp3
        #expect(subscriber.run("SSUBSCRIBE", "orders") == .push([.bulk("ssubscribe"), .bulk("orders"), .integer(1)]))
        #expect(publisher.run("PUBLISH", "orders", "x") == .integer(0))
        #expect(publisher.run("SPUBLISH", "orders", "y") == .integer(1))
        #expect(subscriber.takeDeliveries() == [.push([.bulk("smessage"), .bulk("orders"), .bulk("y")])])
        #expect(publisher.run("PUBSUB", "SHARDCHANNELS") == .array([.bulk("orders")]))
        #expect(publisher.run("PUBSUB", "SHARDNUMSUB", "orders") == .array([.bulk("orders"), .integer(1)]))
    }

    @Test("A subscriber past the pub/sub output limit is cut off and counted; others keep receiving")
    func outputLimit() {
        let publisher = EngineHarness()
        let slow = EngineHarness(sharing: publisher)
        let fast = EngineHarness(sharing: publisher)
        slow.connect()
        fast.connect()
        publisher.run("CONFIG", "SET", "client-output-buffer-limit", "pubsub 1000 0 0")
        slow.run("SUBSCRIBE", "feed")
        fast.run("SUBSCRIBE", "feed")
        let payload = String(repeating: "p", count: 100)
        for _ in 0..<20 {
            #expect(publisher.run("PUBLISH", "feed", payload) == .integer(2))
            _ = fast.takeDeliveries()
        }
        #expect(slow.session.mailbox!.isOverLimit)
        #expect(!fast.session.mailbox!.isOverLimit)
        #expect(publisher.run("INFO", "stats").string?.contains("client_output_buffer_limit_disconnections:1") == true)
    }

    /// "channel payload" of each pattern message `listener` (PSUBSCRIBEd) received.
    private static func keyspaceMessages(_ listener: EngineHarness) -> [String] {
        listener.takeDeliveries().compactMap { value -> String? in
            guard case .array(let items) = value, items.count == 4 else { return nil }
            return "\(items[2].string!) \(items[3].string!)"
        }
    }

    @Test("Keyspace notifications publish keyspace and keyevent messages for enabled classes")
    func keyspaceNotifications() {
        let h = EngineHarness()
        let listener = EngineHarness(sharing: h)
        listener.connect()
        h.run("CONFIG", "SET", "notify-keyspace-events", "KEl$x")
        #expect(
            h.run("CONFIG", "GET", "notify-keyspace-events")
                == .array([.bulk("notify-keyspace-events"), .bulk("$lxKE")]))
        listener.run("PSUBSCRIBE", "__key*__:*")
        h.run("RPUSH", "q", "a")
        h.run("LPOP", "q")
        h.run("SADD", "s", "m")
        h.run("SET", "t", "v", "PX", "10")
        h.advance(milliseconds: 20)
        h.run("GET", "t")
        let messages = Self.keyspaceMessages(listener)
        #expect(
            messages == [
                "__keyspace@0__:q rpush", "__keyevent@0__:rpush q",
                "__keyspace@0__:q lpop", "__keyevent@0__:lpop q",
                "__keyspace@0__:t set", "__keyevent@0__:set t",
                "__keyspace@0__:t expired", "__keyevent@0__:expired t",
            ], "sets (s) and generic (g) events are off; the rest are published in order")
    }

    @Test("Key-miss events (m) are published for reads of missing keys, and only when asked for")
    func keyMissNotifications() {
        let h = EngineHarness()
        let listener = EngineHarness(sharing: h)
        listener.connect()
        listener.run("PSUBSCRIBE", "__key*__:*")
        h.run("GET", "absent")
        #expect(listener.takeDeliveries().isEmpty, "key-miss events are off by default")
        h.run("CONFIG", "SET", "notify-keyspace-events", "Em")
        #expect(
            h.run("CONFIG", "GET", "notify-keyspace-events") == .array([.bulk("notify-keyspace-events"), .bulk("Em")]))
        h.run("GET", "absent")
        h.run("HGET", "nohash", "f")
        h.run("SET", "present", "1")
        h.run("GET", "present")
        let messages = Self.keyspaceMessages(listener)
        #expect(messages == ["__keyevent@0__:keymiss absent", "__keyevent@0__:keymiss nohash"])
    }

    @Test("New-key events (n) are published when a key is created, not when it is overwritten")
    func newKeyNotifications() {
        let h = EngineHarness()
        let listener = EngineHarness(sharing: h)
        listener.connect()
        listener.run("PSUBSCRIBE", "__key*__:*")
        h.run("CONFIG", "SET", "notify-keyspace-events", "En$")
        #expect(
            h.run("CONFIG", "GET", "notify-keyspace-events")
                == .array([.bulk("notify-keyspace-events"), .bulk("$nE")]), "in Redis's order")
        h.run("SET", "a", "1")
        h.run("SET", "a", "2")
        h.run("RPUSH", "l", "x")
        h.run("RENAME", "a", "b")
        let messages = Self.keyspaceMessages(listener)
        #expect(
            messages == [
                "__keyevent@0__:new a", "__keyevent@0__:set a", "__keyevent@0__:set a",
                "__keyevent@0__:new l", "__keyevent@0__:new b",
            ])
    }
}
