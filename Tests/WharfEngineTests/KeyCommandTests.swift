import Testing
import WharfEngine
import WharfProtocol

@Suite("Key commands")
struct KeyCommandTests {
    @Test("DEL, UNLINK, EXISTS, TYPE and TOUCH count keys as Redis does")
    func existence() {
        let h = EngineHarness()
        h.run("MSET", "a", "1", "b", "2")
        #expect(h.run("EXISTS", "a", "a", "b", "c") == .integer(3))
        #expect(h.run("TYPE", "a") == .simple("string"))
        #expect(h.run("TYPE", "zz") == .simple("none"))
        #expect(h.run("TOUCH", "a", "c") == .integer(1))
        #expect(h.run("DEL", "a", "c") == .integer(1))
        #expect(h.run("UNLINK", "b") == .integer(1))
        #expect(h.run("DBSIZE") == .integer(0))
    }

    @Test("EXPIRE family: relative, absolute, options, and times in the past")
    func expire() {
        let h = EngineHarness()
        let now = h.clock.nowMilliseconds()
        h.run("SET", "k", "v")
        #expect(h.run("EXPIRE", "missing", "10") == .integer(0))
        #expect(h.run("EXPIRE", "k", "10", "XX") == .integer(0))
        #expect(h.run("EXPIRE", "k", "10", "NX") == .integer(1))
        #expect(h.run("EXPIRE", "k", "20", "NX") == .integer(0))
        #expect(h.run("EXPIRE", "k", "5", "GT") == .integer(0))
        #expect(h.run("EXPIRE", "k", "50", "GT") == .integer(1))
        #expect(h.run("EXPIRE", "k", "60", "LT") == .integer(0))
        #expect(h.run("PEXPIRE", "k", "30000", "LT") == .integer(1))
        #expect(h.run("PTTL", "k") == .integer(30_000))
        #expect(h.run("PEXPIREAT", "k", String(now + 12_345)) == .integer(1))
        #expect(h.run("PEXPIRETIME", "k") == .integer(now + 12_345))
        #expect(h.run("EXPIREAT", "k", String(now / 1000 + 100)) == .integer(1))
        #expect(h.run("EXPIRETIME", "k") == .integer(now / 1000 + 100))
        #expect(h.run("PERSIST", "k") == .integer(1))
        #expect(h.run("PERSIST", "k") == .integer(0))
        #expect(h.run("TTL", "k") == .integer(-1))
        #expect(h.run("TTL", "missing") == .integer(-2))
        #expect(h.run("EXPIRETIME", "k") == .integer(-1))
        // GT on a key without TTL fails; LT succeeds (no TTL counts as infinite).
        #expect(h.run("EXPIRE", "k", "100", "GT") == .integer(0))
        #expect(h.run("EXPIRE", "k", "100", "LT") == .integer(1))
        // A negative or past time deletes the key and still replies 1.
        #expect(h.run("EXPIRE", "k", "-1") == .integer(1))
        #expect(h.run("EXISTS", "k") == .integer(0))
    }

    @Test("expiry times at the edge of Int64 do not overflow")
    func extremeExpiry() {
        let h = EngineHarness()
        h.run("SET", "k", "v")
        #expect(h.run("PEXPIREAT", "k", "9223372036854775807") == .integer(1))
        #expect(h.run("PEXPIRETIME", "k") == .integer(9_223_372_036_854_775_807))
        #expect(h.run("EXPIRETIME", "k") == .integer(9_223_372_036_854_776))
        #expect(h.run("TTL", "k") == .integer((9_223_372_036_854_775_807 - h.clock.nowMilliseconds() + 500) / 1000))
        #expect(h.run("EXPIRE", "k", "-9223372036854775") == .integer(1))
        #expect(h.run("EXISTS", "k") == .integer(0))
    }

    @Test(
        "EXPIRE errors",
        arguments: [
            (["EXPIRE", "k", "10", "NX", "XX"], "ERR NX and XX, GT or LT options at the same time are not compatible"),
            (["EXPIRE", "k", "10", "GT", "LT"], "ERR GT and LT options at the same time are not compatible"),
            (["EXPIRE", "k", "10", "FOO"], "ERR Unsupported option FOO"),
            (["EXPIRE", "k", "ten"], "ERR value is not an integer or out of range"),
            (["EXPIRE", "k", "9223372036854775807"], "ERR invalid expire time in 'expire' command"),
            (["PEXPIRE", "k", "9223372036854775807"], "ERR invalid expire time in 'pexpire' command"),
            (["EXPIREAT", "k", "-9223372036854775808"], "ERR invalid expire time in 'expireat' command"),
        ])
    func expireErrors(arguments: [String], error: String) {
        let h = EngineHarness()
        h.run("SET", "k", "v")
        #expect(h.run(arguments.map { Array($0.utf8) }) == .error(error))
    }

    @Test("keys expire lazily on access at the exact millisecond")
    func lazyExpiry() {
        let h = EngineHarness()
        h.run("SET", "k", "v", "PX", "100")
        h.advance(milliseconds: 100)
        #expect(h.run("GET", "k") == .bulk("v"), "a key is alive at its expiry instant, as in Redis")
        h.advance(milliseconds: 1)
        #expect(h.run("GET", "k") == .null)
        #expect(h.run("TTL", "k") == .integer(-2))
    }

    @Test("the active sweep reclaims expired keys nobody reads")
    func activeExpiry() {
        let h = EngineHarness()
        for index in 0..<5000 { h.run("SET", "volatile:\(index)", "v", "PX", "50") }
        for index in 0..<100 { h.run("SET", "stable:\(index)", "v") }
        #expect(h.run("DBSIZE") == .integer(5100))
        h.advance(milliseconds: 51)
        var rounds = 0
        while case .integer(let size) = h.run("DBSIZE"), size > 100, rounds < 100 {
            h.engine.activeExpireCycle(now: h.clock.nowMilliseconds(), budgetNanoseconds: 1_000_000_000)
            rounds += 1
        }
        #expect(h.run("DBSIZE") == .integer(100))
        #expect(rounds < 100)
        guard case .verbatimString(_, let text) = h.run("INFO", "stats") else {
            guard case .bulkString(let bulk) = h.run("INFO", "stats") else {
                Issue.record("INFO reply")
                return
            }
            #expect(String(decoding: bulk, as: UTF8.self).contains("expired_keys:5000"))
            return
        }
        #expect(String(decoding: text, as: UTF8.self).contains("expired_keys:5000"))
    }

    @Test("RENAME and RENAMENX keep the value and TTL")
    func rename() {
        let h = EngineHarness()
        h.run("SET", "a", "1", "EX", "100")
        h.run("SET", "b", "2")
        #expect(h.run("RENAME", "missing", "x") == .error("ERR no such key"))
        #expect(h.run("RENAMENX", "a", "b") == .integer(0))
        #expect(h.run("RENAME", "a", "a") == .ok)
        #expect(h.run("RENAME", "a", "b") == .ok)
        #expect(h.run("GET", "b") == .bulk("1"))
        #expect(h.run("TTL", "b") == .integer(100))
        #expect(h.run("EXISTS", "a") == .integer(0))
        #expect(h.run("RENAMENX", "b", "c") == .integer(1))
        #expect(h.run("GET", "c") == .bulk("1"))
    }

    @Test("COPY and MOVE across databases")
    func copyAndMove() {
        let h = EngineHarness()
        h.run("SET", "a", "hello", "EX", "100")
        #expect(h.run("COPY", "a", "b") == .integer(1))
        #expect(h.run("TTL", "b") == .integer(100))
        #expect(h.run("COPY", "a", "b") == .integer(0))
        #expect(h.run("COPY", "a", "b", "REPLACE") == .integer(1))
        #expect(h.run("COPY", "a", "a") == .error("ERR source and destination objects are the same"))
        #expect(h.run("COPY", "a", "a", "DB", "3") == .integer(1))
        #expect(h.run("COPY", "a", "x", "DB", "99") == .error("ERR DB index is out of range"))
        #expect(h.run("MOVE", "a", "5") == .integer(1))
        #expect(h.run("EXISTS", "a") == .integer(0))
        #expect(h.run("MOVE", "b", "0") == .error("ERR source and destination objects are the same"))
        #expect(h.run("MOVE", "b", "16") == .error("ERR DB index is out of range"))
        #expect(h.run("SELECT", "5") == .ok)
        #expect(h.run("GET", "a") == .bulk("hello"))
        #expect(h.run("SELECT", "3") == .ok)
        #expect(h.run("GET", "a") == .bulk("hello"))
        #expect(h.run("MOVE", "a", "5") == .integer(0))
    }

    @Test("KEYS matches glob patterns")
    func keys() {
        let h = EngineHarness()
        h.run("MSET", "hello", "1", "hallo", "1", "hxllo", "1", "hllo", "1", "heeeello", "1", "h[a]llo", "1")
        #expect(h.run("KEYS", "h?llo").sortedStrings == ["hallo", "hello", "hxllo"])
        #expect(h.run("KEYS", "h*llo").sortedStrings == ["h[a]llo", "hallo", "heeeello", "hello", "hllo", "hxllo"])
        #expect(h.run("KEYS", "h[ae]llo").sortedStrings == ["hallo", "hello"])
        #expect(h.run("KEYS", "h[^e]llo").sortedStrings == ["hallo", "hxllo"])
        #expect(h.run("KEYS", "h[a-b]llo").sortedStrings == ["hallo"])
        #expect(h.run("KEYS", "h\\[a\\]llo").sortedStrings == ["h[a]llo"])
        #expect(h.run("KEYS", "*").sortedStrings.count == 6)
    }

    @Test("SCAN visits every key once without mutation, with MATCH, COUNT and TYPE")
    func scan() {
        let h = EngineHarness()
        for index in 0..<1000 { h.run("SET", "key:\(index)", "v") }
        var cursor = "0"
        var seen: [String] = []
        var calls = 0
        repeat {
            guard case .array(let reply) = h.run("SCAN", cursor, "COUNT", "50"), case .bulkString(let next) = reply[0]
            else {
                Issue.record("bad SCAN reply")
                return
            }
            cursor = String(decoding: next, as: UTF8.self)
            seen += reply[1].sortedStrings
            calls += 1
        } while cursor != "0" && calls < 10_000
        #expect(Set(seen).count == 1000)
        #expect(seen.count == 1000, "no duplicates without resizing")
        guard case .array(let matched) = h.run("SCAN", "0", "MATCH", "key:99*", "COUNT", "100000") else { return }
        #expect(
            matched[1].sortedStrings == [
                "key:99", "key:990", "key:991", "key:992", "key:993", "key:994", "key:995", "key:996", "key:997",
                "key:998", "key:999",
            ])
        guard case .array(let typed) = h.run("SCAN", "0", "TYPE", "hash", "COUNT", "100000") else { return }
        #expect(typed[1] == .array([]))
        #expect(h.run("SCAN", "abc") == .error("ERR invalid cursor"))
        #expect(h.run("SCAN", "0", "COUNT", "0") == .error("ERR syntax error"))
    }

    @Test("SCAN returns every key present for the whole scan while others come and go", arguments: [1, 2, 3])
    func scanUnderMutation(seed: UInt64) {
        let h = EngineHarness()
        var generator = SplitMix(seed: seed)
        for index in 0..<2000 { h.run("SET", "stable:\(index)", "v") }
        var churn = 0
        var cursor = "0"
        var seen = Set<String>()
        var calls = 0
        repeat {
            guard case .array(let reply) = h.run("SCAN", cursor, "COUNT", "20"), case .bulkString(let next) = reply[0]
            else { return }
            cursor = String(decoding: next, as: UTF8.self)
            seen.formUnion(reply[1].sortedStrings)
            // Grow and shrink the table between calls: add a burst, delete an older burst.
            for _ in 0..<Int.random(in: 0...120, using: &generator) {
                h.run("SET", "churn:\(churn)", "v")
                churn += 1
            }
            if churn > 500 {
                for old in max(0, churn - 500)..<max(0, churn - 400) { h.run("DEL", "churn:\(old)") }
            }
            calls += 1
        } while cursor != "0" && calls < 100_000
        let stable = seen.filter { $0.hasPrefix("stable:") }
        #expect(stable.count == 2000)
    }

    @Test("RANDOMKEY returns an existing key, or nil when empty")
    func randomKey() {
        let h = EngineHarness()
        #expect(h.run("RANDOMKEY") == .null)
        h.run("MSET", "a", "1", "b", "2")
        for _ in 0..<20 {
            let key = h.run("RANDOMKEY").string
            #expect(key == "a" || key == "b")
        }
        h.run("FLUSHDB")
        h.run("SET", "gone", "1", "PX", "10")
        h.advance(milliseconds: 20)
        #expect(h.run("RANDOMKEY") == .null)
    }

    @Test("OBJECT ENCODING, REFCOUNT, IDLETIME and FREQ")
    func object() {
        let h = EngineHarness()
        h.run("SET", "int", "123")
        h.run("SET", "big", "99999")
        h.run("SET", "short", "hello")
        h.run("SET", "long", String(repeating: "x", count: 45))
        #expect(h.run("OBJECT", "ENCODING", "int") == .bulk("int"))
        #expect(h.run("OBJECT", "ENCODING", "short") == .bulk("embstr"))
        #expect(h.run("OBJECT", "ENCODING", "long") == .bulk("raw"))
        #expect(h.run("OBJECT", "ENCODING", "missing") == .null)
        #expect(h.run("OBJECT", "REFCOUNT", "int") == .integer(2_147_483_647))
        #expect(h.run("OBJECT", "REFCOUNT", "big") == .integer(1))
        h.advance(milliseconds: 5_000)
        #expect(h.run("OBJECT", "IDLETIME", "short") == .integer(5))
        #expect(h.run("GET", "short") == .bulk("hello"))
        #expect(h.run("OBJECT", "IDLETIME", "short") == .integer(0))
        #expect(
            h.run("OBJECT", "FREQ", "short")
                == .error(
                    "ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust."
                ))
        #expect(h.run("CONFIG", "SET", "maxmemory-policy", "allkeys-lfu") == .ok)
        h.run("SET", "hot", "1")
        for _ in 0..<100 { h.run("GET", "hot") }
        guard case .integer(let frequency) = h.run("OBJECT", "FREQ", "hot") else {
            Issue.record("FREQ reply")
            return
        }
        #expect(frequency > 5)
        #expect(h.run("OBJECT", "FOO", "x") == .error("ERR unknown subcommand 'FOO'. Try OBJECT HELP."))
    }

    @Test("FLUSHDB clears one database, FLUSHALL all, with SYNC or ASYNC")
    func flush() {
        let h = EngineHarness()
        h.run("SET", "a", "1")
        h.run("SELECT", "1")
        h.run("SET", "b", "1")
        #expect(h.run("FLUSHDB", "ASYNC") == .ok)
        #expect(h.run("DBSIZE") == .integer(0))
        h.run("SELECT", "0")
        #expect(h.run("DBSIZE") == .integer(1))
        #expect(h.run("FLUSHALL", "SYNC") == .ok)
        #expect(h.run("DBSIZE") == .integer(0))
        #expect(h.run("FLUSHALL", "LATER") == .error("ERR syntax error"))
    }
}

struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { self.state = seed }
    mutating func next() -> UInt64 {
        self.state &+= 0x9E37_79B9_7F4A_7C15
        var z = self.state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
