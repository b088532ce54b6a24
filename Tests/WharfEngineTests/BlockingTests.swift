import Testing
import WharfEngine
import WharfProtocol

@Suite("Blocking commands")
struct BlockingTests {
    static func clients(_ count: Int) -> (EngineHarness, [EngineHarness]) {
        let writer = EngineHarness()
        let waiters = (0..<count).map { _ in EngineHarness(sharing: writer) }
        for waiter in waiters { waiter.connect() }
        return (writer, waiters)
    }

    @Test("A push serves blocked clients in arrival order, one element each")
    func arrivalOrder() {
        let (writer, waiters) = Self.clients(3)
        for waiter in waiters { #expect(waiter.runBlocking("BLPOP", "q", "0") == nil) }
        #expect(writer.run("INFO", "clients").string?.contains("blocked_clients:3") == true)
        #expect(writer.run("RPUSH", "q", "a", "b") == .integer(2))
        #expect(waiters[0].takeDeliveries() == [.array([.bulk("q"), .bulk("a")])])
        #expect(waiters[1].takeDeliveries() == [.array([.bulk("q"), .bulk("b")])])
        #expect(waiters[2].takeDeliveries() == [])
        #expect(writer.run("EXISTS", "q") == .integer(0))
        writer.run("LPUSH", "q", "c")
        #expect(waiters[2].takeDeliveries() == [.array([.bulk("q"), .bulk("c")])])
        #expect(writer.run("INFO", "clients").string?.contains("blocked_clients:0") == true)
    }

    @Test("A client blocked on several keys is served by whichever gets data first")
    func severalKeys() {
        let (writer, waiters) = Self.clients(1)
        #expect(waiters[0].runBlocking("BRPOP", "k1", "k2", "0") == nil)
        writer.run("RPUSH", "k2", "x", "y")
        #expect(waiters[0].takeDeliveries() == [.array([.bulk("k2"), .bulk("y")])])
        writer.run("RPUSH", "k1", "z")
        #expect(writer.run("LRANGE", "k1", "0", "-1") == .array([.bulk("z")]))
    }

    @Test("BLMOVE moves for the waiter and wakes clients waiting on the destination")
    func blmoveChain() {
        let (writer, waiters) = Self.clients(2)
        #expect(waiters[0].runBlocking("BLMOVE", "src", "dst", "LEFT", "RIGHT", "0") == nil)
        #expect(waiters[1].runBlocking("BLPOP", "dst", "0") == nil)
        writer.run("RPUSH", "src", "job")
        #expect(waiters[0].takeDeliveries() == [.bulk("job")])
        #expect(waiters[1].takeDeliveries() == [.array([.bulk("dst"), .bulk("job")])])
        #expect(writer.run("EXISTS", "src", "dst") == .integer(0))
    }

    @Test("RENAME onto a waited key and EXEC wake blocked clients; sorted sets too")
    func renameAndExec() {
        let (writer, waiters) = Self.clients(3)
        #expect(waiters[0].runBlocking("BLPOP", "target", "0") == nil)
        writer.run("RPUSH", "staging", "v")
        writer.run("RENAME", "staging", "target")
        #expect(waiters[0].takeDeliveries() == [.array([.bulk("target"), .bulk("v")])])

        #expect(waiters[1].runBlocking("BZPOPMIN", "z", "0") == nil)
        writer.run("MULTI")
        writer.run("ZADD", "z", "2", "b", "1", "a")
        #expect(waiters[1].takeDeliveries() == [])
        writer.run("EXEC")
        #expect(waiters[1].takeDeliveries() == [.array([.bulk("z"), .bulk("a"), .bulk("1")])])

        // "b" is still there: BZMPOP answers at once; on an empty key it waits.
        #expect(
            waiters[2].runBlocking("BZMPOP", "0", "1", "z", "MAX", "COUNT", "5")
                == .array([.bulk("z"), .array([.array([.bulk("b"), .bulk("2")])])]))
        #expect(waiters[2].runBlocking("BZMPOP", "0", "1", "z", "MAX", "COUNT", "5") == nil)
        writer.run("ZADD", "z", "7", "c", "8", "d")
        #expect(
            waiters[2].takeDeliveries() == [
                .array([.bulk("z"), .array([.array([.bulk("d"), .bulk("8")]), .array([.bulk("c"), .bulk("7")])])])
            ])
    }

    @Test("Inside MULTI a blocking command answers at once as if it timed out")
    func insideTransaction() {
        let (_, waiters) = Self.clients(1)
        let h = waiters[0]
        h.run("MULTI")
        h.run("BLPOP", "none", "0")
        #expect(h.run("EXEC") == .array([.null]))
    }

    @Test("A waiter that timed out is not served, and its data stays")
    func timedOutWaiter() {
        let (writer, waiters) = Self.clients(1)
        #expect(waiters[0].runBlocking("BLPOP", "q", "0.01") == nil)
        // The transport claims the waiter at its deadline; emulate that.
        guard let waiter = waiters[0].engine.blockedWaiters(client: waiters[0].session.id).first else {
            Issue.record("no waiter registered")
            return
        }
        #expect(waiter.claim())
        waiters[0].engine.blocking.remove(waiter)
        writer.run("RPUSH", "q", "kept")
        #expect(waiters[0].takeDeliveries() == [])
        #expect(writer.run("LRANGE", "q", "0", "-1") == .array([.bulk("kept")]))
    }

    @Test("A served blocking pop is logged as the plain pop it performed")
    func loggedAsPop() throws {
        let directory = temporaryDirectory()
        do {
            let writer = try EngineHarness.persistent(directory)
            let waiter = EngineHarness(sharing: writer)
            waiter.connect()
            #expect(waiter.runBlocking("BLPOP", "q", "0") == nil)
            writer.run("RPUSH", "q", "a", "b")
            #expect(waiter.takeDeliveries() == [.array([.bulk("q"), .bulk("a")])])
            try writer.engine.persistence!.close()
        }
        let recovered = try EngineHarness.persistent(directory)
        #expect(recovered.run("LRANGE", "q", "0", "-1") == .array([.bulk("b")]))
    }
}

extension Engine {
    /// The waiters of one client (tests only).
    func blockedWaiters(client: Int64) -> [Waiter] {
        self.blocking.waiters(ofClient: client)
    }
}
