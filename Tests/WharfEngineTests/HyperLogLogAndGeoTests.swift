import Foundation
import Testing
import WharfProtocol

@testable import WharfEngine

@Suite("HyperLogLog and geo commands")
struct HyperLogLogAndGeoTests {
    /// A key's type, contents and TTL, for comparing values across a round trip.
    static func describe(_ h: EngineHarness, _ key: String) -> String {
        let type = h.run("TYPE", key)
        var contents: RESPValue
        switch type {
        case .simpleString("string"): contents = h.run("GET", key)
        case .simpleString("list"): contents = h.run("LRANGE", key, "0", "-1")
        case .simpleString("set"): contents = h.run("SORT", key, "ALPHA")
        case .simpleString("hash"): contents = h.run("HGETALL", key)
        case .simpleString("zset"): contents = h.run("ZRANGE", key, "0", "-1", "WITHSCORES")
        default: contents = .array([h.run("XRANGE", key, "-", "+"), h.run("XINFO", "STREAM", key)])
        }
        if case .array(var items) = contents, type == .simpleString("hash") {
            // Field order is the table's: compare as sorted pairs.
            var pairs: [(String, String)] = []
            while items.count >= 2 {
                pairs.append((items.removeFirst().string ?? "", items.removeFirst().string ?? ""))
            }
            contents = .array(pairs.sorted { $0.0 < $1.0 }.flatMap { [RESPValue.bulk($0.0), .bulk($0.1)] })
        }
        return "\(type) \(contents) \(h.run("PTTL", key))"
    }

    static func bytes(_ reply: RESPValue) -> [UInt8] {
        if case .bulkString(let bytes) = reply { return bytes }
        return []
    }

    @Test("a fresh HyperLogLog has Redis's exact bytes, before and after PFCOUNT caches")
    func goldenBytes() {
        let h = EngineHarness()
        #expect(h.run("PFADD", "h", "a", "b", "c") == .integer(1))
        // What Redis 7.0 stores for the same command.
        let stale: [UInt8] =
            Array("HYLL".utf8) + [1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x80]
            + [0x60, 0xF3, 0x80, 0x50, 0xB1, 0x84, 0x4B, 0xFB, 0x80, 0x42, 0x5A]
        #expect(Self.bytes(h.run("GET", "h")) == stale)
        #expect(h.run("PFDEBUG", "DECODE", "h") == .simple("Z:8436 v:1,1 Z:4274 v:2,1 Z:3068 v:1,1 Z:603"))
        #expect(h.run("PFCOUNT", "h") == .integer(3))
        var cached = stale
        cached[8] = 3
        cached[15] = 0
        #expect(Self.bytes(h.run("GET", "h")) == cached)
        #expect(h.run("PFADD", "h", "a") == .integer(0))
        #expect(h.run("PFADD", "empty") == .integer(1))
        #expect(
            Self.bytes(h.run("GET", "empty")) == Array("HYLL".utf8) + [
                1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x80, 0x7F, 0xFF,
            ])
    }

    @Test("PFCOUNT stays within Redis's error as the sketch turns dense; PFMERGE keeps the union")
    func estimates() {
        let h = EngineHarness()
        var added = 0
        for batch in 0..<25 {
            let elements = (0..<200).map { "element-\(batch * 200 + $0)" }
            h.run(["PFADD", "big"] + elements)
            added += elements.count
            guard case .integer(let estimate) = h.run("PFCOUNT", "big") else { return #expect(Bool(false)) }
            // 0.81% standard error; five of them is never reached by a correct estimator.
            #expect(abs(Double(estimate) - Double(added)) <= Double(added) * 0.0081 * 5)
        }
        #expect(h.run("PFDEBUG", "ENCODING", "big") == .simple("dense"))
        h.run(["PFADD", "small"] + (0..<100).map { "other-\($0)" })
        #expect(h.run("PFDEBUG", "ENCODING", "small") == .simple("sparse"))
        #expect(h.run("PFMERGE", "union", "big", "small") == .ok)
        #expect(h.run("PFDEBUG", "ENCODING", "union") == .simple("dense"))
        guard case .integer(let union) = h.run("PFCOUNT", "union") else { return #expect(Bool(false)) }
        #expect(h.run("PFCOUNT", "big", "small") == .integer(union))
        #expect(abs(Double(union) - 5_100) <= 5_100 * 0.0081 * 5)
        #expect(h.run("PFSELFTEST") == .ok)
    }

    @Test("hll-sparse-max-bytes decides when a sketch turns dense")
    func sparseLimit() {
        let h = EngineHarness()
        #expect(h.run("CONFIG", "SET", "hll-sparse-max-bytes", "30") == .ok)
        h.run(["PFADD", "h"] + (0..<20).map { "x\($0)" })
        #expect(h.run("PFDEBUG", "ENCODING", "h") == .simple("dense"))
        #expect(h.run("STRLEN", "h") == .integer(12304))
    }

    @Test(
        "strings that are not HyperLogLogs are refused as Redis refuses them",
        arguments: [
            (["SET", "s", "hello"], ["PFADD", "s", "a"], "WRONGTYPE Key is not a valid HyperLogLog string value."),
            (["SET", "s", "12"], ["PFCOUNT", "s"], "WRONGTYPE Key is not a valid HyperLogLog string value."),
            (
                ["RPUSH", "s", "a"], ["PFCOUNT", "s"],
                "WRONGTYPE Operation against a key holding the wrong kind of value"
            ),
            (
                ["SET", "s", "HYLL\u{00}\u{00}\u{00}\u{00}\u{00}\u{00}\u{00}\u{00}\u{00}\u{00}\u{00}\u{00}"],
                ["PFCOUNT", "s"], "WRONGTYPE Key is not a valid HyperLogLog string value."
            ),
            (
                ["SET", "s", "HYLL\u{01}\u{00}\u{00}\u{00}\u{00}\u{00}\u{00}\u{00}\u{00}\u{00}\u{00}\u{80}\u{7F}"],
                ["PFCOUNT", "s"], "INVALIDOBJ Corrupted HLL object detected"
            ),
            (["SET", "s", "x"], ["PFDEBUG", "DECODE", "nope"], "ERR The specified key does not exist"),
        ])
    func refusals(setup: [String], command: [String], error: String) {
        let h = EngineHarness()
        h.run(setup.map { Array($0.utf8) })
        #expect(h.run(command.map { Array($0.utf8) }) == .error(error))
    }

    @Test("GEOADD, GEOPOS, GEODIST and GEOHASH give Redis's documented answers")
    func geoBasics() {
        let h = EngineHarness()
        #expect(
            h.run("GEOADD", "Sicily", "13.361389", "38.115556", "Palermo", "15.087269", "37.502669", "Catania")
                == .integer(2))
        #expect(h.run("ZSCORE", "Sicily", "Palermo") == .bulk("3479099956230698"))
        #expect(h.run("GEODIST", "Sicily", "Palermo", "Catania") == .bulk("166274.1516"))
        #expect(h.run("GEODIST", "Sicily", "Palermo", "Catania", "km") == .bulk("166.2742"))
        #expect(h.run("GEODIST", "Sicily", "Palermo", "Nowhere") == .null)
        #expect(
            h.run("GEOHASH", "Sicily", "Palermo", "Catania", "Nowhere")
                == .array([.bulk("sqc8b49rny0"), .bulk("sqdtr74hyu0"), .null]))
        #expect(
            h.run("GEOPOS", "Sicily", "Palermo", "Nowhere")
                == .array([.array([.bulk("13.36138933897018433"), .bulk("38.11555639549629859")]), .null]))
        #expect(
            h.run("GEOADD", "Sicily", "200", "100", "Nowhere")
                == .error("ERR invalid longitude,latitude pair 200.000000,100.000000"))
        #expect(h.run("GEOADD", "Sicily", "NX", "XX", "1", "1", "x") == .error("ERR syntax error"))
        #expect(h.run("GEOADD", "Sicily", "CH", "13.361389", "38.115556", "Palermo", "1", "1", "New") == .integer(1))
    }

    @Test("GEOSEARCH and GEORADIUS by radius and box, sorted, counted and stored")
    func geoSearch() {
        let h = EngineHarness()
        h.run("GEOADD", "Sicily", "13.361389", "38.115556", "Palermo", "15.087269", "37.502669", "Catania")
        h.run("GEOADD", "Sicily", "12.758489", "38.788135", "edge1", "17.241510", "38.788135", "edge2")
        #expect(
            h.run("GEOSEARCH", "Sicily", "FROMLONLAT", "15", "37", "BYRADIUS", "200", "km", "ASC")
                == .array([.bulk("Catania"), .bulk("Palermo")]))
        #expect(
            h.run("GEOSEARCH", "Sicily", "FROMLONLAT", "15", "37", "BYBOX", "400", "400", "km", "ASC", "WITHDIST")
                == .array([
                    .array([.bulk("Catania"), .bulk("56.4413")]), .array([.bulk("Palermo"), .bulk("190.4424")]),
                    .array([.bulk("edge2"), .bulk("279.7403")]), .array([.bulk("edge1"), .bulk("279.7405")]),
                ]))
        #expect(
            h.run("GEORADIUSBYMEMBER", "Sicily", "Palermo", "200", "km", "COUNT", "1", "DESC")
                == .array([.bulk("Catania")]))
        // Expected values as Redis 7.0 answers the same commands.
        #expect(
            h.run("GEOSEARCHSTORE", "near", "Sicily", "FROMMEMBER", "Palermo", "BYRADIUS", "200", "km", "STOREDIST")
                == .integer(3))
        #expect(
            h.run("ZRANGE", "near", "0", "-1", "WITHSCORES")
                == .array([
                    .bulk("Palermo"), .bulk("0"), .bulk("edge1"), .bulk("91.400658605814272"),
                    .bulk("Catania"), .bulk("166.27415156960032"),
                ]))
        #expect(h.run("GEOSEARCH", "Sicily", "FROMLONLAT", "15", "37", "BYRADIUS", "1", "m") == .array([]))
        #expect(
            h.run("GEOSEARCH", "Sicily", "BYRADIUS", "1", "m", "ASC", "WITHDIST")
                == .error("ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for GEOSEARCH"))
        #expect(
            h.run("GEOSEARCH", "Sicily", "FROMLONLAT", "15", "37", "BYRADIUS", "1", "m", "ANY")
                == .error("ERR the ANY argument requires COUNT argument"))
        #expect(h.run("GEORADIUS_RO", "Sicily", "15", "37", "200", "km", "STORE", "x") == .error("ERR syntax error"))
    }

    @Test("bitmaps, HyperLogLogs and geo sets come back byte for byte from the log")
    func replay() throws {
        let directory = temporaryDirectory()
        let original = try EngineHarness.persistent(directory)
        original.run("SETBIT", "bits", "1000", "1")
        original.run("BITFIELD", "bits", "OVERFLOW", "SAT", "INCRBY", "i5", "#3", "100", "SET", "u7", "40", "99")
        original.run("BITOP", "NOT", "inverse", "bits")
        original.run(["PFADD", "hll"] + (0..<3000).map { "e\($0)" })
        original.run("PFCOUNT", "hll")
        original.run("PFMERGE", "merged", "hll")
        original.run("GEOADD", "geo", "13.361389", "38.115556", "Palermo", "15.087269", "37.502669", "Catania")
        original.run("GEOSEARCHSTORE", "stored", "geo", "FROMLONLAT", "15", "37", "BYRADIUS", "300", "km", "STOREDIST")
        let keys = ["bits", "inverse", "hll", "merged"]
        let expected = keys.map { original.run("GET", $0) }
        let expectedGeo = original.run("ZRANGE", "stored", "0", "-1", "WITHSCORES")
        try original.engine.persistence!.close()
        let recovered = try EngineHarness.persistent(directory, at: original.clock.nowMilliseconds())
        #expect(keys.map { recovered.run("GET", $0) } == expected)
        #expect(recovered.run("ZRANGE", "stored", "0", "-1", "WITHSCORES") == expectedGeo)
        #expect(recovered.run("PFDEBUG", "ENCODING", "hll") == .simple("dense"))
    }
}
