import Foundation

/// Redis's HyperLogLog, byte for byte: a string of a 16-byte header (`HYLL`, encoding,
/// three unused bytes, the cached cardinality in little-endian order whose top bit marks it
/// stale) followed by either 16384 six-bit registers (dense, 12288 bytes) or a run-length
/// sparse encoding:
///
/// - `00xxxxxx`: xxxxxx+1 (1…64) zero registers (ZERO);
/// - `01xxxxxx yyyyyyyy`: the 14-bit number+1 (1…16384) zero registers (XZERO);
/// - `1vvvvvxx`: xx+1 (1…4) registers holding vvvvv+1 (1…32) (VAL).
///
/// Every change edits the sparse opcodes the way Redis does (split, then merge neighbours),
/// so a key written here has the bytes Redis would write, and DUMP/RESTORE or GET/SET move
/// it between the two servers.
package enum HyperLogLog {
    package static let precision = 14
    package static let registerCount = 1 << precision
    package static let headerSize = 16
    package static let denseSize = headerSize + registerCount * 6 / 8
    /// Bits of the hash left after the register index.
    static let hashBits = 64 - precision
    static let sparseValueMax = 32
    static let sparseValueMaxRun = 4
    static let sparseZeroMaxRun = 64
    static let sparseLongZeroMaxRun = 16384
    static let encodingDense: UInt8 = 0
    static let encodingSparse: UInt8 = 1

    package enum Failure: Error { case corrupted }

    /// The bytes of an empty HyperLogLog: sparse, one XZERO covering every register.
    package static func empty() -> [UInt8] {
        var bytes = Array("HYLL".utf8) + [encodingSparse, 0, 0, 0] + [UInt8](repeating: 0, count: 8)
        let run = registerCount - 1
        bytes.append(0x40 | UInt8(run >> 8))
        bytes.append(UInt8(run & 0xFF))
        return bytes
    }

    /// Whether `bytes` is a HyperLogLog Redis would accept (magic, encoding, dense length).
    package static func isValid(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard bytes.count >= headerSize, bytes[0] == 0x48, bytes[1] == 0x59, bytes[2] == 0x4C, bytes[3] == 0x4C else {
            return false
        }
        guard bytes[4] <= encodingSparse else { return false }
        return bytes[4] != encodingDense || bytes.count == denseSize
    }

    package static func isDense(_ bytes: [UInt8]) -> Bool { bytes[4] == encodingDense }

    // MARK: Cached cardinality

    package static func invalidateCache(_ bytes: inout [UInt8]) {
        bytes[15] |= 0x80
    }

    package static func cachedCardinality(_ bytes: UnsafeRawBufferPointer) -> UInt64? {
        guard bytes[15] & 0x80 == 0 else { return nil }
        var value: UInt64 = 0
        for index in (8..<16).reversed() { value = value << 8 | UInt64(bytes[index]) }
        return value
    }

    package static func storeCachedCardinality(_ value: UInt64, in bytes: inout [UInt8]) {
        for index in 0..<8 { bytes[8 + index] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(index))) }
    }

    // MARK: Hashing

    /// MurmurHash64A with Redis's seed: the hash every HyperLogLog element goes through.
    package static func hash(_ element: UnsafeRawBufferPointer) -> UInt64 {
        let multiplier: UInt64 = 0xc6a4_a793_5bd1_e995
        let shift: UInt64 = 47
        var hash: UInt64 = 0xadc8_3b19 ^ (UInt64(element.count) &* multiplier)
        let whole = element.count & ~7
        var index = 0
        while index < whole {
            var k = element.loadUnaligned(fromByteOffset: index, as: UInt64.self).littleEndian
            k = k &* multiplier
            k ^= k >> shift
            k = k &* multiplier
            hash ^= k
            hash = hash &* multiplier
            index += 8
        }
        let rest = element.count & 7
        if rest > 0 {
            for position in (0..<rest).reversed() {
                hash ^= UInt64(element[whole + position]) << (8 * UInt64(position))
            }
            hash = hash &* multiplier
        }
        hash ^= hash >> shift
        hash = hash &* multiplier
        hash ^= hash >> shift
        return hash
    }

    /// The register an element lands in and the run length of zeros (plus one) it shows.
    package static func registerAndRank(_ element: UnsafeRawBufferPointer) -> (Int, UInt8) {
        let hash = self.hash(element)
        let register = Int(hash & UInt64(registerCount - 1))
        // A sentinel bit bounds the rank at hashBits + 1.
        let rest = (hash >> UInt64(precision)) | (1 << UInt64(hashBits))
        return (register, UInt8(rest.trailingZeroBitCount + 1))
    }

    // MARK: Dense registers

    @inline(__always)
    static func denseRegister(_ registers: UnsafeRawBufferPointer, _ index: Int) -> UInt8 {
        let bit = index * 6
        let byte = bit >> 3
        let shift = UInt8(bit & 7)
        var value = registers[byte] >> shift
        if shift > 2 { value |= registers[byte + 1] << (8 - shift) }
        return value & 63
    }

    @inline(__always)
    static func setDenseRegister(_ registers: UnsafeMutableRawBufferPointer, _ index: Int, _ value: UInt8) {
        let bit = index * 6
        let byte = bit >> 3
        let shift = UInt8(bit & 7)
        registers[byte] = registers[byte] & ~(63 << shift) | (value << shift)
        if shift > 2 {
            registers[byte + 1] = registers[byte + 1] & ~(63 >> (8 - shift)) | (value >> (8 - shift))
        }
    }

    // MARK: Adding

    /// Adds an element; returns whether a register changed.
    package static func add(_ element: UnsafeRawBufferPointer, to bytes: inout [UInt8], sparseLimit: Int)
        throws(Failure) -> Bool
    {
        let (register, rank) = self.registerAndRank(element)
        return try self.set(register: register, to: rank, in: &bytes, sparseLimit: sparseLimit)
    }

    /// Raises `register` to `value` if it is lower; returns whether it changed.
    package static func set(register: Int, to value: UInt8, in bytes: inout [UInt8], sparseLimit: Int) throws(Failure)
        -> Bool
    {
        if bytes[4] == encodingDense {
            return bytes.withUnsafeMutableBytes { whole in
                let registers = UnsafeMutableRawBufferPointer(rebasing: whole[headerSize...])
                guard denseRegister(UnsafeRawBufferPointer(registers), register) < value else { return false }
                setDenseRegister(registers, register, value)
                return true
            }
        }
        return try self.setSparse(register: register, to: value, in: &bytes, sparseLimit: sparseLimit)
    }

    private static func sparseRun(_ byte: UInt8, _ next: UInt8) -> (run: Int, length: Int, value: UInt8) {
        if byte & 0xC0 == 0 { return (Int(byte & 0x3F) + 1, 1, 0) }
        if byte & 0xC0 == 0x40 { return ((Int(byte & 0x3F) << 8 | Int(next)) + 1, 2, 0) }
        return (Int(byte & 0x03) + 1, 1, (byte >> 2 & 0x1F) + 1)
    }

    private static func appendZeros(_ count: Int, to sequence: inout [UInt8]) {
        if count > sparseZeroMaxRun {
            sequence.append(0x40 | UInt8((count - 1) >> 8))
            sequence.append(UInt8((count - 1) & 0xFF))
        } else {
            sequence.append(UInt8(count - 1))
        }
    }

    @inline(__always)
    private static func valueOpcode(_ value: UInt8, run: Int) -> UInt8 {
        0x80 | (value - 1) << 2 | UInt8(run - 1)
    }

    private static func setSparse(register: Int, to value: UInt8, in bytes: inout [UInt8], sparseLimit: Int)
        throws(Failure) -> Bool
    {
        if value > UInt8(sparseValueMax) {
            try self.convertToDense(&bytes)
            return try self.set(register: register, to: value, in: &bytes, sparseLimit: sparseLimit)
        }
        // Find the opcode covering the register.
        let end = bytes.count
        var position = headerSize
        var first = 0
        var previous: Int?
        var found: (run: Int, length: Int, value: UInt8)?
        while position < end {
            let opcode = sparseRun(bytes[position], position + 1 < end ? bytes[position + 1] : 0)
            if register <= first + opcode.run - 1 {
                found = opcode
                break
            }
            previous = position
            position += opcode.length
            first += opcode.run
        }
        guard let opcode = found else { throw .corrupted }
        let isValue = opcode.value > 0
        if isValue {
            if opcode.value >= value { return false }
            if opcode.run == 1 {
                bytes[position] = valueOpcode(value, run: 1)
                self.mergeValues(&bytes, from: previous ?? headerSize)
                return true
            }
        }
        if !isValue && opcode.length == 1 && opcode.run == 1 {
            bytes[position] = valueOpcode(value, run: 1)
            self.mergeValues(&bytes, from: previous ?? headerSize)
            return true
        }
        // Split the opcode into (before, our register, after).
        let last = first + opcode.run - 1
        var sequence: [UInt8] = []
        sequence.reserveCapacity(5)
        if isValue {
            if register != first { sequence.append(valueOpcode(opcode.value, run: register - first)) }
            sequence.append(valueOpcode(value, run: 1))
            if register != last { sequence.append(valueOpcode(opcode.value, run: last - register)) }
        } else {
            if register != first { appendZeros(register - first, to: &sequence) }
            sequence.append(valueOpcode(value, run: 1))
            if register != last { appendZeros(last - register, to: &sequence) }
        }
        let growth = sequence.count - opcode.length
        if growth > 0 && bytes.count + growth > sparseLimit {
            try self.convertToDense(&bytes)
            return try self.set(register: register, to: value, in: &bytes, sparseLimit: sparseLimit)
        }
        bytes.replaceSubrange(position..<(position + opcode.length), with: sequence)
        self.mergeValues(&bytes, from: previous ?? headerSize)
        return true
    }

    /// Merges adjacent VAL opcodes of the same value (up to the longest run), looking at
    /// most five opcodes from `start`, as Redis does after each change.
    private static func mergeValues(_ bytes: inout [UInt8], from start: Int) {
        var position = start
        var budget = 5
        while position < bytes.count && budget > 0 {
            budget -= 1
            let byte = bytes[position]
            if byte & 0xC0 == 0x40 {
                position += 2
                continue
            }
            if byte & 0xC0 == 0 {
                position += 1
                continue
            }
            if position + 1 < bytes.count, bytes[position + 1] & 0x80 != 0 {
                let left = sparseRun(byte, 0)
                let right = sparseRun(bytes[position + 1], 0)
                if left.value == right.value && left.run + right.run <= sparseValueMaxRun {
                    bytes[position + 1] = valueOpcode(left.value, run: left.run + right.run)
                    bytes.remove(at: position)
                    continue
                }
            }
            position += 1
        }
    }

    /// Rewrites a sparse HyperLogLog as dense, keeping the header and its cached value.
    package static func convertToDense(_ bytes: inout [UInt8]) throws(Failure) {
        guard bytes[4] == encodingSparse else { return }
        var dense = [UInt8](repeating: 0, count: denseSize)
        for index in 0..<headerSize { dense[index] = bytes[index] }
        dense[4] = encodingDense
        let source = bytes
        let complete = dense.withUnsafeMutableBytes { whole in
            let registers = UnsafeMutableRawBufferPointer(rebasing: whole[headerSize...])
            return self.forEachSparseRun(source) { register, run, value in
                for index in register..<(register + run) { setDenseRegister(registers, index, value) }
            }
        }
        guard complete else { throw .corrupted }
        bytes = dense
    }

    /// Calls `body` with each run of the sparse encoding (first register, length, value);
    /// returns whether the runs covered exactly every register.
    @discardableResult
    private static func forEachSparseRun(_ bytes: [UInt8], _ body: (Int, Int, UInt8) -> Void) -> Bool {
        var position = headerSize
        var register = 0
        while position < bytes.count {
            let opcode = sparseRun(bytes[position], position + 1 < bytes.count ? bytes[position + 1] : 0)
            if opcode.value > 0 {
                if register + opcode.run > registerCount { return false }
                body(register, opcode.run, opcode.value)
            }
            register += opcode.run
            position += opcode.length
        }
        return register == registerCount
    }

    // MARK: Reading registers

    /// Raises each of `registers` (16384 bytes, one per register) to this HyperLogLog's
    /// value (PFCOUNT of several keys, PFMERGE).
    package static func merge(_ bytes: [UInt8], into registers: UnsafeMutableBufferPointer<UInt8>) throws(Failure) {
        if bytes[4] == encodingDense {
            bytes.withUnsafeBytes { whole in
                let dense = UnsafeRawBufferPointer(rebasing: whole[headerSize...])
                for index in 0..<registerCount {
                    let value = denseRegister(dense, index)
                    if value > registers[index] { registers[index] = value }
                }
            }
            return
        }
        let complete = self.forEachSparseRun(bytes) { register, run, value in
            for index in register..<(register + run) where value > registers[index] { registers[index] = value }
        }
        guard complete else { throw .corrupted }
    }

    /// Every register's value, one byte each.
    package static func registers(_ bytes: [UInt8]) throws(Failure) -> [UInt8] {
        var registers = [UInt8](repeating: 0, count: registerCount)
        let complete = registers.withUnsafeMutableBufferPointer { buffer in
            (try? self.merge(bytes, into: buffer)) != nil
        }
        guard complete else { throw .corrupted }
        return registers
    }

    // MARK: Estimating

    /// The cardinality estimate of a HyperLogLog's bytes.
    package static func count(_ bytes: [UInt8]) throws(Failure) -> UInt64 {
        var histogram = [Int](repeating: 0, count: 64)
        if bytes[4] == encodingDense {
            bytes.withUnsafeBytes { whole in
                let dense = UnsafeRawBufferPointer(rebasing: whole[headerSize...])
                for index in 0..<registerCount { histogram[Int(denseRegister(dense, index))] += 1 }
            }
        } else {
            var covered = 0
            var position = headerSize
            while position < bytes.count {
                let opcode = sparseRun(bytes[position], position + 1 < bytes.count ? bytes[position + 1] : 0)
                histogram[Int(opcode.value)] += opcode.run
                covered += opcode.run
                position += opcode.length
            }
            guard covered == registerCount else { throw .corrupted }
        }
        return self.estimate(histogram)
    }

    /// The estimate of one-byte-per-register values.
    package static func count(registers: UnsafeBufferPointer<UInt8>) -> UInt64 {
        var histogram = [Int](repeating: 0, count: 64)
        for value in registers { histogram[Int(value & 63)] += 1 }
        return self.estimate(histogram)
    }

    /// Otmar Ertl's improved estimator ("New cardinality estimation algorithms for
    /// HyperLogLog sketches", 2017) over the register histogram, as Redis computes it.
    static func estimate(_ histogram: [Int]) -> UInt64 {
        let m = Double(registerCount)
        var z = m * tau((m - Double(histogram[hashBits + 1])) / m)
        for rank in stride(from: hashBits, through: 1, by: -1) {
            z += Double(histogram[rank])
            z *= 0.5
        }
        z += m * sigma(Double(histogram[0]) / m)
        let alphaInfinity = 0.721347520444481703680  // 0.5 / ln(2)
        return UInt64((alphaInfinity * m * m / z).rounded(.toNearestOrAwayFromZero))
    }

    static func sigma(_ x: Double) -> Double {
        if x == 1 { return .infinity }
        var x = x
        var y = 1.0
        var z = x
        var previous: Double
        repeat {
            x *= x
            previous = z
            z += x * y
            y += y
        } while previous != z
        return z
    }

    static func tau(_ x: Double) -> Double {
        if x == 0 || x == 1 { return 0 }
        var x = x
        var y = 1.0
        var z = 1 - x
        var previous: Double
        repeat {
            x = x.squareRoot()
            previous = z
            y *= 0.5
            z -= (1 - x) * (1 - x) * y
        } while previous != z
        return z / 3
    }

    // MARK: Inspecting

    /// PFDEBUG DECODE's text for a sparse HyperLogLog.
    package static func describeSparse(_ bytes: [UInt8]) -> String {
        var parts: [String] = []
        var position = headerSize
        while position < bytes.count {
            let byte = bytes[position]
            let opcode = sparseRun(byte, position + 1 < bytes.count ? bytes[position + 1] : 0)
            if opcode.value > 0 {
                parts.append("v:\(opcode.value),\(opcode.run)")
            } else if opcode.length == 2 {
                parts.append("Z:\(opcode.run)")
            } else {
                parts.append("z:\(opcode.run)")
            }
            position += opcode.length
        }
        return parts.joined(separator: " ")
    }
}
