import WharfProtocol

/// A run of consecutive stream entries in one buffer (Redis's listpack node of the radix
/// tree). The first entry's field names are the chunk's *master fields*; an entry with the
/// same names stores only its values. Each entry is
///
/// ```
/// flags: UInt8 (1 = deleted, 2 = own field names) | ms - firstID.ms: varint | seq: varint
/// | [field count: varint, (length: varint, name)*]   only with own field names
/// | (length: varint, value)*
/// ```
///
/// A deleted entry keeps its bytes until the whole chunk goes; chunks are shared
/// copy-on-write between a stream and its snapshot or copy.
package final class StreamChunk {
    package let firstID: StreamID
    package private(set) var lastID: StreamID
    package private(set) var fieldNames: [[UInt8]]
    package private(set) var bytes: [UInt8]
    /// Entries in the chunk, deleted ones included.
    package private(set) var count: Int
    /// Entries not deleted.
    package private(set) var live: Int

    static let deletedFlag: UInt8 = 1
    static let ownFieldsFlag: UInt8 = 2

    init(firstID: StreamID, lastID: StreamID, fieldNames: [[UInt8]], bytes: [UInt8], count: Int, live: Int) {
        self.firstID = firstID
        self.lastID = lastID
        self.fieldNames = fieldNames
        self.bytes = bytes
        self.count = count
        self.live = live
    }

    /// A new chunk whose master fields are `fields`' names.
    convenience init(firstID: StreamID, masterFields: [[UInt8]], capacity: Int) {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(capacity)
        self.init(firstID: firstID, lastID: firstID, fieldNames: masterFields, bytes: bytes, count: 0, live: 0)
    }

    func copy() -> StreamChunk {
        StreamChunk(
            firstID: self.firstID, lastID: self.lastID, fieldNames: self.fieldNames, bytes: self.bytes,
            count: self.count, live: self.live)
    }

    /// Releases spare capacity once the chunk is full.
    func shrink() {
        if self.bytes.capacity > self.bytes.count + 16 {
            self.bytes = Array(unsafeUninitializedCapacity: self.bytes.count) { buffer, initialized in
                _ = buffer.initialize(from: self.bytes)
                initialized = self.bytes.count
            }
        }
    }

    // MARK: Appending

    /// The bytes an entry of `pairs` would take here (to decide whether it fits).
    func encodedSize(id: StreamID, pairs: FieldValuePairs) -> Int {
        var size = 21  // flags and two varints at most
        if !self.sharesFields(pairs) {
            size += 5
            for index in 0..<pairs.count { size += Packed.encodedLength(pairs.field(index).count) }
        }
        for index in 0..<pairs.count { size += Packed.encodedLength(pairs.value(index).count) }
        return size
    }

    private func sharesFields(_ pairs: FieldValuePairs) -> Bool {
        guard pairs.count == self.fieldNames.count else { return false }
        for index in 0..<pairs.count
        where !self.fieldNames[index].withUnsafeBytes({ $0.elementsEqual(pairs.field(index)) }) {
            return false
        }
        return true
    }

    func append(id: StreamID, pairs: FieldValuePairs) {
        let own = !self.sharesFields(pairs)
        self.bytes.append(own ? Self.ownFieldsFlag : 0)
        Self.appendVarint(&self.bytes, id.ms - self.firstID.ms)
        Self.appendVarint(&self.bytes, id.seq)
        if own {
            Self.appendVarint(&self.bytes, UInt64(pairs.count))
            for index in 0..<pairs.count { Self.appendItem(&self.bytes, pairs.field(index)) }
        }
        for index in 0..<pairs.count { Self.appendItem(&self.bytes, pairs.value(index)) }
        self.lastID = id
        self.count += 1
        self.live += 1
    }

    private static func appendVarint(_ bytes: inout [UInt8], _ value: UInt64) {
        var remaining = value
        while remaining >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: remaining) | 0x80)
            remaining >>= 7
        }
        bytes.append(UInt8(remaining))
    }

    private static func appendItem(_ bytes: inout [UInt8], _ item: UnsafeRawBufferPointer) {
        appendVarint(&bytes, UInt64(item.count))
        bytes.append(contentsOf: item)
    }

    // MARK: Reading

    /// One entry's position and header.
    package struct Cursor {
        package var offset: Int
        package var id: StreamID
        package var deleted: Bool
        /// Where the entry's field names (own) or values (shared) begin.
        var body: Int
        var ownFields: Bool
        /// The offset of the next entry.
        var next: Int
    }

    @inline(__always)
    private static func readVarint(_ bytes: UnsafeRawBufferPointer, _ position: inout Int) -> UInt64 {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            let byte = bytes[position]
            position += 1
            value |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return value }
            shift += 7
        }
    }

    /// The entry starting at `offset`.
    func cursor(at offset: Int) -> Cursor {
        self.bytes.withUnsafeBytes { bytes in
            var position = offset
            let flags = bytes[position]
            position += 1
            let ms = self.firstID.ms + Self.readVarint(bytes, &position)
            let seq = Self.readVarint(bytes, &position)
            let body = position
            let own = flags & Self.ownFieldsFlag != 0
            var fieldCount = self.fieldNames.count
            if own {
                fieldCount = Int(Self.readVarint(bytes, &position))
                for _ in 0..<fieldCount { position += Int(Self.readVarint(bytes, &position)) }
            }
            for _ in 0..<fieldCount { position += Int(Self.readVarint(bytes, &position)) }
            return Cursor(
                offset: offset, id: StreamID(ms: ms, seq: seq), deleted: flags & Self.deletedFlag != 0, body: body,
                ownFields: own, next: position)
        }
    }

    /// Calls `body` with every entry, in order, deleted ones included, until it returns false.
    func forEach(_ body: (Cursor) -> Bool) {
        var offset = 0
        while offset < self.bytes.count {
            let cursor = self.cursor(at: offset)
            if !body(cursor) { return }
            offset = cursor.next
        }
    }

    /// The entry with `id`, if the chunk holds it (deleted or not).
    func find(_ id: StreamID) -> Cursor? {
        guard id >= self.firstID, id <= self.lastID else { return nil }
        var found: Cursor?
        self.forEach { cursor in
            if cursor.id == id { found = cursor }
            return cursor.id < id
        }
        return found
    }

    /// Number of field-value pairs of the entry at `cursor`.
    func pairCount(_ cursor: Cursor) -> Int {
        guard cursor.ownFields else { return self.fieldNames.count }
        return self.bytes.withUnsafeBytes { bytes in
            var position = cursor.body
            return Int(Self.readVarint(bytes, &position))
        }
    }

    /// Calls `body` with each field and value of the entry at `cursor`.
    func forEachPair(_ cursor: Cursor, _ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) -> Void) {
        self.bytes.withUnsafeBytes { bytes in
            var position = cursor.body
            if cursor.ownFields {
                let count = Int(Self.readVarint(bytes, &position))
                var fieldPosition = position
                for _ in 0..<count { position += Int(Self.readVarint(bytes, &position)) }
                for _ in 0..<count {
                    let fieldLength = Int(Self.readVarint(bytes, &fieldPosition))
                    let field = UnsafeRawBufferPointer(rebasing: bytes[fieldPosition..<fieldPosition + fieldLength])
                    fieldPosition += fieldLength
                    let valueLength = Int(Self.readVarint(bytes, &position))
                    body(field, UnsafeRawBufferPointer(rebasing: bytes[position..<position + valueLength]))
                    position += valueLength
                }
            } else {
                for name in self.fieldNames {
                    let valueLength = Int(Self.readVarint(bytes, &position))
                    let value = UnsafeRawBufferPointer(rebasing: bytes[position..<position + valueLength])
                    position += valueLength
                    name.withUnsafeBytes { body($0, value) }
                }
            }
        }
    }

    // MARK: Deleting

    /// Marks the entry at `cursor` deleted. Returns false if it already was.
    func markDeleted(_ cursor: Cursor) -> Bool {
        guard self.bytes[cursor.offset] & Self.deletedFlag == 0 else { return false }
        self.bytes[cursor.offset] |= Self.deletedFlag
        self.live -= 1
        return true
    }
}

/// The field-value pairs of an XADD, as argument slices.
package struct FieldValuePairs {
    let arguments: CommandArguments
    let start: Int
    package let count: Int

    init(_ arguments: CommandArguments, from start: Int) {
        self.arguments = arguments
        self.start = start
        self.count = (arguments.count - start) / 2
    }

    @inline(__always) func field(_ index: Int) -> UnsafeRawBufferPointer { self.arguments[self.start + 2 * index] }
    @inline(__always) func value(_ index: Int) -> UnsafeRawBufferPointer { self.arguments[self.start + 2 * index + 1] }
}
