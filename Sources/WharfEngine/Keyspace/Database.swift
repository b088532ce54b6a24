/// One of the numbered databases `SELECT` chooses between: a fixed power-of-two number of
/// shards, each with its own lock.
package final class Database: @unchecked Sendable {
    package let index: Int
    package let shards: [Shard]
    /// The same shards as unretained references, so picking a shard for a key costs no
    /// reference counting (the array above keeps them alive).
    private let shardTable: UnsafeMutablePointer<Unmanaged<Shard>>
    let shardMask: Int
    let hasher: KeyHasher

    init(index: Int, shardCount: Int, hasher: KeyHasher) {
        precondition(shardCount > 0 && shardCount <= 256 && shardCount & (shardCount - 1) == 0)
        self.index = index
        self.hasher = hasher
        self.shardMask = shardCount - 1
        self.shards = (0..<shardCount).map { _ in Shard(hasher: hasher) }
        self.shardTable = .allocate(capacity: shardCount)
        for (index, shard) in self.shards.enumerated() {
            (self.shardTable + index).initialize(to: Unmanaged.passUnretained(shard))
        }
    }

    deinit {
        self.shardTable.deallocate()
    }

    /// The shard a key hash belongs to. Bits 48–55 pick it, so the bits that pick the home
    /// bucket and the probe tag stay independent of it.
    @inline(__always)
    package func shardIndex(for hash: UInt64) -> Int {
        Int(truncatingIfNeeded: hash >> 48) & self.shardMask
    }

    @inline(__always)
    package func shard(for hash: UInt64) -> Shard {
        self.shardTable[self.shardIndex(for: hash)].takeUnretainedValue()
    }

    /// Number of keys, counting keys that have expired but not yet been removed (as DBSIZE does).
    package func count() -> Int {
        var total = 0
        for shard in self.shards {
            shard.lock.lock()
            total += shard.count
            shard.lock.unlock()
        }
        return total
    }

    /// Keys and keys-with-expiry, for INFO keyspace.
    package func counts() -> (keys: Int, expires: Int) {
        var keys = 0
        var expires = 0
        for shard in self.shards {
            shard.lock.lock()
            keys += shard.count
            expires += shard.volatileCount
            shard.lock.unlock()
        }
        return (keys, expires)
    }
}

/// A set of shards of one database to lock together, kept as a bitmap so they are locked
/// in ascending order (the global order that prevents deadlock) without sorting or allocating.
package struct ShardSelection {
    private var words: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)

    package init() {}

    package mutating func insert(_ index: Int) {
        let bit = UInt64(1) << UInt64(index & 63)
        switch index >> 6 {
        case 0: self.words.0 |= bit
        case 1: self.words.1 |= bit
        case 2: self.words.2 |= bit
        default: self.words.3 |= bit
        }
    }

    private func word(_ index: Int) -> UInt64 {
        switch index {
        case 0: return self.words.0
        case 1: return self.words.1
        case 2: return self.words.2
        default: return self.words.3
        }
    }

    package var isEmpty: Bool { self.words == (0, 0, 0, 0) }

    /// Calls `body` with each selected index, ascending.
    package func forEach(_ body: (Int) -> Void) {
        for wordIndex in 0..<4 {
            var remaining = self.word(wordIndex)
            while remaining != 0 {
                let bit = remaining.trailingZeroBitCount
                body(wordIndex * 64 + bit)
                remaining &= remaining - 1
            }
        }
    }

    /// Calls `body` with each selected index, descending (for unlocking).
    package func forEachReversed(_ body: (Int) -> Void) {
        for wordIndex in (0..<4).reversed() {
            var remaining = self.word(wordIndex)
            while remaining != 0 {
                let bit = 63 - remaining.leadingZeroBitCount
                body(wordIndex * 64 + bit)
                remaining &= ~(UInt64(1) << UInt64(bit))
            }
        }
    }
}

/// All databases of one engine.
package final class Keyspace: Sendable {
    package let databases: [Database]
    package let hasher: KeyHasher
    package let shardsPerDatabase: Int

    init(databaseCount: Int, shardsPerDatabase: Int, hasher: KeyHasher) {
        self.hasher = hasher
        self.shardsPerDatabase = shardsPerDatabase
        self.databases = (0..<databaseCount).map { Database(index: $0, shardCount: shardsPerDatabase, hasher: hasher) }
    }

    /// Locks every shard of every database in the global order.
    package func lockAll() {
        for database in self.databases {
            for shard in database.shards { shard.lock.lock() }
        }
    }

    package func unlockAll() {
        for database in self.databases.reversed() {
            for shard in database.shards.reversed() { shard.lock.unlock() }
        }
    }
}
