import Atomics
import NIOCore
import WharfProtocol
import WharfStorage

/// Sorted-set commands: adding, scoring, ranking, popping (blocking too) and scanning.
/// Ranges live in SortedSetRanges.swift, union/intersection/difference in
/// SortedSetAlgebra.swift.
///
/// Effect rule (for the write-ahead log): sorted-set commands are deterministic given the
/// set, so they are logged as received; a served BZPOPMIN/BZMPOP is logged as the
/// `ZPOPMIN`/`ZPOPMAX key count` it performed. ZRANDMEMBER changes nothing.
enum SortedSetCommands {
    static let declarations: [CommandSpec] =
        [
            CommandSpec(
                "zadd", arity: -4, flags: [.write, .denyOOM, .fast], keys: .single, acl: [.sortedSet],
                group: .sortedSet,
                since: "1.2.0",
                summary:
                    "Adds one or more members to a sorted set, or updates their scores. Creates the key if it doesn't exist.",
                complexity: "O(log(N)) for each item added, where N is the number of elements in the sorted set.",
                handler: zadd),
            CommandSpec(
                "zincrby", arity: 4, flags: [.write, .denyOOM, .fast], keys: .single, acl: [.sortedSet],
                group: .sortedSet,
                since: "1.2.0", summary: "Increments the score of a member in a sorted set.",
                complexity: "O(log(N)) where N is the number of elements in the sorted set.", handler: zincrby),
            CommandSpec(
                "zrem", arity: -3, flags: [.write, .fast], keys: .single, acl: [.sortedSet], group: .sortedSet,
                since: "1.2.0",
                summary:
                    "Removes one or more members from a sorted set. Deletes the sorted set if all members were removed.",
                complexity:
                    "O(M*log(N)) with N being the number of elements in the sorted set and M the number of elements to be removed.",
                handler: zrem),
            CommandSpec(
                "zcard", arity: 2, flags: [.readonly, .fast], keys: .single, acl: [.sortedSet], group: .sortedSet,
                since: "1.2.0", summary: "Returns the number of members in a sorted set.", handler: zcard),
            CommandSpec(
                "zscore", arity: 3, flags: [.readonly, .fast], keys: .single, acl: [.sortedSet], group: .sortedSet,
                since: "1.2.0", summary: "Returns the score of a member in a sorted set.", handler: zscore),
            CommandSpec(
                "zmscore", arity: -3, flags: [.readonly, .fast], keys: .single, acl: [.sortedSet], group: .sortedSet,
                since: "6.2.0", summary: "Returns the score of one or more members in a sorted set.",
                complexity: "O(N) where N is the number of members being requested.", handler: zmscore),
            CommandSpec(
                "zrank", arity: 3, flags: [.readonly, .fast], keys: .single, acl: [.sortedSet], group: .sortedSet,
                since: "2.0.0", summary: "Returns the index of a member in a sorted set ordered by ascending scores.",
                complexity: "O(log(N))", handler: { rank(&$0, reverse: false) }),
            CommandSpec(
                "zrevrank", arity: 3, flags: [.readonly, .fast], keys: .single, acl: [.sortedSet], group: .sortedSet,
                since: "2.0.0", summary: "Returns the index of a member in a sorted set ordered by descending scores.",
                complexity: "O(log(N))", handler: { rank(&$0, reverse: true) }),
            CommandSpec(
                "zpopmin", arity: -2, flags: [.write, .fast], keys: .single, acl: [.sortedSet], group: .sortedSet,
                since: "5.0.0",
                summary:
                    "Returns the lowest-scoring members from a sorted set after removing them. Deletes the sorted set if the last member was popped.",
                complexity:
                    "O(log(N)*M) with N being the number of elements in the sorted set, and M being the number of elements popped.",
                handler: { zpop(&$0, minimum: true) }),
            CommandSpec(
                "zpopmax", arity: -2, flags: [.write, .fast], keys: .single, acl: [.sortedSet], group: .sortedSet,
                since: "5.0.0",
                summary:
                    "Returns the highest-scoring members from a sorted set after removing them. Deletes the sorted set if the last member was popped.",
                complexity:
                    "O(log(N)*M) with N being the number of elements in the sorted set, and M being the number of elements popped.",
                handler: { zpop(&$0, minimum: false) }),
            CommandSpec(
                "bzpopmin", arity: -3, flags: [.write, .noScript, .fast, .blocking],
                keys: KeyPositions(first: 1, last: -2, step: 1), acl: [.sortedSet], group: .sortedSet,
                since: "5.0.0",
                summary:
                    "Removes and returns the member with the lowest score from one or more sorted sets. Blocks until a member is available otherwise. Deletes the sorted set if the last element was popped.",
                complexity: "O(log(N)) with N being the number of elements in the sorted set.",
                handler: { bzpop(&$0, minimum: true) }),
            CommandSpec(
                "bzpopmax", arity: -3, flags: [.write, .noScript, .fast, .blocking],
                keys: KeyPositions(first: 1, last: -2, step: 1), acl: [.sortedSet], group: .sortedSet,
                since: "5.0.0",
                summary:
                    "Removes and returns the member with the highest score from one or more sorted sets. Blocks until a member available otherwise.  Deletes the sorted set if the last element was popped.",
                complexity: "O(log(N)) with N being the number of elements in the sorted set.",
                handler: { bzpop(&$0, minimum: false) }),
            CommandSpec(
                "zmpop", arity: -4, flags: [.write, .movableKeys], acl: [.sortedSet], group: .sortedSet,
                since: "7.0.0",
                summary:
                    "Returns the highest- or lowest-scoring members from one or more sorted sets after removing them. Deletes the sorted set if the last member was popped.",
                complexity:
                    "O(K) + O(M*log(N)) where K is the number of provided keys, N being the number of elements in the sorted set, and M being the number of elements popped.",
                handler: { zmpop(&$0, blocking: false) }),
            CommandSpec(
                "bzmpop", arity: -5, flags: [.write, .blocking, .movableKeys], acl: [.sortedSet], group: .sortedSet,
                since: "7.0.0",
                summary:
                    "Removes and returns a member by score from one or more sorted sets. Blocks until a member is available otherwise. Deletes the sorted set if the last element was popped.",
                complexity:
                    "O(K) + O(M*log(N)) where K is the number of provided keys, N being the number of elements in the sorted set, and M being the number of elements popped.",
                handler: { zmpop(&$0, blocking: true) }),
            CommandSpec(
                "zrandmember", arity: -2, flags: [.readonly], keys: .single, acl: [.sortedSet], group: .sortedSet,
                since: "6.2.0", summary: "Returns one or more random members from a sorted set.",
                complexity: "O(N) where N is the number of members returned", handler: zrandmember),
            CommandSpec(
                "zscan", arity: -3, flags: [.readonly], keys: .single, acl: [.sortedSet], group: .sortedSet,
                since: "2.8.0", summary: "Iterates over members and scores of a sorted set.",
                complexity:
                    "O(1) for every call. O(N) for a complete iteration, including enough command calls for the cursor to return back to 0. N is the number of elements inside the collection.",
                handler: zscan),
        ] + SortedSetRanges.declarations + SortedSetAlgebra.declarations

    /// A score argument, or nil after replying Redis's error.
    static func scoreArgument(_ context: inout CommandContext, _ index: Int) -> Double? {
        if let value = RESPDouble.parse(context.arguments[index]) { return value }
        context.replyNotFloat()
        return nil
    }

    // MARK: Adding and removing

    static func zadd(_ context: inout CommandContext) {
        var onlyNew = false
        var onlyExisting = false
        var greater = false
        var less = false
        var changed = false
        var increment = false
        var index = 2
        while index < context.arguments.count {
            let word = context.arguments[index]
            if word.equalsIgnoringCase("NX") {
                onlyNew = true
            } else if word.equalsIgnoringCase("XX") {
                onlyExisting = true
            } else if word.equalsIgnoringCase("GT") {
                greater = true
            } else if word.equalsIgnoringCase("LT") {
                less = true
            } else if word.equalsIgnoringCase("CH") {
                changed = true
            } else if word.equalsIgnoringCase("INCR") {
                increment = true
            } else {
                break
            }
            index += 1
        }
        let pairCount = (context.arguments.count - index) / 2
        if pairCount == 0 || (context.arguments.count - index) % 2 != 0 { return context.replySyntaxError() }
        if onlyNew && onlyExisting {
            return context.reply.writeError("ERR XX and NX options at the same time are not compatible")
        }
        if (greater && onlyNew) || (less && onlyNew) || (greater && less) {
            return context.reply.writeError("ERR GT, LT, and/or NX options at the same time are not compatible")
        }
        if increment && pairCount > 1 {
            return context.reply.writeError("ERR INCR option supports a single increment-element pair")
        }
        let firstPair = index
        for pair in 0..<pairCount where RESPDouble.parse(context.arguments[firstPair + pair * 2]) == nil {
            return context.replyNotFloat()
        }
        context.withTypedKey(.sortedSet, read: false) { context, shard, key, hash, slot in
            if slot == nil && onlyExisting {
                return increment ? context.reply.writeNull() : context.reply.writeInteger(0)
            }
            var handle = context.sortedSetForWriting(shard, slot: slot)
            var added = 0
            var updated = 0
            var result: Double?
            for pair in 0..<pairCount {
                let score = RESPDouble.parse(context.arguments[firstPair + pair * 2]).unsafelyUnwrapped
                let member = context.arguments[firstPair + pair * 2 + 1]
                if let current = handle.score(of: member) {
                    if onlyNew { continue }
                    let newScore = increment ? current + score : score
                    if newScore.isNaN {
                        context.commitSortedSet(shard, key, hash: hash, slot: slot, handle)
                        return context.reply.writeError("ERR resulting score is not a number (NaN)")
                    }
                    if (less && newScore >= current) || (greater && newScore <= current) { continue }
                    result = newScore
                    if newScore != current {
                        handle.set(member, score: newScore)
                        updated += 1
                    }
                } else {
                    if onlyExisting { continue }
                    handle.set(member, score: score)
                    result = score
                    added += 1
                }
            }
            if added + updated > 0 {
                context.commitSortedSet(shard, key, hash: hash, slot: slot, handle)
                context.logCommand()
                context.notify(KeyspaceEvents.sortedSet, increment ? "zincr" : "zadd", key)
                if added > 0 { context.signalReady(key) }
            }
            if increment {
                if let result { context.reply.writeDouble(result) } else { context.reply.writeNull() }
            } else {
                context.reply.writeInteger(changed ? added + updated : added)
            }
        }
    }

    static func zincrby(_ context: inout CommandContext) {
        guard let increment = Self.scoreArgument(&context, 2) else { return }
        context.withTypedKey(.sortedSet, read: false) { context, shard, key, hash, slot in
            var handle = context.sortedSetForWriting(shard, slot: slot)
            let member = context.arguments[3]
            let score = (handle.score(of: member) ?? 0) + increment
            if score.isNaN { return context.reply.writeError("ERR resulting score is not a number (NaN)") }
            handle.set(member, score: score)
            context.commitSortedSet(shard, key, hash: hash, slot: slot, handle)
            context.reply.writeDouble(score)
            context.logCommand()
            context.notify(KeyspaceEvents.sortedSet, "zincr", key)
            if slot == nil { context.signalReady(key) }
        }
    }

    static func zrem(_ context: inout CommandContext) {
        context.withTypedKey(.sortedSet, read: false) { context, shard, key, hash, slot in
            guard let slot else { return context.reply.writeInteger(0) }
            var handle = context.sortedSetForWriting(shard, slot: slot)
            var removed = 0
            for index in 2..<context.arguments.count where handle.remove(context.arguments[index]) { removed += 1 }
            if removed > 0 {
                context.commitSortedSet(shard, key, hash: hash, slot: slot, handle)
                context.logCommand()
                context.notifyChange(KeyspaceEvents.sortedSet, "zrem", key, in: shard, hash: hash)
            }
            context.reply.writeInteger(removed)
        }
    }

    // MARK: Reading

    static func zcard(_ context: inout CommandContext) {
        context.withTypedKey(.sortedSet, read: true) { context, shard, _, _, slot in
            guard let slot else { return context.reply.writeInteger(0) }
            context.reply.writeInteger(SortedSetHandle(shard.entry(at: slot)).count)
        }
    }

    static func zscore(_ context: inout CommandContext) {
        context.withTypedKey(.sortedSet, read: true) { context, shard, _, _, slot in
            guard let slot, let score = SortedSetHandle(shard.entry(at: slot)).score(of: context.arguments[2]) else {
                return context.reply.writeNull()
            }
            context.reply.writeDouble(score)
        }
    }

    static func zmscore(_ context: inout CommandContext) {
        context.withTypedKey(.sortedSet, read: true) { context, shard, _, _, slot in
            let handle = slot.map { SortedSetHandle(shard.entry(at: $0)) }
            context.reply.writeArrayHeader(count: context.arguments.count - 2)
            for index in 2..<context.arguments.count {
                if let score = handle?.score(of: context.arguments[index]) {
                    context.reply.writeDouble(score)
                } else {
                    context.reply.writeNull()
                }
            }
        }
    }

    static func rank(_ context: inout CommandContext, reverse: Bool) {
        context.withTypedKey(.sortedSet, read: true) { context, shard, _, _, slot in
            guard let slot else { return context.reply.writeNull() }
            let handle = SortedSetHandle(shard.entry(at: slot))
            guard let rank = handle.rank(of: context.arguments[2]) else { return context.reply.writeNull() }
            context.reply.writeInteger(reverse ? handle.count - 1 - rank : rank)
        }
    }

    // MARK: Popping

    /// How a pop's reply is shaped.
    enum PopReplyShape {
        /// ZPOPMIN without a count: a flat `[member, score]`.
        case single
        /// ZPOPMIN with a count: flat in RESP2, `[[member, score] …]` in RESP3.
        case counted
        /// BZPOPMIN: `[key, member, score]`.
        case keyed
        /// ZMPOP/BZMPOP: `[key, [[member, score] …]]`.
        case keyedList
    }

    /// Pops up to `count` members from the set at `slot` and writes the reply.
    static func popLocked(
        _ context: inout CommandContext, _ shard: Shard, _ key: UnsafeRawBufferPointer, hash: UInt64, slot: Int,
        minimum: Bool, count: Int, shape: PopReplyShape
    ) {
        var handle = context.sortedSetForWriting(shard, slot: slot)
        let taken = min(count, handle.count)
        switch shape {
        case .single, .keyed:
            break
        case .counted:
            context.reply.writeArrayHeader(count: context.reply.version == .resp3 ? taken : taken * 2)
        case .keyedList:
            context.reply.writeArrayHeader(count: 2)
            context.reply.writeBulkString(key)
            context.reply.writeArrayHeader(count: taken)
        }
        if shape == .keyed {
            context.reply.writeArrayHeader(count: 3)
            context.reply.writeBulkString(key)
        } else if shape == .single {
            context.reply.writeArrayHeader(count: taken * 2)
        }
        let start = minimum ? 0 : handle.count - 1
        let nested = shape == .keyedList || (shape == .counted && context.reply.version == .resp3)
        handle.forEach(
            from: start, reverse: !minimum,
            { item in
                if nested { context.reply.writeArrayHeader(count: 2) }
                context.reply.writeBulkString(item.member)
                context.reply.writeDouble(item.score)
                return true
            }, limit: taken)
        let range = minimum ? 0..<taken : (handle.count - taken)..<handle.count
        handle.removeRanks(range)
        context.commitSortedSet(shard, key, hash: hash, slot: slot, handle)
    }

    static func zpop(_ context: inout CommandContext, minimum: Bool) {
        if context.arguments.count > 3 { return context.replySyntaxError() }
        var count: Int?
        if context.arguments.count == 3 {
            guard let parsed = context.positiveCount(2) else { return }
            count = parsed
        }
        context.withTypedKey(.sortedSet, read: false) { context, shard, key, hash, slot in
            guard let slot, count != 0 else { return context.reply.writeArrayHeader(count: 0) }
            Self.popLocked(
                &context, shard, key, hash: hash, slot: slot, minimum: minimum, count: count ?? 1,
                shape: count == nil ? .single : .counted)
            context.logCommand()
            context.notifyChange(KeyspaceEvents.sortedSet, minimum ? "zpopmin" : "zpopmax", key, in: shard, hash: hash)
        }
    }

    static func bzpop(_ context: inout CommandContext, minimum: Bool) {
        guard let timeout = context.timeoutArgument(context.arguments.count - 1) else { return }
        Self.popFirstNonEmpty(
            &context, keyIndices: Array(1..<(context.arguments.count - 1)), minimum: minimum, count: 1, shape: .keyed,
            blockTimeout: timeout)
    }

    /// ZMPOP and BZMPOP: `[BZMPOP timeout] numkeys key … MIN|MAX [COUNT count]`.
    static func zmpop(_ context: inout CommandContext, blocking: Bool) {
        var timeout = 0.0
        var index = 1
        if blocking {
            guard let parsed = context.timeoutArgument(1) else { return }
            timeout = parsed
            index = 2
        }
        guard let keyCount = context.keyCountArgument(index) else { return }
        let firstKey = index + 1
        let directionIndex = firstKey + keyCount
        guard directionIndex < context.arguments.count else { return context.replySyntaxError() }
        let direction = context.arguments[directionIndex]
        let minimum: Bool
        if direction.equalsIgnoringCase("MIN") {
            minimum = true
        } else if direction.equalsIgnoringCase("MAX") {
            minimum = false
        } else {
            return context.replySyntaxError()
        }
        guard let count = context.popCountOption(from: directionIndex + 1) else { return }
        Self.popFirstNonEmpty(
            &context, keyIndices: Array(firstKey..<directionIndex), minimum: minimum, count: count, shape: .keyedList,
            blockTimeout: blocking ? timeout : nil)
    }

    /// Pops from the first non-empty sorted set among `keyIndices`; blocks on them all when
    /// all are empty and `blockTimeout` is given.
    static func popFirstNonEmpty(
        _ context: inout CommandContext, keyIndices: [Int], minimum: Bool, count: Int, shape: PopReplyShape,
        blockTimeout: Double?
    ) {
        let database = context.database
        let (selection, hashes) = context.shards(ofKeysAt: keyIndices)
        context.lock(selection, in: database)
        defer { context.unlock(selection, in: database) }
        for (position, keyIndex) in keyIndices.enumerated() {
            let key = context.arguments[keyIndex]
            let shard = database.shard(for: hashes[position])
            guard let located = context.locate(key, hash: hashes[position], in: shard, as: .sortedSet) else { return }
            guard case .at(let slot) = located else { continue }
            Self.popLocked(
                &context, shard, key, hash: hashes[position], slot: slot, minimum: minimum, count: count, shape: shape)
            context.logEffect { log in
                log.argument(minimum ? "ZPOPMIN" : "ZPOPMAX")
                log.argument(key)
                log.argument(Int64(count))
            }
            context.notifyChange(
                KeyspaceEvents.sortedSet, minimum ? "zpopmin" : "zpopmax", key, in: shard, hash: hashes[position])
            return
        }
        if let blockTimeout {
            context.block(
                keys: keyIndices, timeout: blockTimeout,
                operation: .sortedSetPop(minimum: minimum, count: shape == .keyedList ? count : nil))
        } else {
            context.reply.writeNullArray()
        }
    }

    /// Serves a BZPOPMIN/BZPOPMAX/BZMPOP waiter from `key`.
    static func serve(
        _ context: inout CommandContext, _ waiter: Waiter, key: UnsafeRawBufferPointer, minimum: Bool, count: Int?,
        reply: inout RESPReplyWriter
    ) -> ServeOutcome {
        let hash = context.hash(key)
        let shard = context.database.shard(for: hash)
        context.lock(shard)
        defer { context.unlock(shard) }
        guard let slot = shard.lookup(key, hash: hash, now: context.now),
            shard.entry(at: slot).kind.family == .sortedSet
        else { return .empty }
        guard waiter.claim() else { return .finishedElsewhere }
        context.writing(into: &reply) { context in
            Self.popLocked(
                &context, shard, key, hash: hash, slot: slot, minimum: minimum, count: count ?? 1,
                shape: count == nil ? .keyed : .keyedList)
        }
        context.logEffect { log in
            log.argument(minimum ? "ZPOPMIN" : "ZPOPMAX")
            log.argument(key)
            log.argument(Int64(count ?? 1))
        }
        context.notifyChange(KeyspaceEvents.sortedSet, minimum ? "zpopmin" : "zpopmax", key, in: shard, hash: hash)
        return .served
    }

    // MARK: Random members and scanning

    static func zrandmember(_ context: inout CommandContext) {
        var count: Int64?
        var withScores = false
        if context.arguments.count >= 3 {
            guard let parsed = context.integerArgument(2) else { return }
            count = parsed
            if context.arguments.count == 4 {
                guard context.arguments[3].equalsIgnoringCase("WITHSCORES") else { return context.replySyntaxError() }
                withScores = true
            } else if context.arguments.count > 4 {
                return context.replySyntaxError()
            }
            if parsed < -Int64(Int32.max) * 1024 || (withScores && parsed < -Int64(Int32.max) * 512) {
                return context.reply.writeError("ERR value is out of range")
            }
        }
        context.withTypedKey(.sortedSet, read: true) { context, shard, _, _, slot in
            guard let slot else {
                return count == nil ? context.reply.writeNull() : context.reply.writeArrayHeader(count: 0)
            }
            let handle = SortedSetHandle(shard.entry(at: slot))
            guard let count else {
                return context.reply.writeBulkString(handle.item(at: Int.random(in: 0..<handle.count)).member)
            }
            let ranks = RandomPick.indices(count: count, from: handle.count)
            let pairs = withScores && context.reply.version == .resp3
            context.reply.writeArrayHeader(count: withScores && !pairs ? ranks.count * 2 : ranks.count)
            for rank in ranks {
                let item = handle.item(at: rank)
                if pairs { context.reply.writeArrayHeader(count: 2) }
                context.reply.writeBulkString(item.member)
                if withScores { context.reply.writeDouble(item.score) }
            }
        }
    }

    static func zscan(_ context: inout CommandContext) {
        guard let cursor = CollectionScan.cursorArgument(&context, 2),
            let options = CollectionScan.Options.parse(&context, from: 3)
        else { return }
        context.withTypedKey(.sortedSet, read: true) { context, shard, _, _, slot in
            guard let slot else { return CollectionScan.writeEmpty(&context) }
            let entry = shard.entry(at: slot)
            var found: [(member: [UInt8], score: Double)] = []
            var next: UInt64 = 0
            if entry.kind == .sortedSet {
                next = CollectionScan.scan(
                    entry.payload(as: SortedSetPayload.self).members, cursor: cursor, count: options.count
                ) { record in
                    if options.matches(record.key) { found.append((Array(record.key), record.score)) }
                }
            } else {
                SortedSetHandle(entry).forEach(from: 0) { item in
                    if options.matches(item.member) { found.append((Array(item.member), item.score)) }
                    return true
                }
            }
            context.reply.writeArrayHeader(count: 2)
            context.reply.writeBulkString(String(next))
            context.reply.writeArrayHeader(count: found.count * 2)
            for item in found {
                context.reply.writeBulkString(item.member)
                context.reply.writeDouble(item.score)
            }
        }
    }
}

extension SortedSetHandle {
    /// ``forEach(from:reverse:_:)`` for at most `limit` members.
    func forEach(from start: Int, reverse: Bool, _ body: (ScoredMember) -> Bool, limit: Int) {
        var remaining = limit
        if remaining <= 0 { return }
        self.forEach(from: start, reverse: reverse) { item in
            remaining -= 1
            return body(item) && remaining > 0
        }
    }
}
