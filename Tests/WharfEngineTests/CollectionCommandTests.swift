import Testing
import WharfEngine
import WharfProtocol

@Suite("Collection commands")
struct CollectionCommandTests {
    @Test(
        "Every collection command answers WRONGTYPE on another type",
        arguments: [
            ["LPUSH", "s", "x"], ["LRANGE", "s", "0", "-1"], ["LPOP", "s"], ["BLPOP", "s", "0.01"],
            ["LMOVE", "s", "d", "LEFT", "LEFT"],
            ["HSET", "s", "f", "v"], ["HGETALL", "s"], ["HINCRBY", "s", "f", "1"],
            ["SADD", "s", "m"], ["SMEMBERS", "s"], ["SINTER", "s"], ["SPOP", "s"],
            ["ZADD", "s", "1", "m"], ["ZRANGE", "s", "0", "-1"], ["ZPOPMIN", "s"], ["ZUNIONSTORE", "d", "1", "s"],
            ["ZSCAN", "s", "0"],
        ])
    func wrongType(_ command: [String]) {
        let h = EngineHarness()
        h.run("SET", "s", "string")
        #expect(
            h.run(command.map { Array($0.utf8) })
                == .error("WRONGTYPE Operation against a key holding the wrong kind of value"))
        #expect(h.run("GET", "s") == .bulk("string"))
    }

    @Test(
        "Argument errors use Redis's messages",
        arguments: [
            (["ZADD", "z", "NX", "XX", "1", "m"], "ERR XX and NX options at the same time are not compatible"),
            (["ZADD", "z", "GT", "LT", "1", "m"], "ERR GT, LT, and/or NX options at the same time are not compatible"),
            (["ZADD", "z", "INCR", "1", "a", "2", "b"], "ERR INCR option supports a single increment-element pair"),
            (["ZADD", "z", "1", "a", "2"], "ERR syntax error"),
            (["ZADD", "z", "nan", "m"], "ERR value is not a valid float"),
            (["ZRANGEBYSCORE", "z", "x", "1"], "ERR min or max is not a float"),
            (["ZRANGEBYLEX", "z", "a", "+"], "ERR min or max not valid string range item"),
            (
                ["ZRANGE", "z", "0", "1", "LIMIT", "0", "1"],
                "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX"
            ),
            (
                ["ZRANGE", "z", "-", "+", "BYLEX", "WITHSCORES"],
                "ERR syntax error, WITHSCORES not supported in combination with BYLEX"
            ),
            (["ZUNIONSTORE", "d", "0", "z"], "ERR at least 1 input key is needed for 'zunionstore' command"),
            (["ZINTER", "2", "z"], "ERR syntax error"),
            (["ZUNION", "1", "z", "WEIGHTS", "x"], "ERR weight value is not a float"),
            (["ZPOPMIN", "z", "-1"], "ERR value is out of range, must be positive"),
            (
                ["LPOS", "l", "x", "RANK", "0"],
                "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list"
            ),
            (["LPOS", "l", "x", "MAXLEN", "-1"], "ERR MAXLEN can't be negative"),
            (["LMPOP", "0", "l", "LEFT"], "ERR numkeys should be greater than 0"),
            (["LMPOP", "1", "l", "UP"], "ERR syntax error"),
            (["LMPOP", "1", "l", "LEFT", "COUNT", "0"], "ERR count should be greater than 0"),
            (["BLPOP", "l", "-1"], "ERR timeout is negative"),
            (["BLPOP", "l", "soon"], "ERR timeout is not a float or out of range"),
            (["HSET", "h", "f"], "ERR wrong number of arguments for 'hset' command"),
            (["HINCRBYFLOAT", "h", "f", "x"], "ERR value is not a valid float"),
            (["SINTERCARD", "3", "a", "b"], "ERR Number of keys can't be greater than number of args"),
            (["SINTERCARD", "1", "a", "LIMIT", "-1"], "ERR LIMIT can't be negative"),
            (["SSCAN", "s", "x"], "ERR invalid cursor"),
        ])
    func errors(_ command: [String], _ message: String) {
        let h = EngineHarness()
        #expect(h.run(command.map { Array($0.utf8) }) == .error(message))
    }

    @Test("Small collections are packed and convert past the configured thresholds")
    func encodings() {
        let h = EngineHarness()
        h.run("RPUSH", "l", "a", "b")
        #expect(h.run("OBJECT", "ENCODING", "l") == .bulk("listpack"))
        h.run("CONFIG", "SET", "list-max-listpack-size", "3")
        h.run("RPUSH", "l", "c", "d")
        #expect(h.run("OBJECT", "ENCODING", "l") == .bulk("quicklist"))

        h.run("HSET", "h", "f", "v")
        #expect(h.run("OBJECT", "ENCODING", "h") == .bulk("listpack"))
        h.run("HSET", "h", "g", String(repeating: "v", count: 65))
        #expect(h.run("OBJECT", "ENCODING", "h") == .bulk("hashtable"))
        #expect(h.run("HGET", "h", "f") == .bulk("v"))

        h.run("SADD", "s", "1", "2", "3")
        #expect(h.run("OBJECT", "ENCODING", "s") == .bulk("intset"))
        h.run("SADD", "s", "x")
        #expect(h.run("OBJECT", "ENCODING", "s") == .bulk("hashtable"))
        #expect(h.run("SMEMBERS", "s").sortedStrings == ["1", "2", "3", "x"])

        h.run("CONFIG", "SET", "zset-max-listpack-entries", "2")
        h.run("ZADD", "z", "1", "a", "2", "b")
        #expect(h.run("OBJECT", "ENCODING", "z") == .bulk("listpack"))
        h.run("ZADD", "z", "3", "c")
        #expect(h.run("OBJECT", "ENCODING", "z") == .bulk("skiplist"))
        #expect(h.run("TYPE", "z") == .simple("zset"))
        #expect(h.run("SCAN", "0", "TYPE", "zset") == .array([.bulk("0"), .array([.bulk("z")])]))
    }

    @Test("The ziplist names of the thresholds are aliases of the listpack ones")
    func ziplistAliases() {
        let h = EngineHarness()
        #expect(h.run("CONFIG", "SET", "hash-max-ziplist-entries", "2") == .ok)
        #expect(
            h.run("CONFIG", "GET", "hash-max-listpack-entries")
                == .array([.bulk("hash-max-listpack-entries"), .bulk("2")]))
        h.run("HSET", "h", "a", "1", "b", "2", "c", "3")
        #expect(h.run("OBJECT", "ENCODING", "h") == .bulk("hashtable"))
        #expect(h.run("CONFIG", "SET", "zset-max-listpack-value", "5") == .ok)
        #expect(
            h.run("CONFIG", "GET", "zset-max-ziplist-value") == .array([.bulk("zset-max-ziplist-value"), .bulk("5")]))
        #expect(
            h.run("CONFIG", "SET", "list-max-ziplist-size", "-9")
                == .error(
                    "ERR CONFIG SET failed (possibly related to argument 'list-max-ziplist-size') - argument must be between -5 and 2147483647 inclusive"
                ))
    }

    @Test("Scores print as Redis 7.0 prints them; inf and exclusive bounds")
    func scores() {
        let h = EngineHarness()
        h.run("ZADD", "z", "-inf", "low", "1.5", "mid", "0.1", "tenth", "+inf", "high", "3", "three")
        #expect(h.run("ZSCORE", "z", "tenth") == .bulk("0.10000000000000001"))
        #expect(h.run("ZSCORE", "z", "high") == .bulk("inf"))
        #expect(h.run("ZSCORE", "z", "three") == .bulk("3"))
        #expect(h.run("ZRANGEBYSCORE", "z", "(0.1", "(3") == .array([.bulk("mid")]))
        #expect(h.run("ZRANGEBYSCORE", "z", "-inf", "-inf") == .array([.bulk("low")]))
        #expect(h.run("ZCOUNT", "z", "-inf", "+inf") == .integer(5))
        h.protocolVersion = .resp3
        #expect(h.run("ZSCORE", "z", "mid") == .double(1.5))
        #expect(h.run("ZRANGE", "z", "0", "0", "WITHSCORES") == .array([.array([.bulk("low"), .double(-.infinity)])]))
    }

    @Test("ZUNIONSTORE, ZINTERSTORE and ZDIFFSTORE with weights, aggregates and set inputs")
    func algebra() {
        let h = EngineHarness()
        h.run("ZADD", "a", "1", "x", "2", "y")
        h.run("ZADD", "b", "10", "y", "20", "z")
        h.run("SADD", "s", "y", "z")
        #expect(h.run("ZUNIONSTORE", "u", "2", "a", "b", "WEIGHTS", "2", "1") == .integer(3))
        #expect(
            h.run("ZRANGE", "u", "0", "-1", "WITHSCORES")
                == .array([.bulk("x"), .bulk("2"), .bulk("y"), .bulk("14"), .bulk("z"), .bulk("20")]))
        #expect(h.run("ZINTERSTORE", "i", "2", "a", "b", "AGGREGATE", "MAX") == .integer(1))
        #expect(h.run("ZRANGE", "i", "0", "-1", "WITHSCORES") == .array([.bulk("y"), .bulk("10")]))
        #expect(
            h.run("ZINTER", "2", "b", "s", "WITHSCORES") == .array([.bulk("y"), .bulk("11"), .bulk("z"), .bulk("21")]))
        #expect(h.run("ZDIFF", "2", "b", "a") == .array([.bulk("z")]))
        #expect(h.run("ZDIFFSTORE", "a", "2", "a", "a") == .integer(0))
        #expect(h.run("EXISTS", "a") == .integer(0))
        #expect(h.run("ZINTERCARD", "2", "b", "s", "LIMIT", "1") == .integer(1))
    }

    @Test("Lexicographic ranges, ZRANGESTORE and ZREMRANGEBYLEX")
    func lexRanges() {
        let h = EngineHarness()
        h.run("ZADD", "z", "0", "a", "0", "b", "0", "c", "0", "d")
        #expect(h.run("ZRANGEBYLEX", "z", "[b", "(d") == .array([.bulk("b"), .bulk("c")]))
        #expect(h.run("ZREVRANGEBYLEX", "z", "+", "-", "LIMIT", "1", "2") == .array([.bulk("c"), .bulk("b")]))
        #expect(h.run("ZLEXCOUNT", "z", "-", "[b") == .integer(2))
        #expect(h.run("ZRANGESTORE", "dst", "z", "+", "[b", "BYLEX", "REV", "LIMIT", "0", "2") == .integer(2))
        #expect(h.run("ZRANGE", "dst", "0", "-1") == .array([.bulk("c"), .bulk("d")]))
        #expect(h.run("ZREMRANGEBYLEX", "z", "(a", "[c") == .integer(2))
        #expect(h.run("ZRANGE", "z", "0", "-1") == .array([.bulk("a"), .bulk("d")]))
    }

    @Test("Pops, counts and random members")
    func popsAndRandom() {
        let h = EngineHarness()
        h.run("RPUSH", "l", "a", "b", "c")
        #expect(
            h.run("LMPOP", "2", "none", "l", "RIGHT", "COUNT", "2")
                == .array([.bulk("l"), .array([.bulk("c"), .bulk("b")])]))
        #expect(h.run("LPOP", "l", "0") == .array([]))
        #expect(h.run("LPOP", "missing", "2") == .null)
        h.run("ZADD", "z", "1", "a", "2", "b", "3", "c")
        #expect(
            h.run("ZMPOP", "1", "z", "MAX", "COUNT", "2")
                == .array([.bulk("z"), .array([.array([.bulk("c"), .bulk("3")]), .array([.bulk("b"), .bulk("2")])])]))
        #expect(h.run("ZRANDMEMBER", "z", "-3") == .array([.bulk("a"), .bulk("a"), .bulk("a")]))
        h.run("SADD", "s", "a", "b", "c")
        #expect(h.run("SRANDMEMBER", "s", "5").sortedStrings == ["a", "b", "c"])
        guard case .array(let repeated) = h.run("SRANDMEMBER", "s", "-7") else { return }
        #expect(repeated.count == 7)
        #expect(h.run("SPOP", "s", "3").sortedStrings == ["a", "b", "c"])
        #expect(h.run("EXISTS", "s") == .integer(0))
        h.run("HSET", "h", "f", "1.5")
        #expect(h.run("HINCRBYFLOAT", "h", "f", "0.1") == .bulk("1.6"))
        #expect(
            h.run("HRANDFIELD", "h", "-2", "WITHVALUES")
                == .array([.bulk("f"), .bulk("1.6"), .bulk("f"), .bulk("1.6")]))
    }

    @Test("HSCAN, SSCAN and ZSCAN visit every element of a large collection exactly once")
    func scans() {
        let h = EngineHarness()
        for index in 0..<300 {
            h.run("HSET", "h", "f\(index)", "v")
            h.run("SADD", "s", "m\(index)")
            h.run("ZADD", "z", String(index), "m\(index)")
        }
        for (command, key, stride) in [("HSCAN", "h", 2), ("SSCAN", "s", 1), ("ZSCAN", "z", 2)] {
            var cursor = "0"
            var seen: [String] = []
            repeat {
                guard case .array(let reply) = h.run(command, key, cursor, "COUNT", "20"),
                    case .array(let items) = reply[1]
                else {
                    Issue.record("\(command) replied badly")
                    return
                }
                cursor = reply[0].string!
                for index in Swift.stride(from: 0, to: items.count, by: stride) { seen.append(items[index].string!) }
            } while cursor != "0"
            #expect(seen.count == 300)
            #expect(Set(seen).count == 300)
        }
        guard case .array(let matched) = h.run("SSCAN", "s", "0", "MATCH", "m1?", "COUNT", "1000") else { return }
        #expect(matched[1].sortedStrings == (10...19).map { "m\($0)" }.sorted())
    }
}
