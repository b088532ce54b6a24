/// One lock's worth of a database: a slice of its keys, chosen by hash.
///
/// Every method here expects the caller to hold `lock`. The table and the set of entries
/// with an expiry are changed only through these methods, which keep them in step.
package final class Shard: @unchecked Sendable {
    package let lock = ShardLock()
    // Exclusivity checks are off for the shard's state: it is only touched with the
    // shard's lock held, and the runtime checks cost about a fifth of a command's CPU
    // (docs/benchmarks.md).
    @exclusivity(unchecked) package private(set) var table: EntryTable
    @exclusivity(unchecked) private var volatile = VolatileSet()
    /// Keys removed because their time ran out (lazily or by the sweep), for INFO.
    @exclusivity(unchecked) package var expiredKeys = 0
    /// Told the key of each entry removed because it expired (keyspace notifications).
    package var onExpired: ((UnsafeRawBufferPointer) -> Void)?
    /// Told the key of each entry added for a key that was not there (new-key notifications).
    package var onInserted: ((UnsafeRawBufferPointer) -> Void)?
    /// Told the key of a stream that left it (deleted, expired, overwritten by another type,
    /// renamed away): clients blocked in XREADGROUP on it are told, as Redis tells them.
    package var onStreamGone: ((UnsafeRawBufferPointer) -> Void)?
    /// Told that every key went (FLUSHDB, FLUSHALL).
    package var onFlushed: (() -> Void)?
    /// Clients WATCHing keys of this shard, by key; any change to such a key marks them.
    @exclusivity(unchecked) private var watchers: [[UInt8]: [WatchState]] = [:]
    @exclusivity(unchecked) private var watchCount = 0
    /// Where the active expiry sweep resumes in `volatile`.
    @exclusivity(unchecked) private var sweepCursor = 0

    init(hasher: KeyHasher) {
        self.table = EntryTable(hasher: hasher)
    }

    deinit {
        self.volatile.deallocate()
    }

    /// SWAPDB: exchanges every key of this shard with the same shard of another database.
    /// Transactions watching keys of either shard are marked dirty (Redis marks those whose
    /// key exists on either side; marking them all is the safe side of that rule).
    package func swapContents(with other: Shard) {
        for list in self.watchers.values { for state in list { state.isDirty = true } }
        for list in other.watchers.values { for state in list { state.isDirty = true } }
        swap(&self.table, &other.table)
        swap(&self.volatile, &other.volatile)
        self.sweepCursor = 0
        other.sweepCursor = 0
    }

    package var count: Int { self.table.count }

    /// Makes room for `count` keys at once (loading a file that says how many come).
    package func reserve(_ count: Int) {
        self.table.reserve(count)
    }
    package var volatileCount: Int { self.volatile.count }

    /// The slot of `key` if it exists and has not expired; an expired key is deleted here
    /// (Redis's lazy expiry: a key is expired once `now` is past its expiry time).
    @inline(__always)
    package func lookup(_ key: UnsafeRawBufferPointer, hash: UInt64, now: Int64) -> Int? {
        guard let slot = self.table.find(key, hash: hash) else { return nil }
        let entry = self.table.entry(at: slot)
        if entry.hasExpiry, let expireAt = entry.expireAt, now > expireAt {
            self.remove(at: slot)
            self.expiredKeys += 1
            self.onExpired?(entry.key)
            return nil
        }
        return slot
    }

    @inline(__always)
    package func entry(at slot: Int) -> Entry {
        self.table.entry(at: slot)
    }

    // MARK: Watched keys

    package func watch(_ key: [UInt8], _ state: WatchState) {
        self.watchers[key, default: []].append(state)
        self.watchCount += 1
    }

    package func unwatch(_ key: [UInt8], _ state: WatchState) {
        guard var list = self.watchers[key], let index = list.firstIndex(where: { $0 === state }) else { return }
        list.remove(at: index)
        self.watchers[key] = list.isEmpty ? nil : list
        self.watchCount -= 1
    }

    /// Marks the clients watching `key` (every change to a key passes here).
    @inline(__always)
    private func touched(_ key: UnsafeRawBufferPointer) {
        if self.watchCount > 0 { self.markWatchers(key) }
    }

    private func markWatchers(_ key: UnsafeRawBufferPointer) {
        guard let list = self.watchers[Array(key)] else { return }
        for state in list { state.isDirty = true }
    }

    // MARK: Changing entries

    /// Adds an entry for a key that is not present. Returns its slot.
    @discardableResult
    package func insert(_ entry: Entry, hash: UInt64) -> Int {
        self.touched(entry.key)
        if entry.hasExpiry { self.volatile.insert(entry) }
        let slot = self.table.insert(entry, hash: hash)
        self.onInserted?(entry.key)
        return slot
    }

    /// Replaces the entry in `slot` with one for the same key.
    package func replace(at slot: Int, with entry: Entry) {
        let old = self.table.exchange(at: slot, with: entry)
        self.touched(old.key)
        if old.hasExpiry { self.volatile.remove(old) }
        if entry.hasExpiry { self.volatile.insert(entry) }
        if old.kind == .stream && entry.kind != .stream { self.onStreamGone?(old.key) }
    }

    /// Removes the entry in `slot`.
    @discardableResult
    package func remove(at slot: Int) -> Entry {
        let old = self.table.entry(at: slot)
        self.touched(old.key)
        if old.hasExpiry { self.volatile.remove(old) }
        let removed = self.table.remove(at: slot)
        if removed.kind == .stream { self.onStreamGone?(removed.key) }
        return removed
    }

    /// The entry in `slot`, copied first if a snapshot shares it, so it may be changed in place.
    package func mutableEntry(at slot: Int) -> Entry {
        self.touched(self.table.entry(at: slot).key)
        if self.table.isEntryUnique(at: slot) { return self.table.entry(at: slot) }
        let copy = self.table.entry(at: slot).clone()
        self.replace(at: slot, with: copy)
        return copy
    }

    /// Removes every key; returns the old table storage so the caller may free it elsewhere.
    package func removeAll() -> EntryTableStorage {
        for list in self.watchers.values { for state in list { state.isDirty = true } }
        self.onFlushed?()
        self.volatile.removeAll()
        self.sweepCursor = 0
        return self.table.removeAll()
    }

    /// Active expiry: examines up to `limit` entries that have a TTL, continuing where the
    /// previous call stopped, and deletes those whose time has passed.
    ///
    /// - Returns: how many entries were examined and how many were deleted.
    package func sweepExpired(now: Int64, limit: Int) -> (examined: Int, expired: Int) {
        var examined = 0
        var expired = 0
        var visitedSlots = 0
        while examined < limit && self.volatile.count > 0 && visitedSlots < self.volatile.capacity {
            if self.sweepCursor >= self.volatile.capacity { self.sweepCursor = 0 }
            let slot = self.sweepCursor
            visitedSlots += 1
            guard let entry = self.volatile.entry(atSlot: slot) else {
                self.sweepCursor += 1
                continue
            }
            examined += 1
            if let expireAt = entry.expireAt, now > expireAt {
                let key = entry.key
                let hash = self.table.hasher.hash(key)
                if let tableSlot = self.table.find(key, hash: hash) {
                    // Removal may shift a later entry back into this slot; look at it again.
                    self.remove(at: tableSlot)
                    self.expiredKeys += 1
                    self.onExpired?(entry.key)
                    expired += 1
                    continue
                }
            }
            self.sweepCursor += 1
        }
        return (examined, expired)
    }

    /// Remaining TTLs (ms) of up to `limit` keys that have one, for INFO's `avg_ttl`.
    package func sampleTTLs(limit: Int, now: Int64) -> [Int64] {
        var ttls: [Int64] = []
        var slot = 0
        while ttls.count < limit && slot < self.volatile.capacity {
            if let entry = self.volatile.entry(atSlot: slot), let expireAt = entry.expireAt {
                ttls.append(max(0, expireAt - now))
            }
            slot += 1
        }
        return ttls
    }
}

/// One client's WATCH on one key: set when the key changes (under the key's shard lock,
/// which EXEC also holds when it reads it).
package final class WatchState: @unchecked Sendable {
    package var isDirty = false
    package init() {}
}
