import Atomics

/// A sorted-set member and its score, as commands see it. `member` points into the entry,
/// record or argument it came from and is valid while that is (the command holds the lock).
package struct ScoredMember {
    package var score: Double
    package var member: UnsafeRawBufferPointer

    @inline(__always)
    init(_ record: Record) {
        self.score = record.score
        self.member = record.key
    }

    @inline(__always)
    init(score: Double, member: UnsafeRawBufferPointer) {
        self.score = score
        self.member = member
    }

    /// Sorted-set order: by score, then by member bytes.
    @inline(__always)
    func orders(before other: ScoredMember) -> Bool {
        if self.score != other.score { return self.score < other.score }
        return self.member.compareBytes(other.member) < 0
    }
}

/// One sorted set, packed or large, behind one interface, so each command is written once.
///
/// A packed set is decoded into `items` (pointers into the entry's bytes, no copies); a
/// change re-encodes it when the command commits. A large set is its payload, changed in
/// place.
package struct SortedSetHandle {
    /// The members of a packed set, in order. Unused for a large one.
    package private(set) var items: [ScoredMember]
    package let payload: SortedSetPayload?

    /// A new, empty (packed) set.
    package init() {
        self.items = []
        self.payload = nil
    }

    package init(payload: SortedSetPayload) {
        self.items = []
        self.payload = payload
    }

    /// The set held by `entry` (a payload entry must be uniquely held before it is changed).
    package init(_ entry: Entry) {
        if entry.kind == .sortedSet {
            self.items = []
            self.payload = entry.payload(as: SortedSetPayload.self)
            return
        }
        let bytes = entry.rawValueBytes
        var items: [ScoredMember] = []
        items.reserveCapacity(Packed.count(bytes))
        Packed.forEachScored(bytes) { score, member in
            items.append(ScoredMember(score: score, member: member))
            return true
        }
        self.items = items
        self.payload = nil
    }

    package var count: Int { self.payload?.count ?? self.items.count }

    package func score(of member: UnsafeRawBufferPointer) -> Double? {
        if let payload { return payload.members.record(member)?.score }
        return self.packedIndex(of: member).map { self.items[$0].score }
    }

    private func packedIndex(of member: UnsafeRawBufferPointer) -> Int? {
        self.items.firstIndex { $0.member.equalsBytesShared(member) }
    }

    /// The 0-based rank of `member` in ascending order.
    package func rank(of member: UnsafeRawBufferPointer) -> Int? {
        if let payload {
            guard let record = payload.members.record(member) else { return nil }
            return payload.order.rank(of: record)
        }
        return self.packedIndex(of: member)
    }

    package func item(at rank: Int) -> ScoredMember {
        if let payload { return ScoredMember(payload.order.record(at: rank)) }
        return self.items[rank]
    }

    /// Calls `body` with members from rank `start`, ascending (or descending), until it
    /// returns false or the members run out.
    package func forEach(from start: Int, reverse: Bool = false, _ body: (ScoredMember) -> Bool) {
        if let payload {
            payload.order.walk(from: start, reverse: reverse) { body(ScoredMember($0)) }
            return
        }
        guard start >= 0 && start < self.items.count else { return }
        if reverse {
            for index in stride(from: start, through: 0, by: -1) where !body(self.items[index]) { return }
        } else {
            for index in start..<self.items.count where !body(self.items[index]) { return }
        }
    }

    /// How many leading members satisfy `isBefore`, which must hold for a prefix of the order.
    package func countBefore(_ isBefore: (ScoredMember) -> Bool) -> Int {
        if let payload { return payload.order.countBefore { isBefore(ScoredMember($0)) } }
        var low = 0
        var high = self.items.count
        while low < high {
            let middle = (low + high) / 2
            if isBefore(self.items[middle]) { low = middle + 1 } else { high = middle }
        }
        return low
    }

    /// Adds `member` or changes its score. Returns the previous score, if it was present.
    /// A packed set keeps `member`'s pointer: it must stay valid until the set is committed.
    @discardableResult
    package mutating func set(_ member: UnsafeRawBufferPointer, score: Double) -> Double? {
        if let payload { return payload.set(member, score: score) }
        var old: Double?
        if let index = self.packedIndex(of: member) {
            old = self.items[index].score
            if old == score { return old }
            self.items.remove(at: index)
        }
        let item = ScoredMember(score: score, member: member)
        var low = 0
        var high = self.items.count
        while low < high {
            let middle = (low + high) / 2
            if self.items[middle].orders(before: item) { low = middle + 1 } else { high = middle }
        }
        self.items.insert(item, at: low)
        return old
    }

    @discardableResult
    package mutating func remove(_ member: UnsafeRawBufferPointer) -> Bool {
        if let payload { return payload.remove(member) != nil }
        guard let index = self.packedIndex(of: member) else { return false }
        self.items.remove(at: index)
        return true
    }

    /// Removes the members with ranks in `range`.
    package mutating func removeRanks(_ range: Range<Int>) {
        if range.isEmpty { return }
        if let payload {
            var doomed: [Record] = []
            doomed.reserveCapacity(range.count)
            payload.order.walk(from: range.lowerBound) { record in
                doomed.append(record)
                return doomed.count < range.count
            }
            for record in doomed { payload.remove(record.key) }
            return
        }
        self.items.removeSubrange(range)
    }
}

// MARK: Storing

extension CommandContext {
    /// Whether a sorted set of `count` members, the longest `longest` bytes, stays packed.
    package func sortedSetFitsPacked(count: Int, longest: Int) -> Bool {
        count <= self.settings.zsetMaxListpackEntries.load(ordering: .relaxed)
            && longest <= self.settings.zsetMaxListpackValue.load(ordering: .relaxed)
    }

    /// The sorted set at `slot`, ready to be changed (a shared payload is copied first).
    package func sortedSetForWriting(_ shard: Shard, slot: Int?) -> SortedSetHandle {
        guard let slot else { return SortedSetHandle() }
        if shard.entry(at: slot).kind == .sortedSet { return SortedSetHandle(shard.mutableEntry(at: slot)) }
        return SortedSetHandle(shard.entry(at: slot))
    }

    /// Makes `handle`'s changes the value of `key`: a large set was changed in place (an
    /// emptied one is deleted; a new one is stored); a packed one is encoded again, or
    /// converted once it passes the thresholds.
    package func commitSortedSet(
        _ shard: Shard, _ key: UnsafeRawBufferPointer, hash: UInt64, slot: Int?, _ handle: SortedSetHandle
    ) {
        if handle.count == 0 {
            if let slot { shard.remove(at: slot) }
            return
        }
        if let payload = handle.payload {
            if let slot, shard.entry(at: slot).kind == .sortedSet { return }
            // A set built for a new key (ZUNIONSTORE …) is packed when small enough.
            var longest = 0
            if payload.count <= self.settings.zsetMaxListpackEntries.load(ordering: .relaxed) {
                payload.order.walk(from: 0) { record in
                    longest = max(longest, record.key.count)
                    return true
                }
            }
            if self.sortedSetFitsPacked(count: payload.count, longest: longest) {
                var items: [ScoredMember] = []
                payload.order.walk(from: 0) { record in
                    items.append(ScoredMember(record))
                    return true
                }
                self.storePackedSortedSet(shard, key, hash: hash, slot: slot, items)
            } else {
                self.store(shard, key, hash: hash, slot: slot, kind: .sortedSet, payload: payload)
            }
            return
        }
        var longest = 0
        if handle.items.count <= self.settings.zsetMaxListpackEntries.load(ordering: .relaxed) {
            for item in handle.items { longest = max(longest, item.member.count) }
        }
        if self.sortedSetFitsPacked(count: handle.items.count, longest: longest) {
            self.storePackedSortedSet(shard, key, hash: hash, slot: slot, handle.items)
            return
        }
        let payload = SortedSetPayload(members: RecordTable(), order: OrderTree())
        for item in handle.items {
            let record = Record.make(key: item.member, score: item.score)
            payload.members.set(record)
            payload.order.insert(record)
        }
        self.store(shard, key, hash: hash, slot: slot, kind: .sortedSet, payload: payload)
    }

    private func storePackedSortedSet(
        _ shard: Shard, _ key: UnsafeRawBufferPointer, hash: UInt64, slot: Int?, _ items: [ScoredMember]
    ) {
        var size = 4
        for item in items { size += 8 + Packed.encodedLength(item.member.count) }
        var builder = PackedBuilder(capacity: size)
        builder.startCounted()
        for item in items {
            builder.appendScore(item.score)
            builder.appendItem(item.member)
        }
        builder.setCount(items.count)
        builder.bytes.withUnsafeBytes {
            self.store(shard, key, hash: hash, slot: slot, kind: .packedSortedSet, bytes: $0)
        }
    }
}
