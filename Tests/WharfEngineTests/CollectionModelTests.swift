import PropertyBased
import Testing
import WharfEngine
import WharfProtocol

/// Model-based tests: random command sequences run against the engine and against a
/// plain Swift model of each type, comparing every reply and, after each step, the whole
/// value. The conversion thresholds are set low so that sequences cross between the
/// packed and the large encodings in both directions of growth.
@Suite("Collections against a model")
struct CollectionModelTests {
    /// One random step: an operation number and two small integers it interprets.
    typealias Step = (operation: Int, a: Int, b: Int)

    static func steps(operations: Int) -> Generator<[Step], some SendableSequenceType> {
        zip(Gen.int(in: 0...(operations - 1)), Gen.int(in: 0...9), Gen.int(in: -6...6))
            .map { Step(operation: $0, a: $1, b: $2) }
            .array(of: 1...120)
    }

    /// Small values, integers (intset members) and ones past the size thresholds.
    static let values = ["a", "b", "c", "dd", "1", "2", "-7", "300", String(repeating: "x", count: 70), "e"]

    static func harness() -> EngineHarness {
        let h = EngineHarness()
        for (name, value) in [
            ("list-max-listpack-size", "4"), ("hash-max-listpack-entries", "4"), ("hash-max-listpack-value", "16"),
            ("set-max-intset-entries", "4"), ("zset-max-listpack-entries", "4"), ("zset-max-listpack-value", "16"),
        ] {
            #expect(h.run("CONFIG", "SET", name, value) == .ok)
        }
        return h
    }

    static func bulks(_ items: [String]) -> RESPValue { .array(items.map { .bulk($0) }) }

    // MARK: Lists

    @Test("Lists: LPUSH, RPUSH, LPOP, RPOP, LSET, LINSERT, LREM, LTRIM, LMOVE, LINDEX, LPOS")
    func lists() async {
        await propertyCheck(count: 60, input: Self.steps(operations: 11)) { steps in
            let h = Self.harness()
            var model: [String: [String]] = ["l1": [], "l2": []]
            for step in steps {
                let key = step.a % 2 == 0 ? "l1" : "l2"
                let other = key == "l1" ? "l2" : "l1"
                let value = Self.values[step.a]
                var list = model[key]!
                switch step.operation {
                case 0:
                    #expect(
                        h.run("LPUSH", key, value, Self.values[(step.a + 3) % 10]) == .integer(Int64(list.count + 2)))
                    list.insert(contentsOf: [Self.values[(step.a + 3) % 10], value], at: 0)
                case 1:
                    #expect(h.run("RPUSH", key, value) == .integer(Int64(list.count + 1)))
                    list.append(value)
                case 2:
                    let count = abs(step.b)
                    let expected = Array(list.prefix(count))
                    let reply = h.run("LPOP", key, String(count))
                    #expect(reply == (list.isEmpty ? .null : Self.bulks(expected)))
                    list.removeFirst(expected.count)
                case 3:
                    #expect(h.run("RPOP", key) == (list.last.map { .bulk($0) } ?? .null))
                    if !list.isEmpty { list.removeLast() }
                case 4:
                    let index = step.b
                    let position = index < 0 ? list.count + index : index
                    let reply = h.run("LSET", key, String(index), value)
                    if list.isEmpty {
                        #expect(reply == .error("ERR no such key"))
                    } else if position < 0 || position >= list.count {
                        #expect(reply == .error("ERR index out of range"))
                    } else {
                        #expect(reply == .ok)
                        list[position] = value
                    }
                case 5:
                    let pivot = Self.values[(step.a + 1) % 10]
                    let before = step.b >= 0
                    let reply = h.run("LINSERT", key, before ? "BEFORE" : "AFTER", pivot, value)
                    if list.isEmpty {
                        #expect(reply == .integer(0))
                    } else if let position = list.firstIndex(of: pivot) {
                        list.insert(value, at: before ? position : position + 1)
                        #expect(reply == .integer(Int64(list.count)))
                    } else {
                        #expect(reply == .integer(-1))
                    }
                case 6:
                    let count = step.b
                    var removed = 0
                    if count >= 0 {
                        var index = 0
                        while index < list.count && (count == 0 || removed < count) {
                            if list[index] == value {
                                list.remove(at: index)
                                removed += 1
                            } else {
                                index += 1
                            }
                        }
                    } else {
                        var index = list.count - 1
                        while index >= 0 && removed < -count {
                            if list[index] == value {
                                list.remove(at: index)
                                removed += 1
                            }
                            index -= 1
                        }
                    }
                    #expect(h.run("LREM", key, String(count), value) == .integer(Int64(removed)))
                case 7:
                    let start = step.b
                    let stop = step.a - 3
                    #expect(h.run("LTRIM", key, String(start), String(stop)) == .ok)
                    let count = list.count
                    var from = start < 0 ? count + start : start
                    var to = stop < 0 ? count + stop : stop
                    from = max(from, 0)
                    to = min(to, count - 1)
                    list = from > to || from >= count ? [] : Array(list[from...to])
                case 8:
                    let fromLeft = step.b % 2 == 0
                    let toLeft = step.b < 0
                    let reply = h.run("LMOVE", key, other, fromLeft ? "LEFT" : "RIGHT", toLeft ? "LEFT" : "RIGHT")
                    if list.isEmpty {
                        #expect(reply == .null)
                    } else {
                        let element = fromLeft ? list.removeFirst() : list.removeLast()
                        #expect(reply == .bulk(element))
                        model[key] = list
                        var target = model[other]!
                        if toLeft { target.insert(element, at: 0) } else { target.append(element) }
                        model[other] = target
                        list = model[key]!
                    }
                case 9:
                    let index = step.b
                    let position = index < 0 ? list.count + index : index
                    let expected: RESPValue = position >= 0 && position < list.count ? .bulk(list[position]) : .null
                    #expect(h.run("LINDEX", key, String(index)) == expected)
                default:
                    let expected = list.enumerated().filter { $0.element == value }.map {
                        RESPValue.integer(Int64($0.offset))
                    }
                    #expect(h.run("LPOS", key, value, "COUNT", "0") == .array(expected))
                }
                model[key] = list
                for name in ["l1", "l2"] {
                    #expect(h.run("LRANGE", name, "0", "-1") == Self.bulks(model[name]!))
                    #expect(h.run("EXISTS", name) == .integer(model[name]!.isEmpty ? 0 : 1))
                }
            }
        }
    }

    // MARK: Hashes

    @Test("Hashes: HSET, HSETNX, HDEL, HGET, HMGET, HLEN, HEXISTS, HINCRBY, HSTRLEN, HGETALL")
    func hashes() async {
        await propertyCheck(count: 60, input: Self.steps(operations: 7)) { steps in
            let h = Self.harness()
            var model: [String: String] = [:]
            let fields = ["f0", "f1", "f2", "f3", "f4", "f5", "long-field-name-past-sixteen", "f7", "f8", "f9"]
            for step in steps {
                let field = fields[step.a]
                let value = Self.values[(step.a + abs(step.b)) % 10]
                switch step.operation {
                case 0:
                    let second = fields[(step.a + 1) % 10]
                    let added = (model[field] == nil ? 1 : 0) + (model[second] == nil ? 1 : 0)
                    #expect(h.run("HSET", "h", field, value, second, "v") == .integer(Int64(added)))
                    model[field] = value
                    model[second] = "v"
                case 1:
                    #expect(h.run("HSETNX", "h", field, value) == .integer(model[field] == nil ? 1 : 0))
                    if model[field] == nil { model[field] = value }
                case 2:
                    #expect(
                        h.run("HDEL", "h", field, "nope") == .integer(model.removeValue(forKey: field) == nil ? 0 : 1))
                case 3:
                    #expect(h.run("HGET", "h", field) == (model[field].map { .bulk($0) } ?? .null))
                    #expect(h.run("HEXISTS", "h", field) == .integer(model[field] == nil ? 0 : 1))
                    #expect(h.run("HSTRLEN", "h", field) == .integer(Int64(model[field]?.utf8.count ?? 0)))
                case 4:
                    let reply = h.run("HINCRBY", "h", field, String(step.b))
                    if let current = model[field] {
                        if let number = Int64(current), String(number) == current {
                            model[field] = String(number + Int64(step.b))
                            #expect(reply == .integer(number + Int64(step.b)))
                        } else {
                            #expect(reply == .error("ERR hash value is not an integer"))
                        }
                    } else {
                        model[field] = String(step.b)
                        #expect(reply == .integer(Int64(step.b)))
                    }
                case 5:
                    let other = fields[(step.a + 5) % 10]
                    #expect(
                        h.run("HMGET", "h", field, other)
                            == .array([
                                model[field].map { .bulk($0) } ?? .null, model[other].map { .bulk($0) } ?? .null,
                            ]))
                default:
                    #expect(h.run("HLEN", "h") == .integer(Int64(model.count)))
                }
                guard case .array(let flat) = h.run("HGETALL", "h") else {
                    Issue.record("HGETALL did not reply an array")
                    return
                }
                var actual: [String: String] = [:]
                var index = 0
                while index + 1 < flat.count {
                    actual[flat[index].string!] = flat[index + 1].string!
                    index += 2
                }
                #expect(actual == model)
            }
        }
    }

    // MARK: Sets

    @Test("Sets: SADD, SREM, SISMEMBER, SMISMEMBER, SCARD, SMOVE, SPOP, SINTER, SUNION, SDIFF, SINTERSTORE")
    func sets() async {
        await propertyCheck(count: 60, input: Self.steps(operations: 8)) { steps in
            let h = Self.harness()
            var model: [String: Set<String>] = ["s1": [], "s2": [], "s3": []]
            for step in steps {
                let key = ["s1", "s2", "s3"][step.a % 3]
                let other = ["s1", "s2", "s3"][(step.a + 1) % 3]
                let member = Self.values[(step.a + abs(step.b)) % 10]
                var set = model[key]!
                switch step.operation {
                case 0:
                    let second = Self.values[(step.a + 2) % 10]
                    let before = set.count
                    set.insert(member)
                    set.insert(second)
                    #expect(h.run("SADD", key, member, second) == .integer(Int64(set.count - before)))
                case 1:
                    #expect(h.run("SREM", key, member) == .integer(set.remove(member) == nil ? 0 : 1))
                case 2:
                    #expect(h.run("SISMEMBER", key, member) == .integer(set.contains(member) ? 1 : 0))
                    #expect(
                        h.run("SMISMEMBER", key, member, "zz")
                            == .array([.integer(set.contains(member) ? 1 : 0), .integer(0)]))
                    #expect(h.run("SCARD", key) == .integer(Int64(set.count)))
                case 3:
                    let reply = h.run("SMOVE", key, other, member)
                    if set.contains(member) {
                        #expect(reply == .integer(1))
                        set.remove(member)
                        model[key] = set
                        model[other]!.insert(member)
                        set = model[key]!
                    } else {
                        #expect(reply == .integer(0))
                    }
                case 4:
                    let reply = h.run("SPOP", key)
                    if set.isEmpty {
                        #expect(reply == .null)
                    } else if let popped = reply.string {
                        #expect(set.remove(popped) != nil)
                    } else {
                        Issue.record("SPOP replied \(reply)")
                    }
                case 5:
                    #expect(Set(h.run("SINTER", key, other).sortedStrings) == set.intersection(model[other]!))
                case 6:
                    #expect(Set(h.run("SUNION", key, other).sortedStrings) == set.union(model[other]!))
                    #expect(Set(h.run("SDIFF", key, other).sortedStrings) == set.subtracting(model[other]!))
                default:
                    let result = model["s1"]!.intersection(model["s2"]!)
                    #expect(h.run("SINTERSTORE", "s3", "s1", "s2") == .integer(Int64(result.count)))
                    model["s3"] = result
                    if key == "s3" { set = result }
                }
                model[key] = set
                for name in ["s1", "s2", "s3"] {
                    #expect(Set(h.run("SMEMBERS", name).sortedStrings) == model[name]!)
                }
            }
        }
    }

    // MARK: Sorted sets

    static func ordered(_ model: [String: Double]) -> [(String, Double)] {
        model.sorted {
            $0.value != $1.value
                ? $0.value < $1.value : Array($0.key.utf8).lexicographicallyPrecedes(Array($1.key.utf8))
        }
    }

    static func withScores(_ items: [(String, Double)]) -> RESPValue {
        .array(items.flatMap { [RESPValue.bulk($0.0), .bulk(RESPDouble.format($0.1))] })
    }

    @Test(
        "Sorted sets: ZADD options, ZINCRBY, ZREM, ZSCORE, ZRANK, ZRANGE, ZRANGEBYSCORE, ZCOUNT, ZPOPMIN, ZREMRANGEBYRANK"
    )
    func sortedSets() async {
        await propertyCheck(count: 60, input: Self.steps(operations: 10)) { steps in
            let h = Self.harness()
            var model: [String: Double] = [:]
            let members = ["m0", "m1", "m2", "m3", "m4", "m5", "member-longer-than-sixteen", "m7", "m8", "m9"]
            for step in steps {
                let member = members[step.a]
                let score = Double(step.b) / 2
                switch step.operation {
                case 0:
                    let flags = [
                        [], ["NX"], ["XX"], ["GT"], ["LT"], ["CH"], ["GT", "CH"], ["XX", "LT", "CH"], [], [],
                    ][(step.a + abs(step.b)) % 10]
                    let current = model[member]
                    var added = 0
                    var changed = 0
                    if let current {
                        let blocked =
                            flags.contains("NX") || (flags.contains("GT") && score <= current)
                            || (flags.contains("LT") && score >= current)
                        if !blocked && score != current {
                            model[member] = score
                            changed = 1
                        }
                    } else if !flags.contains("XX") {
                        model[member] = score
                        added = 1
                    }
                    let expected = flags.contains("CH") ? added + changed : added
                    #expect(
                        h.run((["ZADD", "z"] + flags + [String(score), member]).map { Array($0.utf8) })
                            == .integer(Int64(expected)))
                case 1:
                    let result = (model[member] ?? 0) + score
                    model[member] = result
                    #expect(h.run("ZINCRBY", "z", String(score), member) == .bulk(RESPDouble.format(result)))
                case 2:
                    #expect(h.run("ZREM", "z", member) == .integer(model.removeValue(forKey: member) == nil ? 0 : 1))
                case 3:
                    #expect(
                        h.run("ZSCORE", "z", member) == (model[member].map { .bulk(RESPDouble.format($0)) } ?? .null))
                    let rank = Self.ordered(model).firstIndex { $0.0 == member }
                    #expect(h.run("ZRANK", "z", member) == (rank.map { .integer(Int64($0)) } ?? .null))
                    #expect(
                        h.run("ZREVRANK", "z", member) == (rank.map { .integer(Int64(model.count - 1 - $0)) } ?? .null))
                case 4:
                    let ordered = Self.ordered(model)
                    let start = step.b
                    let stop = step.a - 5
                    let count = ordered.count
                    var from = start < 0 ? count + start : start
                    var to = stop < 0 ? count + stop : stop
                    from = max(from, 0)
                    to = min(to, count - 1)
                    let expected = from > to || from >= count ? [] : Array(ordered[from...to])
                    #expect(
                        h.run("ZRANGE", "z", String(start), String(stop), "WITHSCORES") == Self.withScores(expected))
                case 5:
                    let low = Double(step.b) / 2
                    let high = low + Double(step.a) / 2
                    let expected = Self.ordered(model).filter { $0.1 > low && $0.1 <= high }
                    #expect(
                        h.run("ZRANGEBYSCORE", "z", "(\(low)", String(high), "WITHSCORES") == Self.withScores(expected))
                    #expect(
                        h.run("ZREVRANGEBYSCORE", "z", String(high), "(\(low)")
                            == Self.bulks(expected.reversed().map(\.0)))
                    #expect(h.run("ZCOUNT", "z", "(\(low)", String(high)) == .integer(Int64(expected.count)))
                    let limited = Array(expected.dropFirst(1).prefix(2))
                    #expect(
                        h.run("ZRANGE", "z", "(\(low)", String(high), "BYSCORE", "LIMIT", "1", "2")
                            == Self.bulks(limited.map(\.0)))
                case 6:
                    let count = abs(step.b)
                    let ordered = Self.ordered(model)
                    let popped = Array(ordered.prefix(count))
                    #expect(h.run("ZPOPMIN", "z", String(count)) == Self.withScores(popped))
                    for (name, _) in popped { model.removeValue(forKey: name) }
                case 7:
                    let ordered = Self.ordered(model)
                    let popped = ordered.last
                    #expect(h.run("ZPOPMAX", "z") == (popped.map { Self.withScores([$0]) } ?? .array([])))
                    if let popped { model.removeValue(forKey: popped.0) }
                case 8:
                    let ordered = Self.ordered(model)
                    let start = step.a % 3
                    let stop = step.b
                    let count = ordered.count
                    var to = stop < 0 ? count + stop : stop
                    to = min(to, count - 1)
                    let doomed = start > to || start >= count ? [] : Array(ordered[start...to])
                    #expect(h.run("ZREMRANGEBYRANK", "z", String(start), String(stop)) == .integer(Int64(doomed.count)))
                    for (name, _) in doomed { model.removeValue(forKey: name) }
                default:
                    #expect(h.run("ZCARD", "z") == .integer(Int64(model.count)))
                    #expect(
                        h.run("ZMSCORE", "z", member, "nope")
                            == .array([model[member].map { .bulk(RESPDouble.format($0)) } ?? .null, .null]))
                }
                #expect(h.run("ZRANGE", "z", "0", "-1", "WITHSCORES") == Self.withScores(Self.ordered(model)))
            }
        }
    }
}
