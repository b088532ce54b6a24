import Testing
import WharfEngine
import WharfProtocol

@Suite("String commands")
struct StringCommandTests {
    @Test("GET and SET with NX, XX, GET and KEEPTTL")
    func setOptions() {
        let h = EngineHarness()
        #expect(h.run("GET", "k") == .null)
        #expect(h.run("SET", "k", "v1") == .ok)
        #expect(h.run("GET", "k") == .bulk("v1"))
        #expect(h.run("SET", "k", "v2", "NX") == .null)
        #expect(h.run("SET", "other", "x", "XX") == .null)
        #expect(h.run("SET", "k", "v3", "XX", "GET") == .bulk("v1"))
        #expect(h.run("SET", "k", "v4", "NX", "GET") == .bulk("v3"))
        #expect(h.run("GET", "k") == .bulk("v3"))
        #expect(h.run("SET", "k", "v5", "EX", "100") == .ok)
        #expect(h.run("SET", "k", "v6", "KEEPTTL") == .ok)
        #expect(h.run("TTL", "k") == .integer(100))
        #expect(h.run("SET", "k", "v7") == .ok)
        #expect(h.run("TTL", "k") == .integer(-1))
    }

    @Test(
        "SET rejects conflicting options and bad expiry times as Redis does",
        arguments: [
            (["SET", "k", "v", "NX", "XX"], "ERR syntax error"),
            (["SET", "k", "v", "EX", "10", "PX", "100"], "ERR syntax error"),
            (["SET", "k", "v", "KEEPTTL", "EX", "10"], "ERR syntax error"),
            (["SET", "k", "v", "EX"], "ERR syntax error"),
            (["SET", "k", "v", "BOGUS"], "ERR syntax error"),
            (["SET", "k", "v", "EX", "abc"], "ERR value is not an integer or out of range"),
            (["SET", "k", "v", "EX", "0"], "ERR invalid expire time in 'set' command"),
            (["SET", "k", "v", "PX", "-1"], "ERR invalid expire time in 'set' command"),
            (["SET", "k", "v", "EX", "9223372036854775807"], "ERR invalid expire time in 'set' command"),
            (["SET", "k", "v", "PX", "9223372036854775807"], "ERR invalid expire time in 'set' command"),
            (["SETEX", "k", "0", "v"], "ERR invalid expire time in 'setex' command"),
            (["PSETEX", "k", "-5", "v"], "ERR invalid expire time in 'psetex' command"),
            (["GETEX", "k", "EX", "0"], "ERR invalid expire time in 'getex' command"),
            (["GETEX", "k", "PERSIST", "EX", "10"], "ERR syntax error"),
        ])
    func setErrors(arguments: [String], error: String) {
        let h = EngineHarness()
        #expect(h.run(arguments.map { Array($0.utf8) }) == .error(error))
    }

    @Test("SET with EXAT in the past leaves nothing readable")
    func setPastAbsolute() {
        let h = EngineHarness()
        #expect(h.run("SET", "k", "v", "PXAT", "1000") == .ok)
        #expect(h.run("GET", "k") == .null)
        #expect(h.run("EXISTS", "k") == .integer(0))
    }

    @Test("SETNX, SETEX, PSETEX, GETSET, GETDEL and GETEX")
    func variants() {
        let h = EngineHarness()
        #expect(h.run("SETNX", "a", "1") == .integer(1))
        #expect(h.run("SETNX", "a", "2") == .integer(0))
        #expect(h.run("SETEX", "b", "10", "x") == .ok)
        #expect(h.run("PTTL", "b") == .integer(10_000))
        #expect(h.run("PSETEX", "c", "1500", "y") == .ok)
        #expect(h.run("TTL", "c") == .integer(2))
        #expect(h.run("GETSET", "b", "z") == .bulk("x"))
        #expect(h.run("TTL", "b") == .integer(-1))
        #expect(h.run("GETEX", "b", "PX", "5000") == .bulk("z"))
        #expect(h.run("PTTL", "b") == .integer(5000))
        #expect(h.run("GETEX", "b", "PERSIST") == .bulk("z"))
        #expect(h.run("TTL", "b") == .integer(-1))
        #expect(h.run("GETEX", "b", "EXAT", "1") == .bulk("z"))
        #expect(h.run("EXISTS", "b") == .integer(0))
        #expect(h.run("GETDEL", "a") == .bulk("1"))
        #expect(h.run("GETDEL", "a") == .null)
    }

    @Test("MGET, MSET and MSETNX")
    func multiKey() {
        let h = EngineHarness()
        #expect(h.run("MSET", "a", "1", "b", "2", "a", "3") == .ok)
        #expect(h.run("MGET", "a", "b", "c") == .array([.bulk("3"), .bulk("2"), .null]))
        #expect(h.run("MSETNX", "c", "1", "a", "9") == .integer(0))
        #expect(h.run("EXISTS", "c") == .integer(0))
        #expect(h.run("MSETNX", "c", "1", "d", "2") == .integer(1))
        #expect(h.run("MSET", "a", "1", "b") == .error("ERR wrong number of arguments for 'mset' command"))
    }

    @Test("counters, overflow and non-integers")
    func counters() {
        let h = EngineHarness()
        #expect(h.run("INCR", "n") == .integer(1))
        #expect(h.run("INCRBY", "n", "41") == .integer(42))
        #expect(h.run("DECR", "n") == .integer(41))
        #expect(h.run("DECRBY", "n", "-9") == .integer(50))
        #expect(h.run("GET", "n") == .bulk("50"))
        #expect(h.run("OBJECT", "ENCODING", "n") == .bulk("int"))
        #expect(h.run("SET", "max", "9223372036854775807") == .ok)
        #expect(h.run("INCR", "max") == .error("ERR increment or decrement would overflow"))
        #expect(h.run("GET", "max") == .bulk("9223372036854775807"))
        #expect(h.run("DECRBY", "n", "-9223372036854775808") == .error("ERR decrement would overflow"))
        #expect(h.run("SET", "s", "abc") == .ok)
        #expect(h.run("INCR", "s") == .error("ERR value is not an integer or out of range"))
        #expect(h.run("INCRBY", "n", "1.5") == .error("ERR value is not an integer or out of range"))
        #expect(h.run("SET", "spaced", " 1") == .ok)
        #expect(h.run("INCR", "spaced") == .error("ERR value is not an integer or out of range"))
        #expect(h.run("SET", "t", "5", "EX", "100") == .ok)
        #expect(h.run("INCR", "t") == .integer(6))
        #expect(h.run("TTL", "t") == .integer(100))
    }

    @Test("INCRBYFLOAT keeps Redis's long-double formatting")
    func incrByFloat() {
        let h = EngineHarness()
        #expect(h.run("SET", "f", "10.50") == .ok)
        #expect(h.run("INCRBYFLOAT", "f", "0.1") == .bulk("10.6"))
        #expect(h.run("INCRBYFLOAT", "f", "-5") == .bulk("5.6"))
        #expect(h.run("SET", "f", "5.0e3") == .ok)
        #expect(h.run("INCRBYFLOAT", "f", "2.0e2") == .bulk("5200"))
        #expect(h.run("INCRBYFLOAT", "new", "3") == .bulk("3"))
        #expect(h.run("INCRBYFLOAT", "f", "abc") == .error("ERR value is not a valid float"))
        #expect(h.run("INCRBYFLOAT", "f", "inf") == .error("ERR increment would produce NaN or Infinity"))
        #expect(h.run("SET", "s", "x") == .ok)
        #expect(h.run("INCRBYFLOAT", "s", "1") == .error("ERR value is not a valid float"))
    }

    @Test("APPEND, STRLEN, GETRANGE, SUBSTR and SETRANGE")
    func ranges() {
        let h = EngineHarness()
        #expect(h.run("APPEND", "s", "Hello") == .integer(5))
        #expect(h.run("APPEND", "s", " World") == .integer(11))
        #expect(h.run("OBJECT", "ENCODING", "s") == .bulk("raw"))
        #expect(h.run("STRLEN", "s") == .integer(11))
        #expect(h.run("GETRANGE", "s", "0", "4") == .bulk("Hello"))
        #expect(h.run("GETRANGE", "s", "-5", "-1") == .bulk("World"))
        #expect(h.run("GETRANGE", "s", "-1", "-5") == .bulk(""))
        #expect(h.run("GETRANGE", "s", "5", "100") == .bulk(" World"))
        #expect(h.run("SUBSTR", "s", "0", "0") == .bulk("H"))
        #expect(h.run("GETRANGE", "missing", "0", "10") == .bulk(""))
        #expect(h.run("SETRANGE", "s", "6", "Redis") == .integer(11))
        #expect(h.run("GET", "s") == .bulk("Hello Redis"))
        #expect(h.run("SETRANGE", "pad", "3", "x") == .integer(4))
        #expect(h.run("GET", "pad") == .bulkString([0, 0, 0, UInt8(ascii: "x")]))
        #expect(h.run("SETRANGE", "none", "5", "") == .integer(0))
        #expect(h.run("EXISTS", "none") == .integer(0))
        #expect(h.run("SETRANGE", "s", "-1", "x") == .error("ERR offset is out of range"))
        #expect(
            h.run("SETRANGE", "s", "536870911", "xx")
                == .error("ERR string exceeds maximum allowed size (proto-max-bulk-len)"))
        #expect(h.run("SET", "n", "12345") == .ok)
        #expect(h.run("STRLEN", "n") == .integer(5))
        #expect(h.run("APPEND", "n", "6") == .integer(6))
        #expect(h.run("GET", "n") == .bulk("123456"))
    }

    @Test("LCS returns the subsequence, its length, or the matching ranges")
    func lcs() {
        let h = EngineHarness()
        h.run("MSET", "key1", "ohmytext", "key2", "mynewtext")
        #expect(h.run("LCS", "key1", "key2") == .bulk("mytext"))
        #expect(h.run("LCS", "key1", "key2", "LEN") == .integer(6))
        #expect(
            h.run("LCS", "key1", "key2", "IDX")
                == .array([
                    .bulk("matches"),
                    .array([
                        .array([.array([.integer(4), .integer(7)]), .array([.integer(5), .integer(8)])]),
                        .array([.array([.integer(2), .integer(3)]), .array([.integer(0), .integer(1)])]),
                    ]),
                    .bulk("len"), .integer(6),
                ]))
        #expect(
            h.run("LCS", "key1", "key2", "IDX", "MINMATCHLEN", "4", "WITHMATCHLEN")
                == .array([
                    .bulk("matches"),
                    .array([
                        .array([.array([.integer(4), .integer(7)]), .array([.integer(5), .integer(8)]), .integer(4)])
                    ]),
                    .bulk("len"), .integer(6),
                ]))
        #expect(
            h.run("LCS", "key1", "key2", "LEN", "IDX")
                == .error("ERR If you want both the length and indexes, please just use IDX."))
        #expect(h.run("LCS", "key1", "missing") == .bulk(""))
    }

    @Test("binary values with NUL and CRLF round-trip exactly")
    func binaryValues() {
        let h = EngineHarness()
        let key: [UInt8] = [0, 13, 10, 0xFF]
        let value: [UInt8] = Array(0...255)
        #expect(h.run([Array("SET".utf8), key, value]) == .ok)
        #expect(h.run([Array("GET".utf8), key]) == .bulkString(value))
    }

    @Test("large values and keys use the long-length layout")
    func largeValues() {
        let h = EngineHarness()
        let key = [UInt8](repeating: 65, count: 70_000)
        let value = [UInt8](repeating: 66, count: 100_000)
        #expect(h.run([Array("SET".utf8), key, value, Array("PX".utf8), Array("5000".utf8)]) == .ok)
        #expect(h.run([Array("GET".utf8), key]) == .bulkString(value))
        #expect(h.run([Array("PTTL".utf8), key]) == .integer(5000))
        #expect(h.run([Array("STRLEN".utf8), key]) == .integer(100_000))
    }
}
