/// The entries of one shard that have an expiry time, for the active expiry sweep.
///
/// It holds unretained references: an entry is in the set exactly while it is in the
/// shard's table with an expiry, and the shard keeps the two in step (insert, replace and
/// remove go through it), so the sweep touches only keys that can expire, as Redis's
/// `expires` dictionary does.
struct VolatileSet {
    private var slots: UnsafeMutablePointer<UnsafeMutableRawPointer?>
    private(set) var capacity: Int
    private(set) var count: Int

    init() {
        self.capacity = 0
        self.count = 0
        self.slots = .allocate(capacity: 1)
        self.slots.initialize(to: nil)
    }

    /// Frees the slot array; the set must not be used afterwards.
    mutating func deallocate() {
        self.slots.deallocate()
    }

    @inline(__always)
    private static func home(_ pointer: UnsafeMutableRawPointer, mask: Int) -> Int {
        let bits = UInt64(UInt(bitPattern: pointer))
        return Int(truncatingIfNeeded: (bits &* 0x9E37_79B9_7F4A_7C15) >> 20) & mask
    }

    mutating func insert(_ entry: Entry) {
        if (self.count + 1) * 4 > self.capacity * 3 {
            self.resize(to: max(16, self.capacity * 2))
        }
        let pointer = Unmanaged.passUnretained(entry).toOpaque()
        let mask = self.capacity - 1
        var index = Self.home(pointer, mask: mask)
        while let occupant = self.slots[index] {
            if occupant == pointer { return }
            index = (index &+ 1) & mask
        }
        self.slots[index] = pointer
        self.count += 1
    }

    mutating func remove(_ entry: Entry) {
        guard self.count > 0 else { return }
        let pointer = Unmanaged.passUnretained(entry).toOpaque()
        let mask = self.capacity - 1
        var index = Self.home(pointer, mask: mask)
        while let occupant = self.slots[index] {
            if occupant == pointer {
                self.removeSlot(index)
                return
            }
            index = (index &+ 1) & mask
        }
    }

    private mutating func removeSlot(_ slot: Int) {
        let mask = self.capacity - 1
        var hole = slot
        var index = slot
        while true {
            index = (index &+ 1) & mask
            guard let occupant = self.slots[index] else { break }
            let home = Self.home(occupant, mask: mask)
            let staysPut = hole <= index ? (home > hole && home <= index) : (home > hole || home <= index)
            if !staysPut {
                self.slots[hole] = occupant
                hole = index
            }
        }
        self.slots[hole] = nil
        self.count -= 1
        if self.capacity > 64 && self.count * 10 < self.capacity {
            var capacity = 16
            while capacity < self.count * 2 { capacity *= 2 }
            self.resize(to: capacity)
        }
    }

    /// Removes every entry.
    mutating func removeAll() {
        self.slots.deinitialize(count: max(self.capacity, 1))
        self.slots.deallocate()
        self.capacity = 0
        self.count = 0
        self.slots = .allocate(capacity: 1)
        self.slots.initialize(to: nil)
    }

    private mutating func resize(to newCapacity: Int) {
        let old = self.slots
        let oldCapacity = self.capacity
        self.slots = .allocate(capacity: newCapacity)
        self.slots.initialize(repeating: nil, count: newCapacity)
        self.capacity = newCapacity
        let mask = newCapacity - 1
        for slot in 0..<oldCapacity {
            guard let pointer = old[slot] else { continue }
            var index = Self.home(pointer, mask: mask)
            while self.slots[index] != nil { index = (index &+ 1) & mask }
            self.slots[index] = pointer
        }
        old.deallocate()
    }

    /// The entry in `slot`, if any; for the sweep's cursor walk.
    func entry(atSlot slot: Int) -> Entry? {
        guard slot < self.capacity, let pointer = self.slots[slot] else { return nil }
        return Unmanaged<Entry>.fromOpaque(pointer).takeUnretainedValue()
    }
}
