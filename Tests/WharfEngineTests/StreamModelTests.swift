import PropertyBased
import Testing
import WharfEngine
import WharfProtocol

/// Random XADD/XRANGE/XREVRANGE/XDEL/XTRIM/XREAD sequences and consumer-group delivery and
/// acknowledgement, run against the engine and a plain model, comparing every reply and
/// the whole stream after each step. Chunks hold four entries, so sequences cross chunk
/// boundaries, share and do not share field names, and empty whole chunks.
@Suite("Streams against a model")
struct StreamModelTests {
    struct ModelEntry: Equatable {
        var ms: UInt64
        var seq: UInt64
        var fields: [String]
        var id: String { "\(self.ms)-\(self.seq)" }
        func precedes(_ other: (UInt64, UInt64)) -> Bool { (self.ms, self.seq) < other }
    }

    typealias Step = (operation: Int, a: Int, b: Int)

    static func steps() -> Generator<[Step], some SendableSequenceType> {
        zip(Gen.int(in: 0...10), Gen.int(in: 0...9), Gen.int(in: 0...6))
            .map { Step(operation: $0, a: $1, b: $2) }
            .array(of: 1...150)
    }

    static func entryValue(_ entry: ModelEntry) -> RESPValue {
        .array([.bulk(entry.id), .array(entry.fields.map { .bulk($0) })])
    }

    static func entries(_ list: [ModelEntry]) -> RESPValue { .array(list.map(Self.entryValue)) }

    @Test("XADD, XRANGE, XREVRANGE, XDEL, XTRIM, XREAD, XREADGROUP, XACK, XPENDING")
    func streams() async {
        await propertyCheck(count: 60, input: Self.steps()) { steps in
            let h = EngineHarness()
            #expect(h.run("CONFIG", "SET", "stream-node-max-entries", "4") == .ok)
            #expect(h.run("XGROUP", "CREATE", "s", "g", "0", "MKSTREAM") == .ok)
            var entries: [ModelEntry] = []
            var last: (UInt64, UInt64) = (0, 0)
            var delivered: (UInt64, UInt64) = (0, 0)
            var pending: [String: (consumer: String, key: (UInt64, UInt64))] = [:]
            func existingID(_ pick: Int) -> (UInt64, UInt64) {
                entries.isEmpty
                    ? (UInt64(pick), 0) : (entries[pick % entries.count].ms, entries[pick % entries.count].seq)
            }
            for step in steps {
                switch step.operation {
                case 0, 1:
                    // Same field names most of the time (shared in the chunk), sometimes others.
                    let fields = step.b == 6 ? ["other", "\(step.a)"] : ["n", "\(step.a)", "k", "v\(step.b)"]
                    let id = (last.0 + UInt64(step.a / 3), UInt64(step.b))
                    let reply = h.run((["XADD", "s", "\(id.0)-\(id.1)"] + fields).map { Array($0.utf8) })
                    if id > last {
                        #expect(reply == .bulk("\(id.0)-\(id.1)"))
                        entries.append(ModelEntry(ms: id.0, seq: id.1, fields: fields))
                        last = id
                    } else {
                        #expect(
                            reply
                                == .error(
                                    id == (0, 0)
                                        ? "ERR The ID specified in XADD must be greater than 0-0"
                                        : "ERR The ID specified in XADD is equal or smaller than the target stream top item"
                                ))
                    }
                case 2:
                    let start = existingID(step.a)
                    let end = existingID(step.a + step.b)
                    let expected = entries.filter { !$0.precedes(start) && !(end < ($0.ms, $0.seq)) }
                    let count = step.b
                    let reply = h.run("XRANGE", "s", "\(start.0)-\(start.1)", "\(end.0)-\(end.1)", "COUNT", "\(count)")
                    #expect(reply == (count == 0 ? .null : Self.entries(Array(expected.prefix(count)))))
                case 3:
                    var end = existingID(step.a)
                    if end == (0, 0) { end = (0, 1) }  // `(0-0` has nothing before it: an error
                    let expected = entries.filter { !(end < ($0.ms, $0.seq)) }.reversed()
                    #expect(
                        h.run("XREVRANGE", "s", "(\(end.0)-\(end.1)", "-", "COUNT", "\(step.b + 1)")
                            == Self.entries(Array(expected.filter { $0.precedes(end) }.prefix(step.b + 1))))
                case 4:
                    let target = existingID(step.a * 7 + step.b)
                    let present = entries.contains { ($0.ms, $0.seq) == target }
                    #expect(h.run("XDEL", "s", "\(target.0)-\(target.1)") == .integer(present ? 1 : 0))
                    entries.removeAll { ($0.ms, $0.seq) == target }
                case 5:
                    let keep = entries.count - min(entries.count, step.b)
                    let removed = entries.count - keep
                    #expect(h.run("XTRIM", "s", "MAXLEN", "=", "\(keep)") == .integer(Int64(removed)))
                    entries.removeFirst(removed)
                case 6:
                    let minimum = existingID(step.a)
                    let removed = entries.filter { $0.precedes(minimum) }.count
                    #expect(h.run("XTRIM", "s", "MINID", "\(minimum.0)-\(minimum.1)") == .integer(Int64(removed)))
                    entries.removeFirst(removed)
                case 7:
                    let consumer = "c\(step.a % 3)"
                    let fresh = entries.filter { delivered < ($0.ms, $0.seq) }
                    let batch = Array(fresh.prefix(step.b == 0 ? fresh.count : step.b))
                    let reply = h.run("XREADGROUP", "GROUP", "g", consumer, "COUNT", "\(step.b)", "STREAMS", "s", ">")
                    if batch.isEmpty {
                        #expect(reply == .null)
                    } else {
                        #expect(reply == .array([.array([.bulk("s"), Self.entries(batch)])]))
                        for entry in batch { pending[entry.id] = (consumer, (entry.ms, entry.seq)) }
                        delivered = (batch.last!.ms, batch.last!.seq)
                    }
                case 8:
                    let candidates = pending.keys.sorted()
                    let chosen = candidates.isEmpty ? "1-1" : candidates[(step.a + step.b) % candidates.count]
                    #expect(h.run("XACK", "s", "g", chosen, "999999-0") == .integer(pending[chosen] == nil ? 0 : 1))
                    pending[chosen] = nil
                case 9:
                    let ordered = pending.values.sorted { $0.key < $1.key }
                    let reply = h.run("XPENDING", "s", "g")
                    if ordered.isEmpty {
                        #expect(reply == .array([.integer(0), .null, .null, .null]))
                    } else {
                        var counts: [String: Int] = [:]
                        for item in ordered { counts[item.consumer, default: 0] += 1 }
                        let first = ordered.first!.key
                        let lastPending = ordered.last!.key
                        #expect(
                            reply
                                == .array([
                                    .integer(Int64(ordered.count)), .bulk("\(first.0)-\(first.1)"),
                                    .bulk("\(lastPending.0)-\(lastPending.1)"),
                                    .array(counts.keys.sorted().map { .array([.bulk($0), .bulk("\(counts[$0]!)")]) }),
                                ]))
                    }
                default:
                    let after = existingID(step.a)
                    let expected = entries.filter { after < ($0.ms, $0.seq) }
                    let reply = h.run("XREAD", "COUNT", "\(step.b)", "STREAMS", "s", "\(after.0)-\(after.1)")
                    if expected.isEmpty {
                        #expect(reply == .null)
                    } else {
                        #expect(
                            reply
                                == .array([
                                    .array([
                                        .bulk("s"),
                                        Self.entries(step.b == 0 ? expected : Array(expected.prefix(step.b))),
                                    ])
                                ]))
                    }
                }
                #expect(h.run("XRANGE", "s", "-", "+") == Self.entries(entries))
                #expect(h.run("XLEN", "s") == .integer(Int64(entries.count)))
            }
        }
    }

    @Test("COPY shares chunks copy-on-write: changing either stream leaves the other as it was")
    func copiesAreIndependent() {
        let h = EngineHarness()
        for index in 1...250 { h.run("XADD", "a", "\(index)-0", "n", "\(index)") }
        h.run("XGROUP", "CREATE", "a", "g", "0")
        h.run("XREADGROUP", "GROUP", "g", "c", "COUNT", "3", "STREAMS", "a", ">")
        #expect(h.run("COPY", "a", "b") == .integer(1))
        let original = EngineHarness.flat(h.run("XINFO", "STREAM", "b", "FULL", "COUNT", "0"))
        h.run("XDEL", "a", "1-0", "150-0")
        h.run("XADD", "a", "251-0", "n", "251")
        h.run("XTRIM", "a", "MAXLEN", "=", "10")
        h.run("XACK", "a", "g", "2-0")
        #expect(EngineHarness.flat(h.run("XINFO", "STREAM", "b", "FULL", "COUNT", "0")) == original)
        #expect(h.run("XLEN", "a") == .integer(10))
        #expect(h.run("XLEN", "b") == .integer(250))
        #expect(h.run("XPENDING", "b", "g", "-", "+", "10").firstRowID == "1-0")
        h.run("XDEL", "b", "5-0")
        #expect(h.run("XLEN", "a") == .integer(10))
    }
}
