/// The byte-level pieces of Redis's RDB format (version 10, Redis 7.0): length and string
/// encodings, LZF-compressed strings, and the CRC-64 (Jones) that guards DUMP payloads and
/// `dump.rdb` files. Everything here is written from the format's description; values and
/// files are built on it in ``RDBValueCodec`` and ``RDBFile``.
package enum RDB {
    package static let version: UInt16 = 10

    /// Value types (the byte before a value).
    package enum ValueType: UInt8, Sendable {
        case string = 0
        case list = 1
        case set = 2
        case sortedSet = 3
        case hash = 4
        case sortedSet2 = 5
        case hashZipmap = 9
        case listZiplist = 10
        case setIntset = 11
        case sortedSetZiplist = 12
        case hashZiplist = 13
        case listQuicklist = 14
        case streamListpacks = 15
        case hashListpack = 16
        case sortedSetListpack = 17
        case listQuicklist2 = 18
        case streamListpacks2 = 19
    }

    /// File opcodes.
    static let opFunction2: UInt8 = 245
    static let opModuleAux: UInt8 = 247
    static let opIdle: UInt8 = 248
    static let opFrequency: UInt8 = 249
    static let opAux: UInt8 = 250
    static let opResizeDB: UInt8 = 251
    static let opExpireMilliseconds: UInt8 = 252
    static let opExpireSeconds: UInt8 = 253
    static let opSelectDB: UInt8 = 254
    static let opEOF: UInt8 = 255

    /// Why RDB input was refused; `offset` is where in the input the reader was.
    package struct Failure: Error, CustomStringConvertible, Sendable {
        package let offset: Int
        package let reason: String
        package var description: String { "\(self.reason) at offset \(self.offset)" }

        package init(offset: Int, reason: String) {
            self.offset = offset
            self.reason = reason
        }
    }
}

// MARK: - CRC-64 (Jones)

/// CRC-64 with the Jones polynomial as Redis computes it (reflected, initial value 0, no
/// final XOR; check value `0xe9c6d914c4b8d9ca` for "123456789").
package enum CRC64 {
    /// Eight tables of 256 entries for slicing-by-8: table k advances a byte's effect k more
    /// bytes, so eight input bytes cost eight lookups and one load (a byte-at-a-time CRC
    /// was a tenth of `wharf import`'s time).
    private static let tables: [UInt64] = {
        // 0xad93d23594c935a9 with its bits reversed, for the least-significant-bit-first form.
        let polynomial: UInt64 = 0x95AC_9329_AC4B_C9B5
        var tables = [UInt64](repeating: 0, count: 8 * 256)
        for byte in 0..<256 {
            var crc = UInt64(byte)
            for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ polynomial : crc >> 1 }
            tables[byte] = crc
        }
        for table in 1..<8 {
            for byte in 0..<256 {
                let previous = tables[(table - 1) * 256 + byte]
                tables[table * 256 + byte] = (previous >> 8) ^ tables[Int(previous & 0xFF)]
            }
        }
        return tables
    }()

    package static func update(_ crc: UInt64, _ bytes: UnsafeRawBufferPointer) -> UInt64 {
        var crc = crc
        self.tables.withUnsafeBufferPointer { t in
            var index = 0
            let count = bytes.count
            while index + 8 <= count {
                crc ^= UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: index, as: UInt64.self))
                crc =
                    t[7 * 256 + Int(crc & 0xFF)] ^ t[6 * 256 + Int((crc >> 8) & 0xFF)]
                    ^ t[5 * 256 + Int((crc >> 16) & 0xFF)] ^ t[4 * 256 + Int((crc >> 24) & 0xFF)]
                    ^ t[3 * 256 + Int((crc >> 32) & 0xFF)] ^ t[2 * 256 + Int((crc >> 40) & 0xFF)]
                    ^ t[256 + Int((crc >> 48) & 0xFF)] ^ t[Int(crc >> 56)]
                index += 8
            }
            while index < count {
                crc = t[Int(UInt8(truncatingIfNeeded: crc) ^ bytes[index])] ^ (crc >> 8)
                index += 1
            }
        }
        return crc
    }

    package static func checksum(_ bytes: some Collection<UInt8>) -> UInt64 {
        bytes.withContiguousStorageIfAvailable { self.update(0, UnsafeRawBufferPointer($0)) }
            ?? Array(bytes).withUnsafeBytes { self.update(0, $0) }
    }
}

// MARK: - LZF

/// LZF decompression (the compressor Redis uses for long strings in RDB files).
package enum LZF {
    /// The decompressed bytes, which must be exactly `length` long; nil for damaged input.
    package static func decompress(_ input: UnsafeRawBufferPointer, length: Int) -> [UInt8]? {
        var output = [UInt8](repeating: 0, count: length)
        var position = 0
        var written = 0
        let ok = output.withUnsafeMutableBufferPointer { out -> Bool in
            while position < input.count {
                let control = Int(input[position])
                position += 1
                if control < 32 {
                    let run = control + 1
                    guard position + run <= input.count, written + run <= length else { return false }
                    (out.baseAddress! + written).update(
                        from: input.baseAddress!.assumingMemoryBound(to: UInt8.self) + position, count: run)
                    position += run
                    written += run
                    continue
                }
                var run = control >> 5
                if run == 7 {
                    guard position < input.count else { return false }
                    run += Int(input[position])
                    position += 1
                }
                guard position < input.count else { return false }
                let back = ((control & 0x1F) << 8) + Int(input[position]) + 1
                position += 1
                run += 2
                guard back <= written, written + run <= length else { return false }
                if back >= run {
                    (out.baseAddress! + written).update(from: out.baseAddress! + written - back, count: run)
                    written += run
                    continue
                }
                // Byte by byte: this reference overlaps what it produces.
                for _ in 0..<run {
                    out[written] = out[written - back]
                    written += 1
                }
            }
            return written == length
        }
        return ok ? output : nil
    }
}

// MARK: - Reading

/// A cursor over RDB bytes. Every read checks bounds and throws ``RDB/Failure`` with the
/// offset, so damaged input is refused and never read past.
package struct RDBReader {
    package let bytes: UnsafeRawBufferPointer
    package var position: Int
    /// Added to positions in errors (where these bytes start in a larger file).
    let base: Int

    package init(_ bytes: UnsafeRawBufferPointer, position: Int = 0, base: Int = 0) {
        self.bytes = bytes
        self.position = position
        self.base = base
    }

    package var isAtEnd: Bool { self.position >= self.bytes.count }

    package func failure(_ reason: String) -> RDB.Failure {
        RDB.Failure(offset: self.base + self.position, reason: reason)
    }

    package mutating func byte() throws(RDB.Failure) -> UInt8 {
        guard self.position < self.bytes.count else { throw self.failure("unexpected end of data") }
        defer { self.position += 1 }
        return self.bytes[self.position]
    }

    package mutating func raw(_ count: Int) throws(RDB.Failure) -> UnsafeRawBufferPointer {
        guard count >= 0, count <= self.bytes.count - self.position else {
            throw self.failure("unexpected end of data")
        }
        defer { self.position += count }
        return UnsafeRawBufferPointer(rebasing: self.bytes[self.position..<(self.position + count)])
    }

    package mutating func littleEndian<T: FixedWidthInteger>(_ type: T.Type) throws(RDB.Failure) -> T {
        let raw = try self.raw(MemoryLayout<T>.size)
        return T(littleEndian: raw.loadUnaligned(as: T.self))
    }

    package mutating func bigEndian<T: FixedWidthInteger>(_ type: T.Type) throws(RDB.Failure) -> T {
        let raw = try self.raw(MemoryLayout<T>.size)
        return T(bigEndian: raw.loadUnaligned(as: T.self))
    }

    /// A length, or the special-encoding marker of a string (`encoded`: the low six bits).
    package mutating func lengthOrEncoding() throws(RDB.Failure) -> (value: UInt64, encoded: Bool) {
        let first = try self.byte()
        switch first >> 6 {
        case 0: return (UInt64(first & 0x3F), false)
        case 1: return (UInt64(first & 0x3F) << 8 | UInt64(try self.byte()), false)
        case 2:
            if first == 0x80 { return (UInt64(try self.bigEndian(UInt32.self)), false) }
            if first == 0x81 { return (try self.bigEndian(UInt64.self), false) }
            throw self.failure("unknown length encoding \(first)")
        default: return (UInt64(first & 0x3F), true)
        }
    }

    package mutating func length() throws(RDB.Failure) -> Int {
        let (value, encoded) = try self.lengthOrEncoding()
        guard !encoded, value <= UInt64(Int.max) else { throw self.failure("bad length") }
        return Int(value)
    }

    /// A length as an unsigned 64-bit number (stream IDs and counters).
    package mutating func length64() throws(RDB.Failure) -> UInt64 {
        let (value, encoded) = try self.lengthOrEncoding()
        guard !encoded else { throw self.failure("bad length") }
        return value
    }

    /// A string in any of its encodings: plain, an integer, or LZF-compressed.
    package mutating func string() throws(RDB.Failure) -> [UInt8] {
        let (value, encoded) = try self.lengthOrEncoding()
        if !encoded {
            guard value <= UInt64(self.bytes.count - self.position) else {
                throw self.failure("string longer than the data")
            }
            return Array(try self.raw(Int(value)))
        }
        switch value {
        case 0: return Array(String(Int8(bitPattern: try self.byte())).utf8)
        case 1: return Array(String(try self.littleEndian(Int16.self)).utf8)
        case 2: return Array(String(try self.littleEndian(Int32.self)).utf8)
        case 3:
            let compressed = try self.length()
            let length = try self.length()
            let input = try self.raw(compressed)
            guard length <= 1 << 32, let output = LZF.decompress(input, length: length) else {
                throw self.failure("damaged LZF string")
            }
            return output
        default:
            throw self.failure("unknown string encoding \(value)")
        }
    }

    /// Skips a string without decoding it.
    package mutating func skipString() throws(RDB.Failure) {
        _ = try self.string()
    }

    /// An 8-byte little-endian IEEE double (sorted-set scores since RDB 8).
    package mutating func binaryDouble() throws(RDB.Failure) -> Double {
        Double(bitPattern: try self.littleEndian(UInt64.self))
    }

    /// The old text form of a double: a length byte (253 nan, 254 +inf, 255 -inf) and text.
    package mutating func textDouble() throws(RDB.Failure) -> Double {
        let length = try self.byte()
        switch length {
        case 253: return .nan
        case 254: return .infinity
        case 255: return -.infinity
        default:
            let text = String(decoding: try self.raw(Int(length)), as: UTF8.self)
            guard let value = Double(text) else { throw self.failure("bad double") }
            return value
        }
    }
}

// MARK: - Writing

/// Builds RDB bytes.
package struct RDBWriter {
    package var bytes: [UInt8] = []

    package init() {}

    package mutating func byte(_ value: UInt8) { self.bytes.append(value) }

    package mutating func raw(_ raw: UnsafeRawBufferPointer) { self.bytes.append(contentsOf: raw) }

    package mutating func littleEndian<T: FixedWidthInteger>(_ value: T) {
        withUnsafeBytes(of: value.littleEndian) { self.bytes.append(contentsOf: $0) }
    }

    package mutating func bigEndian<T: FixedWidthInteger>(_ value: T) {
        withUnsafeBytes(of: value.bigEndian) { self.bytes.append(contentsOf: $0) }
    }

    package mutating func length(_ value: UInt64) {
        if value < 1 << 6 {
            self.byte(UInt8(value))
        } else if value < 1 << 14 {
            self.byte(UInt8(value >> 8) | 0x40)
            self.byte(UInt8(value & 0xFF))
        } else if value <= UInt64(UInt32.max) {
            self.byte(0x80)
            self.bigEndian(UInt32(value))
        } else {
            self.byte(0x81)
            self.bigEndian(value)
        }
    }

    package mutating func length(_ value: Int) { self.length(UInt64(value)) }

    /// A string as Redis writes it uncompressed: a short canonical integer that fits in 32
    /// bits as an integer encoding, anything else as length and bytes.
    package mutating func string(_ value: UnsafeRawBufferPointer) {
        if value.count <= 11, let integer = CanonicalInteger.parse(value), let small = Int32(exactly: integer) {
            self.integer(Int64(small))
            return
        }
        self.length(value.count)
        self.raw(value)
    }

    package mutating func string(_ value: [UInt8]) { value.withUnsafeBytes { self.string($0) } }

    /// An integer in the smallest of the string integer encodings (it must fit in 32 bits).
    package mutating func integer(_ value: Int64) {
        if let byte = Int8(exactly: value) {
            self.byte(0xC0)
            self.byte(UInt8(bitPattern: byte))
        } else if let short = Int16(exactly: value) {
            self.byte(0xC1)
            self.littleEndian(short)
        } else {
            self.byte(0xC2)
            self.littleEndian(Int32(truncatingIfNeeded: value))
        }
    }

    package mutating func binaryDouble(_ value: Double) { self.littleEndian(value.bitPattern) }

    /// Ends a DUMP payload (the value already written): the RDB version and the CRC-64 of
    /// everything before the checksum.
    package mutating func appendDumpFooter() {
        self.littleEndian(RDB.version)
        self.littleEndian(CRC64.checksum(self.bytes))
    }
}

/// Decimal integers exactly as Redis's `string2ll` accepts them: no leading zeros, no plus
/// sign, no spaces, within 64 bits (so the text round-trips).
enum CanonicalInteger {
    static func parse(_ bytes: UnsafeRawBufferPointer) -> Int64? {
        guard !bytes.isEmpty, bytes.count <= 20 else { return nil }
        if bytes.count == 1 && bytes[0] == UInt8(ascii: "0") { return 0 }
        var index = 0
        let negative = bytes[0] == UInt8(ascii: "-")
        if negative { index = 1 }
        guard index < bytes.count, bytes[index] >= UInt8(ascii: "1"), bytes[index] <= UInt8(ascii: "9") else {
            return nil
        }
        var magnitude: UInt64 = 0
        while index < bytes.count {
            let digit = bytes[index] &- UInt8(ascii: "0")
            guard digit <= 9 else { return nil }
            let (times, overflow1) = magnitude.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = times.addingReportingOverflow(UInt64(digit))
            guard !overflow1, !overflow2 else { return nil }
            magnitude = sum
            index += 1
        }
        if negative {
            guard magnitude <= UInt64(Int64.max) + 1 else { return nil }
            return magnitude == UInt64(Int64.max) + 1 ? Int64.min : -Int64(magnitude)
        }
        guard magnitude <= UInt64(Int64.max) else { return nil }
        return Int64(magnitude)
    }
}
