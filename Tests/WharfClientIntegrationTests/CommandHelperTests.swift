import Testing
import WharfClient
import WharfProtocol

/// The error a call throws, as a WharfClientError (nil if it did not throw).
func clientError<T>(_ body: () async throws -> T) async -> WharfClientError? {
    do {
        _ = try await body()
        return nil
    } catch let error as WharfClientError {
        return error
    } catch {
        Issue.record("not a WharfClientError: \(error)")
        return nil
    }
}

/// Every typed helper, against `wharf serve` and `redis-server`, in RESP2 and RESP3.
@Suite struct CommandHelperTests {
    static let cases: [(ServerKind, Int)] = [(.wharf, 3), (.wharf, 2), (.redis, 3), (.redis, 2)]

    @Test(arguments: cases)
    func stringsAndKeys(kind: ServerKind, protocolVersion: Int) async throws {
        let server = try await TestServer.launch(kind)
        try await withClient(server, protocolVersion: protocolVersion) { client in
            #expect(try await client.ping() == "PONG")
            #expect(try await client.echo("hi") == "hi")
            #expect(try await client.set("s", "v1"))
            #expect(try await client.get("s") == "v1")
            #expect(try await client.getBytes("s") == Array("v1".utf8))
            #expect(try await !client.set("s", "v2", condition: .ifNotExists))
            #expect(try await client.set("s", "v2", condition: .ifExists))
            #expect(try await client.getSet("s", "v3") == "v2")
            #expect(try await client.append("s", "!") == 3)
            #expect(try await client.strlen("s") == 3)
            #expect(try await client.getdel("s") == nil ? false : true)
            #expect(try await client.get("s") == nil)
            try await client.mset([("a", "1"), ("b", 2)])
            #expect(try await client.mget(["a", "b", "missing"]) == ["1", "2", nil])
            #expect(try await client.incr("a") == 2)
            #expect(try await client.incr("a", by: 10) == 12)
            #expect(try await client.decr("a", by: 2) == 10)
            #expect(try await client.incrbyfloat("f", by: 1.5) == 1.5)
            #expect(try await client.set("e", "x", expiry: .seconds(100)))
            #expect((95...100).contains(try await client.ttl("e")))
            #expect(try await client.pttl("e") > 90_000)
            #expect(try await client.persist("e"))
            #expect(try await client.ttl("e") == -1)
            #expect(try await client.expire("e", seconds: 50))
            #expect(try await client.pexpire("e", milliseconds: 50_000))
            #expect(try await client.ttl("missing") == -2)
            #expect(try await client.exists("a", "b", "a", "missing") == 3)
            #expect(try await client.type("a") == "string")
            try await client.rename("a", to: "renamed")
            #expect(try await client.get("renamed") == "10")
            #expect(Set(try await client.scanAll(match: "re*", count: 2)) == ["renamed"])
            #expect(try await client.del("renamed", "b", "missing") == 2)
            #expect(try await client.unlink(["f"]) == 1)
            #expect(try await client.dbsize() == 1)
            #expect(try await client.info("server").contains("redis_version"))
            let wrongType = await clientError { try await client.lpush("e", "x") }
            #expect(wrongType?.code == .server)
            #expect(wrongType?.serverErrorPrefix == "WRONGTYPE")
            try await client.flushdb()
            #expect(try await client.dbsize() == 0)
        }
        await server.stop()
    }

    @Test(arguments: cases)
    func listsIncludingBlockingPops(kind: ServerKind, protocolVersion: Int) async throws {
        let server = try await TestServer.launch(kind)
        try await withClient(server, protocolVersion: protocolVersion) { client in
            #expect(try await client.rpush("l", "a", "b", "c") == 3)
            #expect(try await client.lpush("l", "z") == 4)
            #expect(try await client.lrange("l", 0, -1) == ["z", "a", "b", "c"])
            #expect(try await client.llen("l") == 4)
            #expect(try await client.lindex("l", 1) == "a")
            try await client.lset("l", 1, "A")
            #expect(try await client.lpop("l") == "z")
            #expect(try await client.rpop("l") == "c")
            #expect(try await client.lmove("l", "m", from: .left, to: .right) == "A")
            #expect(try await client.lrem("l", count: 0, "b") == 1)
            #expect(try await client.lpop("l", count: 2) == nil)
            try await client.rpush("n", "1", "2", "3")
            try await client.ltrim("n", 0, 1)
            #expect(try await client.lpop("n", count: 5) == ["1", "2"])

            // A blocking pop waits on a lent connection while shared commands go on.
            async let popped = client.blpop(["q1", "q2"], timeout: 5)
            try await Task.sleep(for: .milliseconds(100))
            #expect(try await client.ping() == "PONG")
            try await client.rpush("q2", "job")
            let result = try await popped
            #expect(result?.key == "q2" && result?.value == "job", "\(String(describing: result))")
            #expect(try await client.brpop(["empty"], timeout: 0.1) == nil)
            try await client.rpush("src", "x")
            #expect(try await client.blmove("src", "dst", from: .left, to: .left, timeout: 1) == "x")
            #expect(try await client.lrange("dst", 0, -1) == ["x"])
        }
        await server.stop()
    }

    @Test(arguments: cases)
    func hashesAndSets(kind: ServerKind, protocolVersion: Int) async throws {
        let server = try await TestServer.launch(kind)
        try await withClient(server, protocolVersion: protocolVersion) { client in
            #expect(try await client.hset("h", [("a", "1"), ("b", 2)]) == 2)
            #expect(try await client.hset("h", field: "a", value: "10") == 0)
            #expect(try await !client.hsetnx("h", field: "a", value: "x"))
            #expect(try await client.hget("h", "a") == "10")
            #expect(try await client.hmget("h", ["a", "zz"]) == ["10", nil])
            #expect(try await client.hgetall("h") == ["a": "10", "b": "2"])
            #expect(try await client.hincrby("h", "b", by: 5) == 7)
            #expect(try await client.hexists("h", "b"))
            #expect(try await client.hlen("h") == 2)
            #expect(Set(try await client.hkeys("h")) == ["a", "b"])
            #expect(Set(try await client.hvals("h")) == ["10", "7"])
            #expect(try await client.hdel("h", "a", "zz") == 1)

            #expect(try await client.sadd("s", "x", "y", "z") == 3)
            #expect(try await client.sadd("t", ["y", "w"]) == 2)
            #expect(try await client.smembers("s") == ["x", "y", "z"])
            #expect(try await client.sismember("s", "x"))
            #expect(try await client.scard("s") == 3)
            #expect(try await client.sinter(["s", "t"]) == ["y"])
            #expect(try await client.sunion(["s", "t"]) == ["x", "y", "z", "w"])
            #expect(try await client.srem("s", "x") == 1)
            #expect(try await client.srandmember("s", count: 5).count == 2)
            let popped = try await client.spop("s")
            #expect(popped == "y" || popped == "z")
        }
        await server.stop()
    }

    @Test(arguments: cases)
    func sortedSets(kind: ServerKind, protocolVersion: Int) async throws {
        let server = try await TestServer.launch(kind)
        try await withClient(server, protocolVersion: protocolVersion) { client in
            let added = try await client.zadd(
                "z", [ScoredMember("a", score: 1), ScoredMember("b", score: 2), ScoredMember("c", score: 3.5)])
            #expect(added == 3)
            #expect(try await client.zadd("z", score: 0.5, member: "d") == 1)
            #expect(try await client.zincrby("z", by: 10, member: "d") == 10.5)
            #expect(try await client.zscore("z", "c") == 3.5)
            #expect(try await client.zscore("z", "nope") == nil)
            #expect(try await client.zcard("z") == 4)
            #expect(try await client.zrank("z", "b") == 1)
            #expect(try await client.zrange("z", 0, -1) == ["a", "b", "c", "d"])
            #expect(try await client.zrange("z", 0, 0, reverse: true) == ["d"])
            #expect(
                try await client.zrangeWithScores("z", 0, 1) == [
                    ScoredMember("a", score: 1), ScoredMember("b", score: 2),
                ])
            #expect(try await client.zrangeByScore("z", min: "(1", max: "+inf", limit: (0, 2)) == ["b", "c"])
            #expect(try await client.zcount("z", min: "-inf", max: "3") == 2)
            #expect(try await client.zpopmin("z") == [ScoredMember("a", score: 1)])
            #expect(try await client.zpopmax("z", count: 1) == [ScoredMember("d", score: 10.5)])
            #expect(try await client.zrem("z", "b") == 1)
            let popped = try await client.bzpopmin(["empty", "z"], timeout: 1)
            #expect(popped?.key == "z" && popped?.member == ScoredMember("c", score: 3.5))
            #expect(try await client.bzpopmin(["z"], timeout: 0.1) == nil)
        }
        await server.stop()
    }

    @Test(arguments: cases)
    func streamsAndConsumerGroups(kind: ServerKind, protocolVersion: Int) async throws {
        let server = try await TestServer.launch(kind)
        try await withClient(server, protocolVersion: protocolVersion) { client in
            let first = try await client.xadd("st", id: "1-1", [StreamField("f", "1")])
            #expect(first == "1-1")
            for value in 2...5 { try await client.xadd("st", [StreamField("f", "\(value)")]) }
            #expect(try await client.xlen("st") == 5)
            let all = try await client.xrange("st")
            #expect(all.map { $0["f"] } == ["1", "2", "3", "4", "5"])
            #expect(try await client.xrevrange("st", count: 1).first?["f"] == "5")
            #expect(try await client.xadd("absent", [StreamField("f", "x")], noMakeStream: true) == nil)
            #expect(try await client.xdel("st", ["1-1"]) == 1)
            #expect(try await client.xtrim("st", .maxLength(3)) == 1)
            let read = try await client.xread(streams: [("st", "0")], count: 2)
            #expect(read.first?.stream == "st" && read.first?.entries.count == 2)

            #expect(try await client.xgroupCreate("st", group: "g", id: "0"))
            #expect(try await !client.xgroupCreate("st", group: "g", id: "0"))
            #expect(try await client.xgroupCreateConsumer("st", group: "g", consumer: "idle"))
            let delivered = try await client.xreadgroup(group: "g", consumer: "c1", streams: [("st", ">")], count: 2)
            let ids = delivered.first?.entries.map(\.id) ?? []
            #expect(ids.count == 2)
            let summary = try await client.xpending("st", group: "g")
            #expect(summary.count == 2 && summary.consumers == ["c1": 2] && summary.smallestID == ids.first)
            let pending = try await client.xpending("st", group: "g", count: 10)
            #expect(pending.map(\.id) == ids && pending.allSatisfy { $0.consumer == "c1" && $0.deliveries == 1 })
            let claimed = try await client.xclaim(
                "st", group: "g", consumer: "c2", minIdleMilliseconds: 0, ids: [ids[0]])
            #expect(claimed.map(\.id) == [ids[0]])
            let auto = try await client.xautoclaim("st", group: "g", consumer: "c3", minIdleMilliseconds: 0)
            #expect(auto.cursor == "0-0" && Set(auto.entries.map(\.id)) == Set(ids) && auto.deletedIDs.isEmpty)
            #expect(try await client.xack("st", group: "g", ids: ids) == 2)
            let info = try await client.xinfoStream("st")
            #expect(try Int(reply: info["length"] ?? .null) == 3)
            let groups = try await client.xinfoGroups("st")
            #expect(groups.count == 1 && groups.first?["name"]?.string == "g")
            let consumers = try await client.xinfoConsumers("st", group: "g")
            #expect(Set(consumers.compactMap { $0["name"]?.string }) == ["idle", "c1", "c2", "c3"])
            #expect(try await client.xgroupDeleteConsumer("st", group: "g", consumer: "idle") == 0)
            try await client.xgroupSetID("st", group: "g", id: "$")

            // A blocking read on a lent connection wakes up when another task adds an entry.
            async let waited = client.xreadgroup(group: "g", consumer: "c1", streams: [("st", ">")], block: 5000)
            try await Task.sleep(for: .milliseconds(100))
            let newID = try await client.xadd("st", [StreamField("f", "new")])
            let woken = try await waited
            #expect(woken.first?.entries.map(\.id) == [newID!])
            #expect(try await client.xread(streams: [("st", "$")], block: 100).isEmpty)
            #expect(try await client.xgroupDestroy("st", group: "g"))
        }
        await server.stop()
    }

    @Test(arguments: cases)
    func pipelinesKeepOrderAndReportErrorsAsValues(kind: ServerKind, protocolVersion: Int) async throws {
        let server = try await TestServer.launch(kind)
        try await withClient(server, protocolVersion: protocolVersion) { client in
            let replies = try await client.pipeline { batch in
                batch.append(RESPCommand("SET", "k", "1"))
                batch.append(RESPCommand("INCR", "k"))
                batch.append(RESPCommand("LPUSH", "k", "x"))
                batch.append(RESPCommand("GET", "k"))
            }
            #expect(replies.count == 4)
            #expect(replies[0] == .simpleString("OK"))
            #expect(replies[1] == .integer(2))
            if case .error(let line) = replies[2] {
                #expect(line.hasPrefix("WRONGTYPE"))
            } else {
                Issue.record("expected an error value, got \(replies[2])")
            }
            #expect(replies[3].string == "2")
            #expect(try await client.send(RESPCommand("SMEMBERS", "none"), as: [String].self).isEmpty)
        }
        await server.stop()
    }
}
