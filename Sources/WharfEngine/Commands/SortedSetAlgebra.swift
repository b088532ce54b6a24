import WharfProtocol

/// ZUNION, ZINTER, ZDIFF, their STORE forms and ZINTERCARD. Inputs may be sorted sets or
/// plain sets (whose members score 1), as in Redis.
enum SortedSetAlgebra {
    static let declarations: [CommandSpec] = [
        CommandSpec(
            "zunion", arity: -3, flags: [.readonly, .movableKeys], acl: [.sortedSet], group: .sortedSet,
            since: "6.2.0", summary: "Returns the union of multiple sorted sets.",
            complexity:
                "O(N)+O(M*log(M)) with N being the sum of the sizes of the input sorted sets, and M being the number of elements in the resulting sorted set.",
            handler: { combine(&$0, .union, store: false) }),
        CommandSpec(
            "zinter", arity: -3, flags: [.readonly, .movableKeys], acl: [.sortedSet], group: .sortedSet,
            since: "6.2.0", summary: "Returns the intersect of multiple sorted sets.",
            complexity:
                "O(N*K)+O(M*log(M)) worst case with N being the smallest input sorted set, K being the number of input sorted sets and M being the number of elements in the resulting sorted set.",
            handler: { combine(&$0, .intersection, store: false) }),
        CommandSpec(
            "zdiff", arity: -3, flags: [.readonly, .movableKeys], acl: [.sortedSet], group: .sortedSet,
            since: "6.2.0", summary: "Returns the difference between multiple sorted sets.",
            complexity:
                "O(L + (N-K)log(N)) worst case where L is the total number of elements in all the sets, N is the size of the first set, and K is the size of the result set.",
            handler: { combine(&$0, .difference, store: false) }),
        CommandSpec(
            "zunionstore", arity: -4, flags: [.write, .denyOOM, .movableKeys], keys: .single, acl: [.sortedSet],
            group: .sortedSet,
            since: "2.0.0", summary: "Stores the union of multiple sorted sets in a key.",
            complexity:
                "O(N)+O(M log(M)) with N being the sum of the sizes of the input sorted sets, and M being the number of elements in the resulting sorted set.",
            handler: { combine(&$0, .union, store: true) }),
        CommandSpec(
            "zinterstore", arity: -4, flags: [.write, .denyOOM, .movableKeys], keys: .single, acl: [.sortedSet],
            group: .sortedSet,
            since: "2.0.0", summary: "Stores the intersect of multiple sorted sets in a key.",
            complexity:
                "O(N*K)+O(M*log(M)) worst case with N being the smallest input sorted set, K being the number of input sorted sets and M being the number of elements in the resulting sorted set.",
            handler: { combine(&$0, .intersection, store: true) }),
        CommandSpec(
            "zdiffstore", arity: -4, flags: [.write, .denyOOM, .movableKeys], keys: .single, acl: [.sortedSet],
            group: .sortedSet,
            since: "6.2.0", summary: "Stores the difference of multiple sorted sets in a key.",
            complexity:
                "O(L + (N-K)log(N)) worst case where L is the total number of elements in all the sets, N is the size of the first set, and K is the size of the result set.",
            handler: { combine(&$0, .difference, store: true) }),
        CommandSpec(
            "zintercard", arity: -3, flags: [.readonly, .movableKeys], acl: [.sortedSet], group: .sortedSet,
            since: "7.0.0", summary: "Returns the number of members of the intersect of multiple sorted sets.",
            complexity:
                "O(N*K) worst case with N being the smallest input sorted set, K being the number of input sorted sets.",
            handler: zintercard),
    ]

    enum Operation { case union, intersection, difference }
    enum Aggregate { case sum, min, max }

    /// One input: its members and scores (plain-set members score 1).
    struct Input {
        var scores: [[UInt8]: Double]
        var order: [[UInt8]]
    }

    /// Reads the inputs at `keyIndices` (shards locked by the caller). Missing keys are
    /// empty inputs; nil after replying WRONGTYPE.
    static func readInputs(_ context: inout CommandContext, keyIndices: [Int]) -> [Input]? {
        var inputs: [Input] = []
        for keyIndex in keyIndices {
            let key = context.arguments[keyIndex]
            let hash = context.hash(key)
            let shard = context.database.shard(for: hash)
            guard let slot = context.lookupReadSlot(shard, key, hash: hash) else {
                inputs.append(Input(scores: [:], order: []))
                continue
            }
            let entry = shard.entry(at: slot)
            var input = Input(scores: [:], order: [])
            switch entry.kind.family {
            case .sortedSet:
                SortedSetHandle(entry).forEach(from: 0) { item in
                    let member = Array(item.member)
                    input.scores[member] = item.score
                    input.order.append(member)
                    return true
                }
            case .set:
                SetCommands.View(entry).forEach { member in
                    let bytes = Array(member)
                    input.scores[bytes] = 1
                    input.order.append(bytes)
                }
            default:
                context.replyWrongType()
                return nil
            }
            inputs.append(input)
        }
        return inputs
    }

    static func aggregate(_ a: Double, _ b: Double, _ how: Aggregate) -> Double {
        switch how {
        case .sum:
            let total = a + b
            // inf + -inf: Redis makes it 0 rather than NaN.
            return total.isNaN ? 0 : total
        case .min: return Swift.min(a, b)
        case .max: return Swift.max(a, b)
        }
    }

    static func weighted(_ score: Double, _ weight: Double) -> Double {
        let value = score * weight
        return value.isNaN ? 0 : value
    }

    /// Combines the inputs into a new sorted set.
    static func compute(_ inputs: [Input], _ operation: Operation, weights: [Double], aggregate: Aggregate)
        -> SortedSetPayload
    {
        let result = SortedSetPayload(members: RecordTable(), order: OrderTree())
        var scores: [[UInt8]: Double] = [:]
        var order: [[UInt8]] = []
        switch operation {
        case .union:
            for (index, input) in inputs.enumerated() {
                for member in input.order {
                    let score = Self.weighted(input.scores[member]!, weights[index])
                    if let existing = scores[member] {
                        scores[member] = Self.aggregate(existing, score, aggregate)
                    } else {
                        scores[member] = score
                        order.append(member)
                    }
                }
            }
        case .intersection:
            let smallest = inputs.indices.min { inputs[$0].order.count < inputs[$1].order.count }!
            for member in inputs[smallest].order {
                var score: Double?
                var inAll = true
                for (index, input) in inputs.enumerated() {
                    guard let value = input.scores[member] else {
                        inAll = false
                        break
                    }
                    let weightedValue = Self.weighted(value, weights[index])
                    score = score.map { Self.aggregate($0, weightedValue, aggregate) } ?? weightedValue
                }
                if inAll, let score {
                    scores[member] = score
                    order.append(member)
                }
            }
        case .difference:
            for member in inputs[0].order where !inputs.dropFirst().contains(where: { $0.scores[member] != nil }) {
                scores[member] = inputs[0].scores[member]!
                order.append(member)
            }
        }
        for member in order {
            _ = member.withUnsafeBytes { result.set($0, score: scores[member]!) }
        }
        return result
    }

    /// `[destination] numkeys key … [WEIGHTS w …] [AGGREGATE SUM|MIN|MAX] [WITHSCORES]`.
    static func combine(_ context: inout CommandContext, _ operation: Operation, store: Bool) {
        let countIndex = store ? 2 : 1
        guard let numberOfKeys = context.integerArgument(countIndex) else { return }
        guard numberOfKeys > 0 else {
            let name = context.arguments.string(0).lowercased()
            return context.reply.writeError("ERR at least 1 input key is needed for '\(name)' command")
        }
        guard numberOfKeys <= Int64(context.arguments.count - countIndex - 1) else { return context.replySyntaxError() }
        let keyCount = Int(numberOfKeys)
        let keyIndices = Array((countIndex + 1)...(countIndex + keyCount))
        var weights = [Double](repeating: 1, count: keyCount)
        var aggregate = Aggregate.sum
        var withScores = false
        var index = countIndex + 1 + keyCount
        while index < context.arguments.count {
            let word = context.arguments[index]
            let remaining = context.arguments.count - index - 1
            if operation != .difference && word.equalsIgnoringCase("WEIGHTS") && remaining >= keyCount {
                for position in 0..<keyCount {
                    guard let weight = RESPDouble.parse(context.arguments[index + 1 + position]) else {
                        return context.reply.writeError("ERR weight value is not a float")
                    }
                    weights[position] = weight
                }
                index += keyCount
            } else if operation != .difference && word.equalsIgnoringCase("AGGREGATE") && remaining >= 1 {
                let kind = context.arguments[index + 1]
                if kind.equalsIgnoringCase("SUM") {
                    aggregate = .sum
                } else if kind.equalsIgnoringCase("MIN") {
                    aggregate = .min
                } else if kind.equalsIgnoringCase("MAX") {
                    aggregate = .max
                } else {
                    return context.replySyntaxError()
                }
                index += 1
            } else if !store && word.equalsIgnoringCase("WITHSCORES") {
                withScores = true
            } else {
                return context.replySyntaxError()
            }
            index += 1
        }
        let database = context.database
        let selection = context.lockShards(ofKeysAt: store ? [1] + keyIndices : keyIndices)
        defer { context.unlock(selection, in: database) }
        guard let inputs = Self.readInputs(&context, keyIndices: keyIndices) else { return }
        let result = Self.compute(inputs, operation, weights: weights, aggregate: aggregate)
        if store {
            let destination = context.arguments[1]
            let hash = context.hash(destination)
            let event: StaticString =
                operation == .union ? "zunionstore" : operation == .intersection ? "zinterstore" : "zdiffstore"
            Self.storeResult(&context, database.shard(for: hash), destination, hash: hash, result, event: event)
            context.reply.writeInteger(result.count)
            return
        }
        let pairs = withScores && context.reply.version == .resp3
        context.reply.writeArrayHeader(count: withScores && !pairs ? result.count * 2 : result.count)
        result.order.walk(from: 0) { record in
            if pairs { context.reply.writeArrayHeader(count: 2) }
            context.reply.writeBulkString(record.key)
            if withScores { context.reply.writeDouble(record.score) }
            return true
        }
    }

    /// Replaces `destination` with `result` (deleting it when empty) and logs the command.
    static func storeResult(
        _ context: inout CommandContext, _ shard: Shard, _ destination: UnsafeRawBufferPointer, hash: UInt64,
        _ result: SortedSetPayload, event: StaticString
    ) {
        let existed = shard.lookup(destination, hash: hash, now: context.now).map { shard.remove(at: $0) } != nil
        if result.count > 0 {
            context.commitSortedSet(shard, destination, hash: hash, slot: nil, SortedSetHandle(payload: result))
            context.signalReady(destination)
            context.notify(KeyspaceEvents.sortedSet, event, destination)
        } else if existed {
            context.notify(KeyspaceEvents.generic, "del", destination)
        }
        context.logCommand()
    }

    static func zintercard(_ context: inout CommandContext) {
        guard let (keyIndices, limit) = context.intersectionCardinalityArguments(sortedSets: true) else { return }
        let database = context.database
        let selection = context.lockShards(ofKeysAt: keyIndices)
        defer { context.unlock(selection, in: database) }
        guard let inputs = Self.readInputs(&context, keyIndices: keyIndices) else { return }
        let result = Self.compute(
            inputs, .intersection, weights: [Double](repeating: 1, count: inputs.count), aggregate: .sum)
        context.reply.writeInteger(limit > 0 ? min(limit, result.count) : result.count)
    }
}
