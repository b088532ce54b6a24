/// The byte layouts of small collections packed into an entry (Wharf's listpack and
/// intset):
///
/// ```
/// list:        count: UInt32 | (length: varint, bytes)*
/// hash:        count: UInt32 | (length: varint, field, length: varint, value)*   in insertion order
/// sorted set:  count: UInt32 | (score: Float64, length: varint, member)*         by score, then member
/// intset:      Int64*                                                            ascending
/// ```
///
/// Readers walk the bytes in place; writers build the new layout in a ``PackedBuilder``.
package enum Packed {
    @inline(__always)
    static func count(_ bytes: UnsafeRawBufferPointer) -> Int {
        bytes.count < 4 ? 0 : Int(UInt32(littleEndian: bytes.loadUnaligned(as: UInt32.self)))
    }

    /// Reads a varint at `offset`; returns the value and the offset after it.
    @inline(__always)
    static func readLength(_ bytes: UnsafeRawBufferPointer, at offset: Int) -> (Int, Int) {
        var value = 0
        var shift = 0
        var position = offset
        while true {
            let byte = bytes[position]
            value |= Int(byte & 0x7F) << shift
            position += 1
            if byte & 0x80 == 0 { return (value, position) }
            shift += 7
        }
    }

    /// The item (length-prefixed bytes) at `offset` and the offset after it.
    @inline(__always)
    static func item(_ bytes: UnsafeRawBufferPointer, at offset: Int) -> (UnsafeRawBufferPointer, Int) {
        let (length, start) = Self.readLength(bytes, at: offset)
        return (
            UnsafeRawBufferPointer(start: bytes.baseAddress.unsafelyUnwrapped + start, count: length), start + length
        )
    }

    static func encodedLength(_ count: Int) -> Int {
        var size = 1
        var remaining = count >> 7
        while remaining > 0 {
            size += 1
            remaining >>= 7
        }
        return size + count
    }

    /// Calls `body` with each item of a packed list, in order.
    static func forEachListItem(_ bytes: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer) -> Bool) {
        var offset = 4
        for _ in 0..<Self.count(bytes) {
            let (item, next) = Self.item(bytes, at: offset)
            if !body(item) { return }
            offset = next
        }
    }

    /// Calls `body` with each field and value of a packed hash.
    static func forEachPair(
        _ bytes: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) -> Bool
    ) {
        var offset = 4
        for _ in 0..<Self.count(bytes) {
            let (field, afterField) = Self.item(bytes, at: offset)
            let (value, next) = Self.item(bytes, at: afterField)
            if !body(field, value) { return }
            offset = next
        }
    }

    /// Calls `body` with each score and member of a packed sorted set, in order.
    static func forEachScored(_ bytes: UnsafeRawBufferPointer, _ body: (Double, UnsafeRawBufferPointer) -> Bool) {
        var offset = 4
        for _ in 0..<Self.count(bytes) {
            let score = Double(
                bitPattern: UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self)))
            let (member, next) = Self.item(bytes, at: offset + 8)
            if !body(score, member) { return }
            offset = next
        }
    }

    static func intsetCount(_ bytes: UnsafeRawBufferPointer) -> Int { bytes.count / 8 }

    @inline(__always)
    static func intsetValue(_ bytes: UnsafeRawBufferPointer, at index: Int) -> Int64 {
        Int64(littleEndian: bytes.loadUnaligned(fromByteOffset: index * 8, as: Int64.self))
    }

    /// The index of `value` in an intset, or where it would go (negative: -(insertion) - 1).
    static func intsetSearch(_ bytes: UnsafeRawBufferPointer, _ value: Int64) -> Int {
        var low = 0
        var high = Self.intsetCount(bytes)
        while low < high {
            let middle = (low + high) / 2
            let candidate = Self.intsetValue(bytes, at: middle)
            if candidate == value { return middle }
            if candidate < value { low = middle + 1 } else { high = middle }
        }
        return -low - 1
    }
}

/// Builds packed bytes; reused by a thread so building costs no allocation once warm.
package struct PackedBuilder {
    package private(set) var bytes: [UInt8] = []

    package init(capacity: Int = 256) {
        self.bytes.reserveCapacity(capacity)
    }

    package mutating func reset() {
        self.bytes.removeAll(keepingCapacity: true)
    }

    /// Starts a counted layout (list, hash, sorted set).
    package mutating func startCounted() {
        self.reset()
        self.bytes.append(contentsOf: [0, 0, 0, 0])
    }

    package mutating func setCount(_ count: Int) {
        let value = UInt32(count).littleEndian
        withUnsafeBytes(of: value) { raw in
            for index in 0..<4 { self.bytes[index] = raw[index] }
        }
    }

    package mutating func appendLength(_ value: Int) {
        var remaining = value
        while remaining >= 0x80 {
            self.bytes.append(UInt8(truncatingIfNeeded: remaining) | 0x80)
            remaining >>= 7
        }
        self.bytes.append(UInt8(remaining))
    }

    package mutating func appendItem(_ item: UnsafeRawBufferPointer) {
        self.appendLength(item.count)
        self.bytes.append(contentsOf: item)
    }

    package mutating func appendScore(_ score: Double) {
        withUnsafeBytes(of: score.bitPattern.littleEndian) { self.bytes.append(contentsOf: $0) }
    }

    package mutating func appendInteger(_ value: Int64) {
        withUnsafeBytes(of: value.littleEndian) { self.bytes.append(contentsOf: $0) }
    }

    package mutating func appendRaw(_ raw: UnsafeRawBufferPointer) {
        self.bytes.append(contentsOf: raw)
    }
}
