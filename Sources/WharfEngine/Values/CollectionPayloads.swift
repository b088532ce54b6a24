package import DequeModule
package import WharfStorage

/// A list past the packed threshold: a deque of compact elements (Redis's `quicklist`).
package final class ListPayload: EntryPayload, SnapshotEncodable {
    // Unchecked: a payload is changed only under its key's shard lock.
    @exclusivity(unchecked) package var items: Deque<CompactBytes>

    package init(items: Deque<CompactBytes>) {
        self.items = items
    }

    /// The elements of a packed list.
    package convenience init(packed bytes: UnsafeRawBufferPointer) {
        var items = Deque<CompactBytes>()
        items.reserveCapacity(Packed.count(bytes))
        Packed.forEachListItem(bytes) { item in
            items.append(CompactBytes(item))
            return true
        }
        self.init(items: items)
    }

    override package func copy() -> EntryPayload { ListPayload(items: self.items) }

    package static var snapshotTag: UInt8 { 16 }
    package static var entryKind: ValueKind { .list }

    package func encode(into writer: SnapshotWriter) {
        writer.writeLength(self.items.count)
        for item in self.items { item.withBytes { writer.writeBytes($0) } }
    }

    package static func decode(from reader: SnapshotReader) throws -> EntryPayload {
        let count = try reader.readLength()
        var items = Deque<CompactBytes>()
        items.reserveCapacity(count)
        for _ in 0..<count { items.append(CompactBytes(try reader.readBytes())) }
        return ListPayload(items: items)
    }
}

/// A hash past the packed thresholds: field records in an open table (`hashtable`).
package final class HashPayload: EntryPayload, SnapshotEncodable {
    // Unchecked: a payload is changed only under its key's shard lock.
    @exclusivity(unchecked) package var fields: RecordTable

    package init(fields: RecordTable) {
        self.fields = fields
    }

    package convenience init(packed bytes: UnsafeRawBufferPointer) {
        var fields = RecordTable()
        Packed.forEachPair(bytes) { field, value in
            fields.set(Record.make(key: field, value: value))
            return true
        }
        self.init(fields: fields)
    }

    override package func copy() -> EntryPayload { HashPayload(fields: self.fields.copied()) }

    package static var snapshotTag: UInt8 { 17 }
    package static var entryKind: ValueKind { .hash }

    package func encode(into writer: SnapshotWriter) {
        writer.writeLength(self.fields.count)
        self.fields.forEachEntry { record in
            writer.writeBytes(record.key)
            writer.writeBytes(record.value)
        }
    }

    package static func decode(from reader: SnapshotReader) throws -> EntryPayload {
        let count = try reader.readLength()
        var fields = RecordTable()
        for _ in 0..<count {
            let field = Array(try reader.readBytes())
            let value = try reader.readBytes()
            _ = field.withUnsafeBytes { fields.set(Record.make(key: $0, value: value)) }
        }
        return HashPayload(fields: fields)
    }
}

/// A set past the intset thresholds: member records in an open table (`hashtable`).
package final class SetPayload: EntryPayload, SnapshotEncodable {
    // Unchecked: a payload is changed only under its key's shard lock.
    @exclusivity(unchecked) package var members: RecordTable

    package init(members: RecordTable) {
        self.members = members
    }

    package convenience init(intset bytes: UnsafeRawBufferPointer) {
        var members = RecordTable()
        for index in 0..<Packed.intsetCount(bytes) {
            let text = DecimalIntegerEngine.bytes(of: Packed.intsetValue(bytes, at: index))
            text.withUnsafeBytes { _ = members.set(Record.make(key: $0)) }
        }
        self.init(members: members)
    }

    override package func copy() -> EntryPayload { SetPayload(members: self.members.copied()) }

    package static var snapshotTag: UInt8 { 18 }
    package static var entryKind: ValueKind { .set }

    package func encode(into writer: SnapshotWriter) {
        writer.writeLength(self.members.count)
        self.members.forEachEntry { writer.writeBytes($0.key) }
    }

    package static func decode(from reader: SnapshotReader) throws -> EntryPayload {
        let count = try reader.readLength()
        var members = RecordTable()
        for _ in 0..<count { members.set(Record.make(key: try reader.readBytes())) }
        return SetPayload(members: members)
    }
}

/// A sorted set past the packed thresholds: member records (with their scores) in an open
/// table for lookups and in an ``OrderTree`` for order and rank.
package final class SortedSetPayload: EntryPayload, SnapshotEncodable {
    @exclusivity(unchecked) package var members: RecordTable
    // Unchecked: a payload is changed only under its key's shard lock.
    @exclusivity(unchecked) package var order: OrderTree

    package init(members: RecordTable, order: OrderTree) {
        self.members = members
        self.order = order
    }

    package convenience init(packed bytes: UnsafeRawBufferPointer) {
        self.init(members: RecordTable(), order: OrderTree())
        Packed.forEachScored(bytes) { score, member in
            let record = Record.make(key: member, score: score)
            self.members.set(record)
            self.order.insert(record)
            return true
        }
    }

    override package func copy() -> EntryPayload {
        SortedSetPayload(members: self.members.copied(), order: self.order.copy())
    }

    /// Adds or rescores a member. Returns the previous score, if it was there.
    @discardableResult
    package func set(_ member: UnsafeRawBufferPointer, score: Double) -> Double? {
        if let old = self.members.record(member) {
            if old.score == score { return score }
            self.order.remove(old)
            let record = Record.make(key: member, score: score)
            self.members.set(record)
            self.order.insert(record)
            return old.score
        }
        let record = Record.make(key: member, score: score)
        self.members.set(record)
        self.order.insert(record)
        return nil
    }

    @discardableResult
    package func remove(_ member: UnsafeRawBufferPointer) -> Record? {
        guard let record = self.members.remove(member) else { return nil }
        self.order.remove(record)
        return record
    }

    package var count: Int { self.members.count }

    package static var snapshotTag: UInt8 { 19 }
    package static var entryKind: ValueKind { .sortedSet }

    package func encode(into writer: SnapshotWriter) {
        writer.writeLength(self.order.count)
        self.order.walk(from: 0) { record in
            writer.write(record.score.bitPattern)
            writer.writeBytes(record.key)
            return true
        }
    }

    package static func decode(from reader: SnapshotReader) throws -> EntryPayload {
        let count = try reader.readLength()
        let payload = SortedSetPayload(members: RecordTable(), order: OrderTree())
        for _ in 0..<count {
            let score = Double(bitPattern: try reader.read(UInt64.self))
            let record = Record.make(key: try reader.readBytes(), score: score)
            payload.members.set(record)
            payload.order.insert(record)
        }
        return payload
    }
}

/// Decimal text of integers, for intset members turned into strings.
enum DecimalIntegerEngine {
    static func bytes(of value: Int64) -> [UInt8] {
        Array(String(value).utf8)
    }
}
