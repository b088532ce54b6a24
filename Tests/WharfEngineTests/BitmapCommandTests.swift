import PropertyBased
import Testing
import WharfEngine
import WharfProtocol

@Suite("Bitmap commands")
struct BitmapCommandTests {
    static func bytes(_ reply: RESPValue) -> [UInt8] {
        if case .bulkString(let bytes) = reply { return bytes }
        return []
    }

    @Test("SETBIT grows the string with zero bytes, keeps the TTL and returns the old bit")
    func setbit() {
        let h = EngineHarness()
        #expect(h.run("SETBIT", "k", "7", "1") == .integer(0))
        #expect(h.run("SETBIT", "k", "7", "1") == .integer(1))
        #expect(h.run("GET", "k") == .bulk("\u{01}"))
        #expect(h.run("EXPIRE", "k", "100") == .integer(1))
        #expect(h.run("SETBIT", "k", "100", "1") == .integer(0))
        #expect(h.run("STRLEN", "k") == .integer(13))
        #expect(h.run("TTL", "k") == .integer(100))
        #expect(h.run("GETBIT", "k", "100") == .integer(1))
        #expect(h.run("GETBIT", "k", "99") == .integer(0))
        #expect(h.run("GETBIT", "k", "100000") == .integer(0))
        #expect(h.run("GETBIT", "missing", "3") == .integer(0))
        // An integer-encoded string is its decimal text.
        #expect(h.run("SET", "n", "1") == .ok)
        #expect(h.run("SETBIT", "n", "6", "1") == .integer(0))
        #expect(h.run("GET", "n") == .bulk("3"))
    }

    @Test(
        "bit commands refuse bad arguments with Redis's messages",
        arguments: [
            (["SETBIT", "k", "-1", "1"], "ERR bit offset is not an integer or out of range"),
            (["SETBIT", "k", "4294967296", "1"], "ERR bit offset is not an integer or out of range"),
            (["SETBIT", "k", "0", "2"], "ERR bit is not an integer or out of range"),
            (["BITCOUNT", "k", "0"], "ERR syntax error"),
            (["BITCOUNT", "k", "0", "1", "BITS"], "ERR syntax error"),
            (["BITPOS", "k", "2"], "ERR The bit argument must be 1 or 0."),
            (["BITOP", "NAND", "d", "a"], "ERR syntax error"),
            (["BITOP", "NOT", "d", "a", "b"], "ERR BITOP NOT must be called with a single source key."),
            (
                ["BITFIELD", "k", "GET", "u64", "0"],
                "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is."
            ),
            (["BITFIELD", "k", "GET", "i8", "#x"], "ERR bit offset is not an integer or out of range"),
            (["BITFIELD", "k", "OVERFLOW", "NOPE"], "ERR Invalid OVERFLOW type specified"),
            (["BITFIELD", "k", "INCRBY", "u8", "0"], "ERR syntax error"),
            (["BITFIELD_RO", "k", "SET", "u8", "0", "1"], "ERR BITFIELD_RO only supports the GET subcommand"),
        ])
    func errors(arguments: [String], error: String) {
        let h = EngineHarness()
        #expect(h.run(arguments.map { Array($0.utf8) }) == .error(error))
    }

    @Test("the proto-max-bulk-len bound applies to bit offsets")
    func offsetBound() {
        let h = EngineHarness()
        #expect(h.run("CONFIG", "SET", "proto-max-bulk-len", "1mb") == .ok)
        #expect(h.run("SETBIT", "k", "8388607", "1") == .integer(0))
        #expect(h.run("SETBIT", "k", "8388608", "1") == .error("ERR bit offset is not an integer or out of range"))
        #expect(
            h.run("BITFIELD", "k", "SET", "u8", "#1048576", "1")
                == .error("ERR bit offset is not an integer or out of range"))
    }

    @Test("BITFIELD: # offsets, the three overflow modes and Redis's own SET quirk")
    func bitfield() {
        let h = EngineHarness()
        #expect(
            h.run("BITFIELD", "k", "SET", "u8", "#1", "200", "GET", "u8", "8", "GET", "i8", "8")
                == .array([.integer(0), .integer(200), .integer(-56)]))
        #expect(h.run("BITFIELD", "k", "INCRBY", "u8", "#1", "100") == .array([.integer(44)]))
        #expect(h.run("BITFIELD", "k", "OVERFLOW", "SAT", "INCRBY", "u8", "#1", "300") == .array([.integer(255)]))
        #expect(
            h.run("BITFIELD", "k", "OVERFLOW", "FAIL", "INCRBY", "u8", "#1", "1", "GET", "u8", "#1")
                == .array([.null, .integer(255)]))
        #expect(h.run("BITFIELD", "k", "OVERFLOW", "SAT", "SET", "i4", "0", "-100") == .array([.integer(0)]))
        #expect(h.run("BITFIELD", "k", "GET", "i4", "0") == .array([.integer(-8)]))
        // Redis computes max - value in 64 bits, which wraps for a large negative SET into a
        // narrow field: it counts as an overflow upwards and SAT stores the maximum.
        #expect(
            h.run("BITFIELD", "q", "OVERFLOW", "SAT", "SET", "i63", "0", "-9099238328871042205", "GET", "i63", "0")
                == .array([.integer(0), .integer(4_611_686_018_427_387_903)]))
        #expect(h.run("BITFIELD_RO", "missing", "GET", "u8", "0") == .array([.integer(0)]))
        #expect(h.run("EXISTS", "missing") == .integer(0))
    }

    /// A value of `width` bits as Redis's types mean it, for the model.
    static func model(_ value: Int64, signed: Bool, width: Int) -> Int64 {
        let mask: UInt64 = width == 64 ? ~0 : (1 << UInt64(width)) - 1
        let bits = UInt64(bitPattern: value) & mask
        guard signed, width < 64 else { return Int64(bitPattern: bits) }
        return bits & (1 << UInt64(width - 1)) != 0 ? Int64(bitPattern: bits | ~mask) : Int64(bitPattern: bits)
    }

    @Test("BITFIELD SET and INCRBY against a model of wrap, saturate and fail")
    func bitfieldModel() async {
        let steps = zip(Gen.int(in: 0...2), Gen.int(in: 0...39), Gen.bool, Gen.int64(in: -(1 << 61)...(1 << 61)))
            .map { (overflow: $0, field: $1, increment: $2, value: $3) }
            .array(of: 1...60)
        let widths = [1, 7, 8, 13, 16, 31, 32, 33, 63, 64]
        await propertyCheck(count: 80, input: steps) { steps in
            let h = EngineHarness()
            // Each field has its own type and 64 bits of its own, so fields never overlap.
            var fields: [Int: Int64] = [:]
            for step in steps {
                let width = widths[step.field % 10]
                let signed = width == 64 || (step.field / 10) % 2 == 0
                let type = (signed ? "i" : "u") + "\(width)"
                let mode = ["WRAP", "SAT", "FAIL"][step.overflow]
                let offset = step.field * 64
                let minimum: Int64 = signed ? (width == 64 ? .min : -(1 << Int64(width - 1))) : 0
                let maximum: Int64 =
                    signed
                    ? (width == 64 ? .max : (1 << Int64(width - 1)) - 1)
                    : (width == 63 ? .max : (1 << Int64(width)) - 1)
                let current = fields[offset] ?? 0
                let (target, overflow) =
                    step.increment ? current.addingReportingOverflow(step.value) : (step.value, false)
                // An unsigned SET takes a negative number's 64 bits as unsigned: above the range.
                let above = overflow ? step.value > 0 : (target > maximum || (!signed && !step.increment && target < 0))
                let below = !above && (overflow || target < minimum)
                var stored: Int64?
                if !above && !below {
                    stored = target
                } else if mode == "SAT" {
                    stored = above ? maximum : minimum
                } else if mode == "WRAP" {
                    stored = Self.model(
                        step.increment ? current &+ step.value : step.value, signed: signed, width: width)
                }
                let command = step.increment ? "INCRBY" : "SET"
                let reply = h.run("BITFIELD", "k", "OVERFLOW", mode, command, type, "\(offset)", "\(step.value)")
                let expected: RESPValue = stored.map { .integer(step.increment ? $0 : current) } ?? .null
                #expect(reply == .array([expected]), "\(command) \(type) \(mode) \(step.value) from \(current)")
                if let stored { fields[offset] = stored }
                #expect(h.run("BITFIELD", "k", "GET", type, "\(offset)") == .array([.integer(fields[offset] ?? 0)]))
            }
        }
    }

    @Test("SETBIT, BITCOUNT, BITPOS and BITOP against a model of bits")
    func bitModel() async {
        let steps = zip(Gen.int(in: 0...5), Gen.int(in: 0...2), Gen.int(in: -40...200), Gen.int(in: -40...200))
            .map { (operation: $0, key: $1, a: $2, b: $3) }
            .array(of: 1...80)
        await propertyCheck(count: 60, input: steps) { steps in
            let h = EngineHarness()
            var model: [[Bool]] = [[], [], []]
            let keys = ["a", "b", "c"]
            func bytes(_ bits: [Bool]) -> [UInt8] {
                stride(from: 0, to: bits.count, by: 8).map { start in
                    (0..<8).reduce(UInt8(0)) {
                        $0 | (start + $1 < bits.count && bits[start + $1] ? 0x80 >> UInt8($1) : 0)
                    }
                }
            }
            func clamp(_ start: Int, _ end: Int, _ total: Int) -> Range<Int>? {
                if start < 0 && end < 0 && start > end { return nil }
                let first = max(start < 0 ? total + start : start, 0)
                let last = min(max(end < 0 ? total + end : end, 0), total - 1)
                return first <= last ? first..<(last + 1) : nil
            }
            for step in steps {
                let key = keys[step.key]
                var bits = model[step.key]
                switch step.operation {
                case 0, 1:
                    let offset = abs(step.a)
                    let on = step.b % 2 == 0
                    let old = offset < bits.count && bits[offset]
                    #expect(h.run("SETBIT", key, "\(offset)", on ? "1" : "0") == .integer(old ? 1 : 0))
                    let length = (offset / 8 + 1) * 8
                    if bits.count < length { bits += Array(repeating: false, count: length - bits.count) }
                    bits[offset] = on
                    model[step.key] = bits
                case 2:
                    let byteRange = clamp(step.a / 8, step.b / 8, bits.count / 8)
                    let expected =
                        byteRange.map { bits[($0.lowerBound * 8)..<($0.upperBound * 8)].filter { $0 }.count } ?? 0
                    #expect(h.run("BITCOUNT", key, "\(step.a / 8)", "\(step.b / 8)") == .integer(Int64(expected)))
                    let bitRange = clamp(step.a, step.b, bits.count)
                    let inBits = bitRange.map { bits[$0].filter { $0 }.count } ?? 0
                    #expect(h.run("BITCOUNT", key, "\(step.a)", "\(step.b)", "BIT") == .integer(Int64(inBits)))
                case 3:
                    let wanted = step.b % 2 == 0
                    var expected = -1
                    if bits.isEmpty {
                        expected = wanted ? -1 : 0
                    } else if let range = clamp(step.a, step.b, bits.count) {
                        expected = range.first { bits[$0] == wanted } ?? -1
                    }
                    #expect(
                        h.run("BITPOS", key, wanted ? "1" : "0", "\(step.a)", "\(step.b)", "BIT")
                            == .integer(Int64(expected)))
                    if !bits.isEmpty {
                        let whole = bits.firstIndex(of: wanted) ?? (wanted ? -1 : bits.count)
                        #expect(h.run("BITPOS", key, wanted ? "1" : "0") == .integer(Int64(whole)))
                    }
                case 4:
                    let operation = ["AND", "OR", "XOR"][abs(step.a) % 3]
                    let other = model[(step.key + 1) % 3]
                    let length = max(bits.count, other.count)
                    let left = bits + Array(repeating: false, count: length - bits.count)
                    let right = other + Array(repeating: false, count: length - other.count)
                    let result = zip(left, right).map {
                        operation == "AND" ? $0 && $1 : operation == "OR" ? $0 || $1 : $0 != $1
                    }
                    #expect(
                        h.run("BITOP", operation, "c", key, keys[(step.key + 1) % 3]) == .integer(Int64(length / 8)))
                    model[2] = result
                default:
                    let result = bits.map { !$0 }
                    #expect(h.run("BITOP", "NOT", "c", key) == .integer(Int64(bits.count / 8)))
                    model[2] = result
                }
                for (index, name) in keys.enumerated() {
                    let expected: RESPValue = model[index].isEmpty ? .null : .bulkString(bytes(model[index]))
                    #expect(h.run("GET", name) == expected)
                }
            }
        }
    }
}
