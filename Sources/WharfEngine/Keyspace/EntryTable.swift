/// Something an ``OpenTable`` can hold: an object that carries its own key.
package protocol TableElement: AnyObject {
    /// The key bytes, valid while the object is alive.
    var tableKey: UnsafeRawBufferPointer { get }
    func tableKeyEquals(_ key: UnsafeRawBufferPointer) -> Bool
}

extension Entry: TableElement {
    @inline(__always) package var tableKey: UnsafeRawBufferPointer { self.key }
    @inline(__always) package func tableKeyEquals(_ key: UnsafeRawBufferPointer) -> Bool { self.keyEquals(key) }
}

/// The keyspace's table of entries.
package typealias EntryTable = OpenTable<Entry>
package typealias EntryTableStorage = OpenTableStorage<Entry>

/// The slots of an open table: one tag byte and one element reference per slot.
package final class OpenTableStorage<Element: TableElement> {
    package let capacity: Int
    // Unchecked: a table's storage is changed only under its shard's lock (see Shard).
    @exclusivity(unchecked) var count: Int
    /// 0 for an empty slot, otherwise 0x80 | the top seven bits of the key's hash, so most
    /// probes that cannot match are rejected without touching the entry.
    let tags: UnsafeMutablePointer<UInt8>
    let slots: UnsafeMutablePointer<Element?>

    init(capacity: Int) {
        precondition(capacity > 0 && capacity & (capacity - 1) == 0)
        self.capacity = capacity
        self.count = 0
        self.tags = .allocate(capacity: capacity)
        self.tags.initialize(repeating: 0, count: capacity)
        self.slots = .allocate(capacity: capacity)
        self.slots.initialize(repeating: nil, count: capacity)
    }

    deinit {
        self.slots.deinitialize(count: self.capacity)
        self.slots.deallocate()
        self.tags.deallocate()
    }

    /// A copy sharing every entry (each retained once more).
    func copy() -> OpenTableStorage<Element> {
        let copy = OpenTableStorage<Element>(capacity: self.capacity)
        copy.count = self.count
        copy.tags.update(from: self.tags, count: self.capacity)
        copy.slots.update(from: self.slots, count: self.capacity)
        return copy
    }
}

/// An open-addressing hash table of keyed objects (keyspace entries, hash fields, set and
/// sorted-set members) with linear probing and backward-shift deletion.
///
/// Chosen over `Dictionary` for memory: a slot costs nine bytes (a reference and a tag)
/// and the key lives inside its entry, so nothing is stored twice. Entries are found by
/// their home bucket (`hash & mask`); because deletion shifts entries back without ever
/// moving one before its home, every entry lies in the run of occupied slots that starts at
/// its home bucket, which is what SCAN's cursor relies on.
///
/// The storage is copy-on-write: a snapshot copies the `EntryTable` value in O(1) and the
/// live table copies the slots the first time it changes afterwards.
package struct OpenTable<Element: TableElement> {
    private(set) var storage: OpenTableStorage<Element>
    let hasher: KeyHasher

    static var minimumCapacity: Int { 8 }

    package init(hasher: KeyHasher, capacity: Int = 8) {
        self.hasher = hasher
        self.storage = OpenTableStorage<Element>(capacity: capacity)
    }

    package var count: Int { self.storage.count }
    package var capacity: Int { self.storage.capacity }
    var mask: Int { self.storage.capacity - 1 }

    @inline(__always)
    static func tag(_ hash: UInt64) -> UInt8 { UInt8(truncatingIfNeeded: hash >> 57) | 0x80 }

    /// The slot holding `key`, if present.
    @inline(__always)
    package func find(_ key: UnsafeRawBufferPointer, hash: UInt64) -> Int? {
        let storage = self.storage
        let mask = storage.capacity - 1
        let tag = Self.tag(hash)
        var index = Int(truncatingIfNeeded: hash) & mask
        while true {
            let slotTag = storage.tags[index]
            if slotTag == 0 { return nil }
            if slotTag == tag, storage.slots[index].unsafelyUnwrapped.tableKeyEquals(key) { return index }
            index = (index &+ 1) & mask
        }
    }

    @inline(__always)
    package func element(at slot: Int) -> Element {
        self.storage.slots[slot].unsafelyUnwrapped
    }

    package func isOccupied(_ slot: Int) -> Bool {
        self.storage.tags[slot] != 0
    }

    /// Makes the slots this table's own before a change (after a snapshot shared them).
    @inline(__always)
    mutating func makeUnique() {
        if !isKnownUniquelyReferenced(&self.storage) {
            self.storage = self.storage.copy()
        }
    }

    /// Whether the entry in `slot` is held by this table alone (no snapshot shares it).
    package mutating func isEntryUnique(at slot: Int) -> Bool {
        self.makeUnique()
        return isKnownUniquelyReferenced(&self.storage.slots[slot]!)
    }

    /// Puts `entry` in `slot`, which holds an element with the same key.
    package mutating func replace(at slot: Int, with entry: Element) {
        self.makeUnique()
        self.storage.slots[slot] = entry
    }

    /// ``replace(at:with:)`` handing back the element it displaced (moved out of the slot,
    /// so the caller's reference is the last one, without another retain).
    package mutating func exchange(at slot: Int, with entry: Element) -> Element {
        self.makeUnique()
        let displaced = (self.storage.slots + slot).move()
        (self.storage.slots + slot).initialize(to: entry)
        return displaced.unsafelyUnwrapped
    }

    /// Adds an entry whose key is not in the table. Returns its slot.
    @discardableResult
    package mutating func insert(_ entry: Element, hash: UInt64) -> Int {
        self.makeUnique()
        if (self.storage.count + 1) * 16 > self.storage.capacity * 13 {
            self.resize(to: self.storage.capacity * 2)
        }
        let storage = self.storage
        let mask = storage.capacity - 1
        var index = Int(truncatingIfNeeded: hash) & mask
        while storage.tags[index] != 0 { index = (index &+ 1) & mask }
        storage.tags[index] = Self.tag(hash)
        storage.slots[index] = entry
        storage.count += 1
        return index
    }

    /// Removes the entry in `slot` and returns it.
    @discardableResult
    package mutating func remove(at slot: Int) -> Element {
        self.makeUnique()
        let storage = self.storage
        let mask = storage.capacity - 1
        let removed = storage.slots[slot].unsafelyUnwrapped
        var hole = slot
        var index = slot
        while true {
            index = (index &+ 1) & mask
            if storage.tags[index] == 0 { break }
            let home = Int(truncatingIfNeeded: self.hasher.hash(storage.slots[index].unsafelyUnwrapped.tableKey)) & mask
            // The entry may move back to the hole only if its home is not cyclically in (hole, index].
            let staysPut = hole <= index ? (home > hole && home <= index) : (home > hole || home <= index)
            if !staysPut {
                storage.tags[hole] = storage.tags[index]
                storage.slots[hole] = storage.slots[index]
                hole = index
            }
        }
        storage.tags[hole] = 0
        storage.slots[hole] = nil
        storage.count -= 1
        if storage.capacity > 64 && storage.count * 10 < storage.capacity {
            self.resize(to: Self.capacity(for: storage.count))
        }
        return removed
    }

    /// Empties the table and returns the old storage (so a caller can free it elsewhere).
    package mutating func removeAll() -> OpenTableStorage<Element> {
        let old = self.storage
        self.storage = OpenTableStorage<Element>(capacity: Self.minimumCapacity)
        return old
    }

    /// Grows the table at once to hold `count` entries without growing again (a loader that
    /// knows how many keys are coming saves the rehashes of doubling).
    package mutating func reserve(_ count: Int) {
        var capacity = self.storage.capacity
        while count * 16 > capacity * 13 { capacity *= 2 }
        if capacity > self.storage.capacity {
            self.makeUnique()
            self.resize(to: capacity)
        }
    }

    /// The smallest power-of-two capacity that holds `count` entries at about half load.
    static func capacity(for count: Int) -> Int {
        var capacity = minimumCapacity
        while capacity < count * 2 { capacity *= 2 }
        return capacity
    }

    private mutating func resize(to newCapacity: Int) {
        let old = self.storage
        let new = OpenTableStorage<Element>(capacity: max(newCapacity, Self.minimumCapacity))
        let mask = new.capacity - 1
        for slot in 0..<old.capacity where old.tags[slot] != 0 {
            let entry = old.slots[slot].unsafelyUnwrapped
            let hash = self.hasher.hash(entry.tableKey)
            var index = Int(truncatingIfNeeded: hash) & mask
            while new.tags[index] != 0 { index = (index &+ 1) & mask }
            new.tags[index] = old.tags[slot]
            new.slots[index] = entry
        }
        new.count = old.count
        self.storage = new
    }

    // MARK: Iteration

    /// Calls `body` with every entry whose home bucket is `bucket`.
    package func forEachEntry(inHomeBucket bucket: Int, _ body: (Element) -> Void) {
        let storage = self.storage
        let mask = storage.capacity - 1
        var index = bucket & mask
        while storage.tags[index] != 0 {
            let entry = storage.slots[index].unsafelyUnwrapped
            if Int(truncatingIfNeeded: self.hasher.hash(entry.tableKey)) & mask == bucket & mask {
                body(entry)
            }
            index = (index &+ 1) & mask
            if index == bucket & mask { break }
        }
    }

    /// Calls `body` with every entry, in slot order.
    package func forEachEntry(_ body: (Element) -> Void) {
        let storage = self.storage
        for slot in 0..<storage.capacity where storage.tags[slot] != 0 {
            body(storage.slots[slot].unsafelyUnwrapped)
        }
    }

    /// A slot holding an entry, chosen uniformly among slots and then walked forward.
    package func randomOccupiedSlot<G: RandomNumberGenerator>(using generator: inout G) -> Int? {
        let storage = self.storage
        if storage.count == 0 { return nil }
        let mask = storage.capacity - 1
        var index = Int.random(in: 0..<storage.capacity, using: &generator)
        while storage.tags[index] == 0 { index = (index &+ 1) & mask }
        return index
    }
}

extension OpenTable where Element == Entry {
    @inline(__always)
    package func entry(at slot: Int) -> Entry {
        self.element(at: slot)
    }
}
