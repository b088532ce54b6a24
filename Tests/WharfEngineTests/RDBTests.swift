import Testing
import WharfProtocol

@testable import WharfEngine

extension String {
    /// Two lowercase hex digits.
    init(format2 byte: UInt8) {
        let digits = Array("0123456789abcdef")
        self = String([digits[Int(byte >> 4)], digits[Int(byte & 0x0F)]])
    }
}

@Suite("RDB serialization")
struct RDBTests {
    @Test("CRC-64 (Jones) gives Redis's check value, sliced or byte by byte")
    func crc64() {
        #expect(CRC64.checksum(Array("123456789".utf8)) == 0xE9C6_D914_C4B8_D9CA)
        let long = (0..<1000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let whole = CRC64.checksum(long)
        let pieces = long.withUnsafeBytes { bytes in
            (0..<1000).reduce(UInt64(0)) { crc, index in
                CRC64.update(crc, UnsafeRawBufferPointer(rebasing: bytes[index..<(index + 1)]))
            }
        }
        #expect(whole == pieces)
    }

    @Test("SHA-1 gives the standard digests")
    func sha1() {
        let hex = { (bytes: [UInt8]) in bytes.map { String(format2: $0) }.joined() }
        #expect(hex(SHA1.digest(Array("abc".utf8))) == "a9993e364706816aba3e25717850c26c9cd0d89d")
        #expect(hex(SHA1.digest([UInt8]())) == "da39a3ee5e6b4b0d3255bfef95601890afd80709")
        #expect(
            hex(SHA1.digest(Array(String(repeating: "a", count: 1000).utf8)))
                == "291e9a6c66994949b57ba5e650361e98fc36b1ba")
    }

    @Test("LZF: literal runs and overlapping back references decompress; damage is refused")
    func lzf() {
        // "abcabcabcX": a literal "abc", a back reference of 6 bytes at distance 3, a literal "X".
        let compressed: [UInt8] = [2, 97, 98, 99, 0x80, 2, 0, 88]
        let expanded = compressed.withUnsafeBytes { LZF.decompress($0, length: 10) }
        #expect(expanded == Array("abcabcabcX".utf8))
        let reachesBack: [UInt8] = [0x20, 9]
        #expect(reachesBack.withUnsafeBytes { LZF.decompress($0, length: 3) } == nil)
        #expect(compressed.withUnsafeBytes { LZF.decompress($0, length: 11) } == nil, "length must match")
    }

    @Test("listpacks keep every integer width and string length across their encodings")
    func listpack() throws {
        let integers: [Int64] = [
            0, 127, 128, -1, 4095, -4096, 4096, 32767, -32768, 32768, 8_388_607, -8_388_608,
            8_388_608, Int64(Int32.max), Int64(Int32.min), Int64(Int32.max) + 1, .max, .min,
        ]
        let strings = [
            [UInt8](), Array("a".utf8), [UInt8](repeating: 120, count: 63), [UInt8](repeating: 121, count: 64),
            [UInt8](repeating: 122, count: 4095), [UInt8](repeating: 123, count: 4096), Array("007".utf8),
            Array("-0".utf8),
        ]
        var builder = Listpack.Builder()
        for value in integers { builder.append(value) }
        for value in strings { builder.append(value) }
        let elements = try Listpack.decode(builder.finished())
        #expect(elements.count == integers.count + strings.count)
        #expect(Array(elements.prefix(integers.count)) == integers.map { .integer($0) })
        #expect(elements.suffix(strings.count).map(\.text) == strings)
        #expect(elements[integers.count + 6] == .bytes(Array("007".utf8)), "not canonical: stays text")
        var damaged = builder.finished()
        damaged[6] = 0xF5  // no such entry encoding
        #expect(throws: RDB.Failure.self) { try Listpack.decode(damaged) }
        var truncated = builder.finished()
        truncated.removeLast(2)
        #expect(throws: RDB.Failure.self) { try Listpack.decode(truncated) }
    }

    @Test("intsets pick the narrowest width and read back")
    func intset() throws {
        for values in [[Int64(-5), 3, 30_000], [-70_000, 1], [Int64.min, 0, Int64.max]] {
            let blob = Intset.encode(values)
            #expect(try Intset.decode(blob, offset: 0) == values)
        }
        #expect(Intset.encode([1, 2])[0] == 2)
        #expect(Intset.encode([1, 70_000])[0] == 4)
    }

    @Test("DUMP then RESTORE gives back every type in every encoding")
    func roundTrip() {
        let h = EngineHarness()
        #expect(h.run("CONFIG", "SET", "zset-max-listpack-entries", "4") == .ok)
        h.run("SET", "string", "hello")
        h.run("SET", "integer", "-12345")
        h.run("SET", "large-integer", "123456789012345")
        h.run(["RPUSH", "list"] + (0..<3000).map { "element-\($0)" })
        h.run("RPUSH", "small-list", "a", "17")
        h.run("SADD", "intset", "1", "-2", "70000")
        h.run("SADD", "set", "a", "b", "c")
        h.run("HSET", "small-hash", "f", "v", "n", "1")
        h.run(["HSET", "hash"] + (0..<600).flatMap { ["field-\($0)", "value-\($0)"] })
        h.run("ZADD", "small-zset", "1.5", "a", "-2", "b")
        h.run(["ZADD", "zset"] + (0..<50).flatMap { ["\(Double($0) / 3)", "member-\($0)"] })
        h.run("XADD", "stream", "1-1", "a", "1", "b", "2")
        h.run("XADD", "stream", "1-2", "a", "3", "b", "4")
        h.run("XADD", "stream", "2-0", "c", "5")
        h.run("XDEL", "stream", "1-2")
        h.run("XGROUP", "CREATE", "stream", "group", "0")
        h.run("XREADGROUP", "GROUP", "group", "alice", "COUNT", "1", "STREAMS", "stream", ">")
        let keys = [
            "string", "integer", "large-integer", "list", "small-list", "intset", "set", "small-hash", "hash",
            "small-zset", "zset", "stream",
        ]
        for key in keys {
            guard case .bulkString(let payload) = h.run("DUMP", key) else {
                Issue.record("no DUMP of \(key)")
                continue
            }
            let before = HyperLogLogAndGeoTests.describe(h, key)
            #expect(h.run([Array("RESTORE".utf8), Array("copy".utf8), Array("0".utf8), payload]) == .ok)
            #expect(h.run("RENAME", "copy", key) == .ok)
            #expect(HyperLogLogAndGeoTests.describe(h, key) == before, "\(key) changed across DUMP and RESTORE")
        }
        #expect(h.run("OBJECT", "ENCODING", "intset") == .bulk("intset"))
        #expect(h.run("OBJECT", "ENCODING", "small-hash") == .bulk("listpack"))
        #expect(h.run("OBJECT", "ENCODING", "zset") == .bulk("skiplist"))
        #expect(
            h.run("XPENDING", "stream", "group")
                == .array([.integer(1), .bulk("1-1"), .bulk("1-1"), .array([.array([.bulk("alice"), .bulk("1")])])]))
    }

    @Test("RESTORE refuses what Redis refuses, with Redis's messages")
    func restoreErrors() {
        let h = EngineHarness()
        h.run("SET", "k", "v")
        guard case .bulkString(var payload) = h.run("DUMP", "k") else { return #expect(Bool(false)) }
        func restore(_ arguments: [String], payload: [UInt8]) -> RESPValue {
            h.run(
                [Array("RESTORE".utf8), Array(arguments[0].utf8), Array(arguments[1].utf8), payload]
                    + arguments.dropFirst(2).map { Array($0.utf8) })
        }
        #expect(restore(["k", "0"], payload: payload) == .error("BUSYKEY Target key name already exists."))
        #expect(restore(["n", "-1"], payload: payload) == .error("ERR Invalid TTL value, must be >= 0"))
        #expect(
            restore(["n", "0", "IDLETIME", "-1"], payload: payload)
                == .error("ERR Invalid IDLETIME value, must be >= 0"))
        #expect(
            restore(["n", "0", "FREQ", "256"], payload: payload)
                == .error("ERR Invalid FREQ value, must be >= 0 and <= 255"))
        #expect(restore(["n", "0", "IDLETIME", "1", "FREQ", "1"], payload: payload) == .error("ERR syntax error"))
        #expect(restore(["n", "0", "REPLACE", "ABSTTL", "1000"], payload: payload) == .error("ERR syntax error"))
        #expect(restore(["n", "1000", "ABSTTL"], payload: payload) == .ok)
        #expect(h.run("EXISTS", "n") == .integer(0), "an absolute TTL in the past restores nothing")
        #expect(restore(["n", "100000", "IDLETIME", "50"], payload: payload) == .ok)
        #expect(h.run("OBJECT", "IDLETIME", "n") == .integer(50))
        payload[0] ^= 0xFF
        #expect(restore(["m", "0"], payload: payload) == .error("ERR DUMP payload version or checksum are wrong"))
        // A valid footer around a value of an unknown type.
        var writer = RDBWriter()
        writer.byte(99)
        writer.littleEndian(UInt16(10))
        writer.littleEndian(CRC64.checksum(writer.bytes))
        #expect(restore(["m", "0"], payload: writer.bytes) == .error("ERR Bad data format"))
    }
}
