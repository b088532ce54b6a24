/// Bit-level reads and writes on string bytes, in Redis's bit order: bit 0 is the most
/// significant bit of byte 0. Counting and searching go a 64-bit word at a time.
package enum BitOperations {
    /// The number of set bits in `bytes`.
    package static func popcount(_ bytes: UnsafeRawBufferPointer) -> Int {
        guard let base = bytes.baseAddress else { return 0 }
        var count = 0
        var index = 0
        let total = bytes.count
        // Four words per step keeps several popcnt instructions in flight.
        while index + 32 <= total {
            count += base.loadUnaligned(fromByteOffset: index, as: UInt64.self).nonzeroBitCount
            count += base.loadUnaligned(fromByteOffset: index + 8, as: UInt64.self).nonzeroBitCount
            count += base.loadUnaligned(fromByteOffset: index + 16, as: UInt64.self).nonzeroBitCount
            count += base.loadUnaligned(fromByteOffset: index + 24, as: UInt64.self).nonzeroBitCount
            index += 32
        }
        while index + 8 <= total {
            count += base.loadUnaligned(fromByteOffset: index, as: UInt64.self).nonzeroBitCount
            index += 8
        }
        while index < total {
            count += base.load(fromByteOffset: index, as: UInt8.self).nonzeroBitCount
            index += 1
        }
        return count
    }

    /// The number of set bits between bit positions `first` and `last`, both included.
    package static func popcount(_ bytes: UnsafeRawBufferPointer, bits first: Int, through last: Int) -> Int {
        guard first <= last else { return 0 }
        let firstByte = first >> 3
        let lastByte = last >> 3
        // Whole bytes, then take off the bits of the end bytes outside the range.
        var count = self.popcount(UnsafeRawBufferPointer(rebasing: bytes[firstByte...lastByte]))
        let leading = bytes[firstByte] & ~(UInt8(0xFF) >> (first & 7))
        let trailing = bytes[lastByte] & (UInt8(0xFF) >> ((last & 7) + 1))
        count -= leading.nonzeroBitCount + trailing.nonzeroBitCount
        return count
    }

    /// The position of the first bit equal to `bit` between bit positions `first` and
    /// `last` (both included), or nil.
    package static func firstBit(_ bit: Bool, in bytes: UnsafeRawBufferPointer, bits first: Int, through last: Int)
        -> Int?
    {
        guard first <= last, let base = bytes.baseAddress else { return nil }
        var position = first
        // Bit by bit up to a byte boundary, then a word at a time, then bit by bit.
        while position <= last && position & 7 != 0 {
            if self.bit(at: position, in: bytes) == bit { return position }
            position += 1
        }
        let skip: UInt64 = bit ? 0 : ~0
        while position + 64 <= last + 1 {
            let word = base.loadUnaligned(fromByteOffset: position >> 3, as: UInt64.self)
            if word != skip {
                // Bytes in memory order are the bits in order: byte-swap to find the first.
                let ordered = UInt64(bigEndian: word)
                let found = bit ? ordered.leadingZeroBitCount : (~ordered).leadingZeroBitCount
                return position + found
            }
            position += 64
        }
        while position <= last {
            if self.bit(at: position, in: bytes) == bit { return position }
            position += 1
        }
        return nil
    }

    @inline(__always)
    package static func bit(at position: Int, in bytes: UnsafeRawBufferPointer) -> Bool {
        bytes[position >> 3] & (0x80 >> UInt8(position & 7)) != 0
    }

    /// Reads `width` (1…64) bits from bit `offset` as an unsigned number; bits past the end
    /// of `bytes` read as zero.
    package static func read(_ bytes: UnsafeRawBufferPointer, offset: Int, width: Int) -> UInt64 {
        var value: UInt64 = 0
        for position in offset..<(offset + width) {
            let byte = position >> 3
            let set = byte < bytes.count && bytes[byte] & (0x80 >> UInt8(position & 7)) != 0
            value = (value << 1) | (set ? 1 : 0)
        }
        return value
    }

    /// Writes the low `width` bits of `value` at bit `offset`; `bytes` must be long enough.
    package static func write(_ value: UInt64, to bytes: UnsafeMutableRawBufferPointer, offset: Int, width: Int) {
        for index in 0..<width {
            let position = offset + index
            let mask = UInt8(0x80) >> UInt8(position & 7)
            if value >> UInt64(width - 1 - index) & 1 != 0 {
                bytes[position >> 3] |= mask
            } else {
                bytes[position >> 3] &= ~mask
            }
        }
    }
}

/// A BITFIELD integer type: `i1`…`i64` or `u1`…`u63`.
package struct BitFieldType: Sendable, Hashable {
    package let signed: Bool
    package let width: Int

    /// Parses `i8`, `u16` …; nil for anything Redis refuses.
    package init?(_ text: UnsafeRawBufferPointer) {
        guard text.count >= 2, let width = DecimalDigits.parse(UnsafeRawBufferPointer(rebasing: text[1...])) else {
            return nil
        }
        switch text[0] | 0x20 {
        case UInt8(ascii: "i"): self.signed = true
        case UInt8(ascii: "u"): self.signed = false
        default: return nil
        }
        guard width >= 1, width <= (self.signed ? 64 : 63) else { return nil }
        self.width = width
    }

    package init(signed: Bool, width: Int) {
        self.signed = signed
        self.width = width
    }

    package var minimum: Int64 { self.signed ? (self.width == 64 ? .min : -(1 << (self.width - 1))) : 0 }
    package var maximum: Int64 {
        self.signed
            ? (self.width == 64 ? .max : (1 << (self.width - 1)) - 1) : Int64(bitPattern: (1 << UInt64(self.width)) - 1)
    }

    /// The stored bits as a number of this type (sign-extended for signed types).
    package func value(ofBits bits: UInt64) -> Int64 {
        guard self.signed, self.width < 64 else { return Int64(bitPattern: bits) }
        let shift = UInt64(64 - self.width)
        return Int64(bitPattern: bits << shift) >> Int64(shift)
    }

    /// The low `width` bits of `value`.
    package func bits(of value: Int64) -> UInt64 {
        self.width == 64 ? UInt64(bitPattern: value) : UInt64(bitPattern: value) & ((1 << UInt64(self.width)) - 1)
    }
}

/// What BITFIELD does when a SET or INCRBY goes past its type's range.
///
/// The range checks are Redis's own conditions, including where its 64-bit arithmetic
/// wraps: a SET of a large negative number into a narrow signed field counts as an
/// overflow upwards there (SAT stores the maximum), and results must match byte for byte.
package enum BitFieldOverflow: Sendable {
    case wrap, saturate, fail

    /// `current + increment` within the type (INCRBY), or nil when FAIL refuses it.
    package func add(_ current: Int64, _ increment: Int64, type: BitFieldType) -> Int64? {
        type.signed
            ? self.signed(current, increment, type) : self.unsigned(UInt64(bitPattern: current), increment, type)
    }

    /// `value` stored into the type (SET), or nil when FAIL refuses it. An unsigned type
    /// takes the value's 64 bits as unsigned (`-1` saturates to the maximum).
    package func fit(_ value: Int64, type: BitFieldType) -> Int64? {
        type.signed ? self.signed(value, 0, type) : self.unsigned(UInt64(bitPattern: value), 0, type)
    }

    private enum Direction { case none, above, below }

    private func signed(_ value: Int64, _ increment: Int64, _ type: BitFieldType) -> Int64? {
        let maximum = type.maximum
        let minimum = type.minimum
        let maximumIncrement = Int64(bitPattern: UInt64(bitPattern: maximum) &- UInt64(bitPattern: value))
        let minimumIncrement = minimum &- value
        let narrow = type.width != 64
        var direction = Direction.none
        if value > maximum || (narrow && increment > maximumIncrement)
            || (value >= 0 && increment > 0 && increment > maximumIncrement)
        {
            direction = .above
        } else if value < minimum || (narrow && increment < minimumIncrement)
            || (value < 0 && increment < 0 && increment < minimumIncrement)
        {
            direction = .below
        }
        if direction == .none { return value &+ increment }
        switch self {
        case .fail: return nil
        case .saturate: return direction == .above ? maximum : minimum
        case .wrap: return type.value(ofBits: type.bits(of: value &+ increment))
        }
    }

    private func unsigned(_ value: UInt64, _ increment: Int64, _ type: BitFieldType) -> Int64? {
        let maximum = UInt64(bitPattern: type.maximum)
        let maximumIncrement = Int64(bitPattern: maximum &- value)
        let minimumIncrement = Int64(bitPattern: 0 &- value)
        var direction = Direction.none
        if value > maximum || (increment > 0 && increment > maximumIncrement) {
            direction = .above
        } else if increment < 0 && increment < minimumIncrement {
            direction = .below
        }
        if direction == .none { return Int64(bitPattern: value &+ UInt64(bitPattern: increment)) }
        switch self {
        case .fail: return nil
        case .saturate: return direction == .above ? Int64(bitPattern: maximum) : 0
        case .wrap: return Int64(bitPattern: (value &+ UInt64(bitPattern: increment)) & maximum)
        }
    }
}

/// Non-negative decimal numbers without a sign (BITFIELD widths and `#` offsets).
enum DecimalDigits {
    static func parse(_ bytes: UnsafeRawBufferPointer) -> Int? {
        guard !bytes.isEmpty, bytes.count <= 18 else { return nil }
        var value = 0
        for byte in bytes {
            guard byte >= 0x30, byte <= 0x39 else { return nil }
            value = value * 10 + Int(byte - 0x30)
        }
        return value
    }
}
