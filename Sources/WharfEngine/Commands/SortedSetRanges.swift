import WharfProtocol

/// A score bound of ZRANGEBYSCORE and friends: `1.5`, `(1.5` (exclusive), `-inf`, `+inf`.
struct ScoreRange {
    var min: Double
    var minExclusive: Bool
    var max: Double
    var maxExclusive: Bool

    static func parseBound(_ bytes: UnsafeRawBufferPointer) -> (Double, Bool)? {
        if bytes.count > 0 && bytes[0] == UInt8(ascii: "(") {
            guard let value = RESPDouble.parse(UnsafeRawBufferPointer(rebasing: bytes[1...])) else { return nil }
            return (value, true)
        }
        guard let value = RESPDouble.parse(bytes) else { return nil }
        return (value, false)
    }

    /// Parses `min max`, or replies Redis's error.
    static func parse(_ context: inout CommandContext, min minIndex: Int, max maxIndex: Int) -> ScoreRange? {
        guard let low = Self.parseBound(context.arguments[minIndex]),
            let high = Self.parseBound(context.arguments[maxIndex])
        else {
            context.reply.writeError("ERR min or max is not a float")
            return nil
        }
        return ScoreRange(min: low.0, minExclusive: low.1, max: high.0, maxExclusive: high.1)
    }

    /// Whether `item` lies before the range's start.
    func isBelow(_ item: ScoredMember) -> Bool {
        item.score < self.min || (self.minExclusive && item.score == self.min)
    }

    /// Whether `item` does not lie after the range's end.
    func isNotAbove(_ item: ScoredMember) -> Bool {
        item.score < self.max || (!self.maxExclusive && item.score == self.max)
    }
}

/// A member bound of ZRANGEBYLEX and friends: `[a` (inclusive), `(a` (exclusive), `-`, `+`.
struct LexRange {
    enum Bound {
        case negativeInfinity, positiveInfinity
        case inclusive([UInt8])
        case exclusive([UInt8])
    }

    var min: Bound
    var max: Bound

    static func parseBound(_ bytes: UnsafeRawBufferPointer) -> Bound? {
        guard bytes.count > 0 else { return nil }
        switch bytes[0] {
        case UInt8(ascii: "-") where bytes.count == 1: return .negativeInfinity
        case UInt8(ascii: "+") where bytes.count == 1: return .positiveInfinity
        case UInt8(ascii: "["): return .inclusive(Array(bytes[1...]))
        case UInt8(ascii: "("): return .exclusive(Array(bytes[1...]))
        default: return nil
        }
    }

    static func parse(_ context: inout CommandContext, min minIndex: Int, max maxIndex: Int) -> LexRange? {
        guard let low = Self.parseBound(context.arguments[minIndex]),
            let high = Self.parseBound(context.arguments[maxIndex])
        else {
            context.reply.writeError("ERR min or max not valid string range item")
            return nil
        }
        return LexRange(min: low, max: high)
    }

    func isBelow(_ item: ScoredMember) -> Bool {
        switch self.min {
        case .negativeInfinity: return false
        case .positiveInfinity: return true
        case .inclusive(let bound): return bound.withUnsafeBytes { item.member.compareBytes($0) < 0 }
        case .exclusive(let bound): return bound.withUnsafeBytes { item.member.compareBytes($0) <= 0 }
        }
    }

    func isNotAbove(_ item: ScoredMember) -> Bool {
        switch self.max {
        case .negativeInfinity: return false
        case .positiveInfinity: return true
        case .inclusive(let bound): return bound.withUnsafeBytes { item.member.compareBytes($0) <= 0 }
        case .exclusive(let bound): return bound.withUnsafeBytes { item.member.compareBytes($0) < 0 }
        }
    }
}

/// What a ZRANGE-style command selects.
struct RangeQuery {
    enum Kind {
        case rank(start: Int64, stop: Int64)
        case score(ScoreRange)
        case lex(LexRange)
    }

    var kind: Kind
    var reverse = false
    var offset = 0
    /// Negative: no limit.
    var limit = -1

    /// The ranks (ascending order) of the selected members, in the order they are returned.
    func ranks(in handle: SortedSetHandle) -> [Int] {
        let count = handle.count
        var ranks: [Int] = []
        switch self.kind {
        case .rank(let start, let stop):
            guard let range = ListCommands.range(start: start, stop: stop, count: count) else { return [] }
            ranks.reserveCapacity(range.count)
            for position in range { ranks.append(self.reverse ? count - 1 - position : position) }
            return ranks
        case .score(let range):
            return self.walk(handle, isBelow: range.isBelow, isNotAbove: range.isNotAbove)
        case .lex(let range):
            return self.walk(handle, isBelow: range.isBelow, isNotAbove: range.isNotAbove)
        }
    }

    private func walk(_ handle: SortedSetHandle, isBelow: (ScoredMember) -> Bool, isNotAbove: (ScoredMember) -> Bool)
        -> [Int]
    {
        if self.offset < 0 { return [] }
        let first = handle.countBefore(isBelow)
        let end = handle.countBefore(isNotAbove)
        guard end > first else { return [] }
        var available = end - first - self.offset
        if available <= 0 { return [] }
        if self.limit >= 0 { available = Swift.min(available, self.limit) }
        if self.reverse {
            let top = end - 1 - self.offset
            return Array(stride(from: top, to: top - available, by: -1))
        }
        let start = first + self.offset
        return Array(start..<(start + available))
    }
}

/// ZRANGE and its older forms, ZRANGESTORE, ZCOUNT, ZLEXCOUNT and the ZREMRANGEBY commands.
enum SortedSetRanges {
    static let declarations: [CommandSpec] = [
        CommandSpec(
            "zrange", arity: -4, flags: [.readonly], keys: .single, acl: [.sortedSet], group: .sortedSet,
            since: "1.2.0", summary: "Returns members in a sorted set within a range of indexes.",
            complexity:
                "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements returned.",
            handler: { zrange(&$0, style: .general) }),
        CommandSpec(
            "zrevrange", arity: -4, flags: [.readonly], keys: .single, acl: [.sortedSet], group: .sortedSet,
            since: "1.2.0", summary: "Returns members in a sorted set within a range of indexes in reverse order.",
            complexity:
                "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements returned.",
            handler: { zrange(&$0, style: .reverseRank) }),
        CommandSpec(
            "zrangebyscore", arity: -4, flags: [.readonly], keys: .single, acl: [.sortedSet], group: .sortedSet,
            since: "1.0.5", summary: "Returns members in a sorted set within a range of scores.",
            complexity:
                "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements being returned.",
            handler: { zrange(&$0, style: .score(reverse: false)) }),
        CommandSpec(
            "zrevrangebyscore", arity: -4, flags: [.readonly], keys: .single, acl: [.sortedSet], group: .sortedSet,
            since: "2.2.0", summary: "Returns members in a sorted set within a range of scores in reverse order.",
            complexity:
                "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements being returned.",
            handler: { zrange(&$0, style: .score(reverse: true)) }),
        CommandSpec(
            "zrangebylex", arity: -4, flags: [.readonly], keys: .single, acl: [.sortedSet], group: .sortedSet,
            since: "2.8.9", summary: "Returns members in a sorted set within a lexicographical range.",
            complexity:
                "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements being returned.",
            handler: { zrange(&$0, style: .lex(reverse: false)) }),
        CommandSpec(
            "zrevrangebylex", arity: -4, flags: [.readonly], keys: .single, acl: [.sortedSet], group: .sortedSet,
            since: "2.8.9", summary: "Returns members in a sorted set within a lexicographical range in reverse order.",
            complexity:
                "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements being returned.",
            handler: { zrange(&$0, style: .lex(reverse: true)) }),
        CommandSpec(
            "zrangestore", arity: -5, flags: [.write, .denyOOM], keys: .two, acl: [.sortedSet], group: .sortedSet,
            since: "6.2.0", summary: "Stores a range of members from sorted set in a key.",
            complexity:
                "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements stored into the destination key.",
            handler: zrangestore),
        CommandSpec(
            "zcount", arity: 4, flags: [.readonly, .fast], keys: .single, acl: [.sortedSet], group: .sortedSet,
            since: "2.0.0", summary: "Returns the count of members in a sorted set that have scores within a range.",
            complexity: "O(log(N)) with N being the number of elements in the sorted set.",
            handler: { count(&$0, lex: false) }),
        CommandSpec(
            "zlexcount", arity: 4, flags: [.readonly, .fast], keys: .single, acl: [.sortedSet], group: .sortedSet,
            since: "2.8.9", summary: "Returns the number of members in a sorted set within a lexicographical range.",
            complexity: "O(log(N)) with N being the number of elements in the sorted set.",
            handler: { count(&$0, lex: true) }),
        CommandSpec(
            "zremrangebyrank", arity: 4, flags: [.write], keys: .single, acl: [.sortedSet], group: .sortedSet,
            since: "2.0.0",
            summary:
                "Removes members in a sorted set within a range of indexes. Deletes the sorted set if all members were removed.",
            complexity:
                "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements removed by the operation.",
            handler: { removeRange(&$0, by: .rank) }),
        CommandSpec(
            "zremrangebyscore", arity: 4, flags: [.write], keys: .single, acl: [.sortedSet], group: .sortedSet,
            since: "1.2.0",
            summary:
                "Removes members in a sorted set within a range of scores. Deletes the sorted set if all members were removed.",
            complexity:
                "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements removed by the operation.",
            handler: { removeRange(&$0, by: .score) }),
        CommandSpec(
            "zremrangebylex", arity: 4, flags: [.write], keys: .single, acl: [.sortedSet], group: .sortedSet,
            since: "2.8.9",
            summary:
                "Removes members in a sorted set within a lexicographical range. Deletes the sorted set if all members were removed.",
            complexity:
                "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements removed by the operation.",
            handler: { removeRange(&$0, by: .lex) }),
    ]

    /// Which command's argument conventions apply.
    enum Style: Equatable {
        /// ZRANGE / ZRANGESTORE: `start stop [BYSCORE|BYLEX] [REV] [LIMIT o c] [WITHSCORES]`.
        case general
        case reverseRank
        case score(reverse: Bool)
        case lex(reverse: Bool)
    }

    /// Parses the range and options starting at `first` (the min/start argument). Returns
    /// the query and WITHSCORES, or nil after replying an error.
    static func parse(_ context: inout CommandContext, style: Style, first: Int, allowScores: Bool) -> (
        RangeQuery, Bool
    )? {
        var byScore = false
        var byLex = false
        var reverse = false
        var withScores = false
        var limit: (Int64, Int64)?
        switch style {
        case .general, .reverseRank: break
        case .score(let rev):
            byScore = true
            reverse = rev
        case .lex(let rev):
            byLex = true
            reverse = rev
        }
        if style == .reverseRank { reverse = true }
        var index = first + 2
        while index < context.arguments.count {
            let word = context.arguments[index]
            if word.equalsIgnoringCase("WITHSCORES") && allowScores && !(byLex && style != .general) {
                withScores = true
            } else if word.equalsIgnoringCase("LIMIT") && index + 2 < context.arguments.count && style != .reverseRank {
                guard let offset = context.integerArgument(index + 1), let count = context.integerArgument(index + 2)
                else { return nil }
                limit = (offset, count)
                index += 2
            } else if style == .general && word.equalsIgnoringCase("BYSCORE") {
                byScore = true
            } else if style == .general && word.equalsIgnoringCase("BYLEX") {
                byLex = true
            } else if style == .general && word.equalsIgnoringCase("REV") {
                reverse = true
            } else {
                context.replySyntaxError()
                return nil
            }
            index += 1
        }
        if byScore && byLex {
            context.replySyntaxError()
            return nil
        }
        if limit != nil && !byScore && !byLex {
            context.reply.writeError(
                "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX")
            return nil
        }
        if withScores && byLex {
            context.reply.writeError("ERR syntax error, WITHSCORES not supported in combination with BYLEX")
            return nil
        }
        // With REV (and in the ZREV… forms) the first bound is the maximum.
        let (minIndex, maxIndex) = reverse && (byScore || byLex) ? (first + 1, first) : (first, first + 1)
        let kind: RangeQuery.Kind
        if byScore {
            guard let range = ScoreRange.parse(&context, min: minIndex, max: maxIndex) else { return nil }
            kind = .score(range)
        } else if byLex {
            guard let range = LexRange.parse(&context, min: minIndex, max: maxIndex) else { return nil }
            kind = .lex(range)
        } else {
            guard let start = context.integerArgument(first), let stop = context.integerArgument(first + 1) else {
                return nil
            }
            kind = .rank(start: start, stop: stop)
        }
        var query = RangeQuery(kind: kind, reverse: reverse)
        if let limit {
            query.offset = Int(clamping: limit.0)
            query.limit = Int(clamping: limit.1)
        }
        return (query, withScores)
    }

    static func zrange(_ context: inout CommandContext, style: Style) {
        guard let (query, withScores) = Self.parse(&context, style: style, first: 2, allowScores: true) else { return }
        context.withTypedKey(.sortedSet, read: true) { context, shard, _, _, slot in
            guard let slot else { return context.reply.writeArrayHeader(count: 0) }
            let handle = SortedSetHandle(shard.entry(at: slot))
            let ranks = query.ranks(in: handle)
            let pairs = withScores && context.reply.version == .resp3
            context.reply.writeArrayHeader(count: withScores && !pairs ? ranks.count * 2 : ranks.count)
            Self.forEachItem(handle, ranks: ranks) { item in
                if pairs { context.reply.writeArrayHeader(count: 2) }
                context.reply.writeBulkString(item.member)
                if withScores { context.reply.writeDouble(item.score) }
            }
        }
    }

    /// Calls `body` with the members at `ranks`, walking consecutive ranks rather than
    /// looking each one up.
    static func forEachItem(_ handle: SortedSetHandle, ranks: [Int], _ body: (ScoredMember) -> Void) {
        guard let first = ranks.first else { return }
        let reverse = ranks.count > 1 && ranks[1] < first
        var remaining = ranks.count
        handle.forEach(from: first, reverse: reverse) { item in
            body(item)
            remaining -= 1
            return remaining > 0
        }
    }

    static func zrangestore(_ context: inout CommandContext) {
        guard let (query, _) = Self.parse(&context, style: .general, first: 3, allowScores: false) else { return }
        let destination = context.arguments[1]
        let source = context.arguments[2]
        let database = context.database
        let sourceHash = context.hash(source)
        let destinationHash = context.hash(destination)
        let selection = context.lockShards(of: sourceHash, destinationHash)
        defer { context.unlock(selection, in: database) }
        let sourceShard = database.shard(for: sourceHash)
        let destinationShard = database.shard(for: destinationHash)
        guard let located = context.locate(source, hash: sourceHash, in: sourceShard, as: .sortedSet, read: true) else {
            return
        }
        let result = SortedSetPayload(members: RecordTable(), order: OrderTree())
        if case .at(let slot) = located {
            let handle = SortedSetHandle(sourceShard.entry(at: slot))
            Self.forEachItem(handle, ranks: query.ranks(in: handle)) { item in
                result.set(item.member, score: item.score)
            }
        }
        SortedSetAlgebra.storeResult(
            &context, destinationShard, destination, hash: destinationHash, result, event: "zrangestore")
        context.reply.writeInteger(result.count)
    }

    static func count(_ context: inout CommandContext, lex: Bool) {
        let range: (isBelow: (ScoredMember) -> Bool, isNotAbove: (ScoredMember) -> Bool)
        if lex {
            guard let parsed = LexRange.parse(&context, min: 2, max: 3) else { return }
            range = (parsed.isBelow, parsed.isNotAbove)
        } else {
            guard let parsed = ScoreRange.parse(&context, min: 2, max: 3) else { return }
            range = (parsed.isBelow, parsed.isNotAbove)
        }
        context.withTypedKey(.sortedSet, read: true) { context, shard, _, _, slot in
            guard let slot else { return context.reply.writeInteger(0) }
            let handle = SortedSetHandle(shard.entry(at: slot))
            let first = handle.countBefore(range.isBelow)
            let end = handle.countBefore(range.isNotAbove)
            context.reply.writeInteger(max(0, end - first))
        }
    }

    enum RemovalKind { case rank, score, lex }

    static func removeRange(_ context: inout CommandContext, by kind: RemovalKind) {
        let query: RangeQuery
        switch kind {
        case .rank:
            guard let start = context.integerArgument(2), let stop = context.integerArgument(3) else { return }
            query = RangeQuery(kind: .rank(start: start, stop: stop))
        case .score:
            guard let range = ScoreRange.parse(&context, min: 2, max: 3) else { return }
            query = RangeQuery(kind: .score(range))
        case .lex:
            guard let range = LexRange.parse(&context, min: 2, max: 3) else { return }
            query = RangeQuery(kind: .lex(range))
        }
        context.withTypedKey(.sortedSet, read: false) { context, shard, key, hash, slot in
            guard let slot else { return context.reply.writeInteger(0) }
            var handle = context.sortedSetForWriting(shard, slot: slot)
            let ranks = query.ranks(in: handle)
            guard let first = ranks.first, let last = ranks.last else { return context.reply.writeInteger(0) }
            handle.removeRanks(first..<(last + 1))
            context.commitSortedSet(shard, key, hash: hash, slot: slot, handle)
            context.reply.writeInteger(ranks.count)
            context.logCommand()
            let event: StaticString =
                kind == .rank ? "zremrangebyrank" : kind == .score ? "zremrangebyscore" : "zremrangebylex"
            context.notifyChange(KeyspaceEvents.sortedSet, event, key, in: shard, hash: hash)
        }
    }
}
