/// The fixed part of a ``Record``.
package struct RecordHeader {
    var score: Double
    var keyLength: UInt32
    var valueLength: UInt32
}

/// A hash field with its value, a set member, or a sorted-set member with its score: one
/// allocation holding the bytes. Records are never changed once made (a new value is a new
/// record), so a copy of a collection can share them.
package final class Record: ManagedBuffer<RecordHeader, UInt8>, TableElement {
    package static func make(
        key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer = UnsafeRawBufferPointer(start: nil, count: 0),
        score: Double = 0
    ) -> Record {
        let record = unsafeDowncast(
            Record.create(minimumCapacity: key.count + value.count) { _ in
                RecordHeader(score: score, keyLength: UInt32(key.count), valueLength: UInt32(value.count))
            }, to: Record.self)
        record.withUnsafeMutablePointerToElements { elements in
            let raw = UnsafeMutableRawPointer(elements)
            if key.count > 0 { raw.copyMemory(from: key.baseAddress!, byteCount: key.count) }
            if value.count > 0 { (raw + key.count).copyMemory(from: value.baseAddress!, byteCount: value.count) }
        }
        return record
    }

    /// The fixed part, read through its pointer: `header` is a class stored property, and
    /// each access to it would pay a runtime exclusivity check (records never change).
    @inline(__always)
    var fixed: RecordHeader { self.withUnsafeMutablePointerToHeader { $0.pointee } }

    @inline(__always)
    package var key: UnsafeRawBufferPointer {
        self.withUnsafeMutablePointerToElements { UnsafeRawBufferPointer(start: $0, count: Int(self.fixed.keyLength)) }
    }

    @inline(__always)
    package var value: UnsafeRawBufferPointer {
        self.withUnsafeMutablePointerToElements {
            UnsafeRawBufferPointer(
                start: UnsafeRawPointer($0) + Int(self.fixed.keyLength), count: Int(self.fixed.valueLength))
        }
    }

    @inline(__always)
    package var score: Double { self.fixed.score }

    @inline(__always) package var tableKey: UnsafeRawBufferPointer { self.key }

    @inline(__always)
    package func tableKeyEquals(_ key: UnsafeRawBufferPointer) -> Bool {
        Int(self.fixed.keyLength) == key.count && self.key.equalsBytesShared(key)
    }

    /// Sorted-set order: by score, then by member bytes.
    @inline(__always)
    package func orders(before other: Record) -> Bool {
        if self.score != other.score { return self.score < other.score }
        return self.key.compareBytes(other.key) < 0
    }

    package func orders(before score: Double, member: UnsafeRawBufferPointer) -> Bool {
        if self.score != score { return self.score < score }
        return self.key.compareBytes(member) < 0
    }
}

/// A set of records keyed by their key bytes: a hash's fields, a set's members, a sorted
/// set's members.
package typealias RecordTable = OpenTable<Record>

extension OpenTable where Element == Record {
    package init() {
        self.init(hasher: .process)
    }

    /// The record for `key`, if present.
    @inline(__always)
    package func record(_ key: UnsafeRawBufferPointer) -> Record? {
        self.find(key, hash: self.hasher.hash(key)).map { self.element(at: $0) }
    }

    /// Adds or replaces the record with the same key. Returns the record replaced, if any.
    @discardableResult
    package mutating func set(_ record: Record) -> Record? {
        let hash = self.hasher.hash(record.key)
        if let slot = self.find(record.key, hash: hash) {
            let old = self.element(at: slot)
            self.replace(at: slot, with: record)
            return old
        }
        self.insert(record, hash: hash)
        return nil
    }

    /// Adds a record for `key` made by `make` unless one exists (nothing is allocated
    /// then). Returns whether it was added.
    @inline(__always)
    package mutating func insertIfAbsent(_ key: UnsafeRawBufferPointer, _ make: () -> Record) -> Bool {
        let hash = self.hasher.hash(key)
        if self.find(key, hash: hash) != nil { return false }
        self.insert(make(), hash: hash)
        return true
    }

    /// Removes the record for `key`; returns it.
    @discardableResult
    package mutating func remove(_ key: UnsafeRawBufferPointer) -> Record? {
        guard let slot = self.find(key, hash: self.hasher.hash(key)) else { return nil }
        return self.remove(at: slot)
    }

    /// Every record, in table order.
    package var records: [Record] {
        var all: [Record] = []
        all.reserveCapacity(self.count)
        self.forEachEntry { all.append($0) }
        return all
    }

    /// A copy that can change independently (records themselves are immutable and shared).
    package func copied() -> OpenTable<Record> {
        var copy = OpenTable<Record>(hasher: self.hasher, capacity: self.capacity)
        self.forEachEntry { copy.insert($0, hash: self.hasher.hash($0.key)) }
        return copy
    }
}
