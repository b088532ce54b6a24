package import WharfProtocol

/// Where a typed lookup found the key.
package enum Located {
    case missing
    case at(Int)
}

extension CommandContext {
    /// The slot of `key` if it holds a `family` value (nil slot: missing). When it holds
    /// another type, replies WRONGTYPE and returns nil, as every typed command must.
    @inline(__always)
    package mutating func locate(
        _ key: UnsafeRawBufferPointer, hash: UInt64, in shard: Shard, as family: ValueFamily, read: Bool = false
    ) -> Located? {
        let slot = read ? self.lookupReadSlot(shard, key, hash: hash) : shard.lookup(key, hash: hash, now: self.now)
        guard let slot else { return .missing }
        if shard.entry(at: slot).kind.family != family {
            self.replyWrongType()
            return nil
        }
        return .at(slot)
    }

    /// Replaces the value in `slot` (keeping the key's expiry), or inserts a new key.
    package func store(
        _ shard: Shard, _ key: UnsafeRawBufferPointer, hash: UInt64, slot: Int?, kind: ValueKind,
        bytes: UnsafeRawBufferPointer
    ) {
        let expireAt = slot.map { shard.entry(at: $0).expireAt } ?? nil
        let entry = Entry.makeBytes(
            kind: kind, key: key, value: bytes, expireAt: expireAt, access: self.initialAccessClock)
        if let slot { shard.replace(at: slot, with: entry) } else { shard.insert(entry, hash: hash) }
    }

    /// Replaces the value in `slot` with a payload (keeping the expiry), or inserts a new key.
    package func store(
        _ shard: Shard, _ key: UnsafeRawBufferPointer, hash: UInt64, slot: Int?, kind: ValueKind, payload: EntryPayload
    ) {
        let expireAt = slot.map { shard.entry(at: $0).expireAt } ?? nil
        let entry = Entry.makeObject(
            key: key, kind: kind, payload: payload, expireAt: expireAt, access: self.initialAccessClock)
        if let slot { shard.replace(at: slot, with: entry) } else { shard.insert(entry, hash: hash) }
    }

    /// Argument `index` as a count that must be positive, with Redis's message.
    package mutating func positiveCount(_ index: Int) -> Int? {
        guard let value = DecimalInteger.parse(self.arguments[index]) else {
            self.replyNotInteger()
            return nil
        }
        guard value >= 0 else {
            self.reply.writeError("ERR value is out of range, must be positive")
            return nil
        }
        return Int(value)
    }
}

extension CommandContext {
    /// Runs `body` with the shard of the key at `argument` locked and the key found as a
    /// `family` value (slot nil: missing). Replies WRONGTYPE itself for another type.
    @inline(__always)
    package mutating func withTypedKey(
        _ family: ValueFamily, argument: Int = 1, read: Bool,
        _ body: (inout CommandContext, Shard, UnsafeRawBufferPointer, UInt64, Int?) -> Void
    ) {
        let key = self.arguments[argument]
        let hash = self.hash(key)
        let shard = self.database.shard(for: hash)
        self.lock(shard)
        defer { self.unlock(shard) }
        guard let located = self.locate(key, hash: hash, in: shard, as: family, read: read) else { return }
        var slot: Int?
        if case .at(let found) = located { slot = found }
        body(&self, shard, key, hash, slot)
    }

    /// The hashes of the keys at `keyIndices` and the shards to lock for them together.
    package func shards(ofKeysAt keyIndices: [Int]) -> (ShardSelection, [UInt64]) {
        let database = self.database
        var selection = ShardSelection()
        var hashes: [UInt64] = []
        hashes.reserveCapacity(keyIndices.count)
        for keyIndex in keyIndices {
            let hash = self.hash(self.arguments[keyIndex])
            hashes.append(hash)
            selection.insert(database.shardIndex(for: hash))
        }
        return (selection, hashes)
    }

    /// Locks the shards of two keys (a source and a destination) together; the caller
    /// unlocks them.
    package func lockShards(of first: UInt64, _ second: UInt64) -> ShardSelection {
        let database = self.database
        var selection = ShardSelection()
        selection.insert(database.shardIndex(for: first))
        selection.insert(database.shardIndex(for: second))
        self.lock(selection, in: database)
        return selection
    }

    /// Locks the shards of the keys at `keyIndices` together; the caller unlocks them.
    package func lockShards(ofKeysAt keyIndices: [Int]) -> ShardSelection {
        let (selection, _) = self.shards(ofKeysAt: keyIndices)
        self.lock(selection, in: self.database)
        return selection
    }

    /// LMPOP's and ZMPOP's optional `COUNT count` from `index` on: the count (1 without it),
    /// or nil after replying Redis's error.
    package mutating func popCountOption(from index: Int) -> Int? {
        var count = 1
        var optionIndex = index
        var sawCount = false
        while optionIndex < self.arguments.count {
            guard !sawCount, self.arguments[optionIndex].equalsIgnoringCase("COUNT"),
                optionIndex + 1 < self.arguments.count
            else {
                self.replySyntaxError()
                return nil
            }
            guard let value = self.integerArgument(optionIndex + 1) else { return nil }
            guard value > 0 else {
                self.reply.writeError("ERR count should be greater than 0")
                return nil
            }
            count = Int(min(value, Int64(Int32.max)))
            sawCount = true
            optionIndex += 2
        }
        return count
    }

    /// SINTERCARD's and ZINTERCARD's `numkeys key … [LIMIT limit]`: the key positions and
    /// the limit (0: none), or nil after replying Redis's error. The two check `numkeys`
    /// differently in Redis: SINTERCARD with its own messages, ZINTERCARD as the rest of
    /// the sorted-set algebra does.
    package mutating func intersectionCardinalityArguments(sortedSets: Bool) -> (keyIndices: [Int], limit: Int)? {
        let keyCount: Int64
        if sortedSets {
            guard let value = self.integerArgument(1) else { return nil }
            guard value > 0 else {
                self.reply.writeError("ERR at least 1 input key is needed for 'zintercard' command")
                return nil
            }
            guard value <= Int64(self.arguments.count - 2) else {
                self.replySyntaxError()
                return nil
            }
            keyCount = value
        } else {
            guard let value = DecimalInteger.parse(self.arguments[1]), value > 0 else {
                self.reply.writeError("ERR numkeys should be greater than 0")
                return nil
            }
            guard value <= Int64(self.arguments.count - 2) else {
                self.reply.writeError("ERR Number of keys can't be greater than number of args")
                return nil
            }
            keyCount = value
        }
        let keyIndices = Array(2..<(2 + Int(keyCount)))
        var limit = 0
        var index = 2 + Int(keyCount)
        while index < self.arguments.count {
            guard self.arguments[index].equalsIgnoringCase("LIMIT"), index + 1 < self.arguments.count else {
                self.replySyntaxError()
                return nil
            }
            guard let parsed = DecimalInteger.parse(self.arguments[index + 1]), parsed >= 0 else {
                self.reply.writeError("ERR LIMIT can't be negative")
                return nil
            }
            limit = Int(clamping: parsed)
            index += 2
        }
        return (keyIndices, limit)
    }

    /// Parses `numkeys` at `index` for the commands that take a key count, checking that
    /// the keys are there. Returns the count, or nil after replying the error.
    package mutating func keyCountArgument(_ index: Int, zeroMessage: String = "ERR numkeys should be greater than 0")
        -> Int?
    {
        guard let value = self.integerArgument(index) else { return nil }
        guard value > 0 else {
            self.reply.writeError(zeroMessage)
            return nil
        }
        guard value <= Int64(self.arguments.count - index - 1) else {
            self.replySyntaxError()
            return nil
        }
        return Int(value)
    }
}

extension CommandContext {
    /// Runs `body` with `reply` as the reply writer (serving a blocked client writes that
    /// client's reply), swapping the writers rather than copying buffers.
    package mutating func writing(into reply: inout RESPReplyWriter, _ body: (inout CommandContext) -> Void) {
        swap(&self.reply, &reply)
        body(&self)
        swap(&self.reply, &reply)
    }
}
