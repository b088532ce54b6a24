import Atomics
import DequeModule
import NIOCore
import WharfProtocol
import WharfStorage

/// Stream commands on entries: adding, reading (blocking too), deleting and trimming.
/// Consumer groups live in StreamGroupCommands.swift, XINFO in StreamInfoCommands.swift.
///
/// Effect rule (for the write-ahead log): an XADD is logged with the ID it assigned (never
/// `*`), and a trim it did as the exact `MAXLEN = <length left>` that removes the same
/// entries (approximate trimming depends on chunk boundaries, which replay need not share);
/// XTRIM likewise. XDEL and XSETID are deterministic and logged as received.
enum StreamCommands {
    static let declarations: [CommandSpec] = [
        CommandSpec(
            "xadd", arity: -5, flags: [.write, .denyOOM, .fast], keys: .single, acl: [.stream], group: .stream,
            since: "5.0.0", summary: "Appends a new message to a stream. Creates the key if it doesn't exist.",
            complexity: "O(1) when adding a new entry, O(N) when trimming where N being the number of entries evicted.",
            handler: xadd),
        CommandSpec(
            "xlen", arity: 2, flags: [.readonly, .fast], keys: .single, acl: [.stream], group: .stream,
            since: "5.0.0", summary: "Return the number of messages in a stream.", handler: xlen),
        CommandSpec(
            "xrange", arity: -4, flags: [.readonly], keys: .single, acl: [.stream], group: .stream,
            since: "5.0.0", summary: "Returns the messages from a stream within a range of IDs.",
            complexity:
                "O(N) with N being the number of elements being returned. If N is constant (e.g. always asking for the first 10 elements with COUNT), you can consider it O(1).",
            handler: { xrange(&$0, reverse: false) }),
        CommandSpec(
            "xrevrange", arity: -4, flags: [.readonly], keys: .single, acl: [.stream], group: .stream,
            since: "5.0.0", summary: "Returns the messages from a stream within a range of IDs in reverse order.",
            complexity:
                "O(N) with N being the number of elements returned. If N is constant (e.g. always asking for the first 10 elements with COUNT), you can consider it O(1).",
            handler: { xrange(&$0, reverse: true) }),
        CommandSpec(
            "xdel", arity: -3, flags: [.write, .fast], keys: .single, acl: [.stream], group: .stream,
            since: "5.0.0", summary: "Returns the number of messages after removing them from a stream.",
            complexity: "O(1) for each single item to delete in the stream, regardless of the stream size.",
            handler: xdel),
        CommandSpec(
            "xtrim", arity: -4, flags: [.write], keys: .single, acl: [.stream], group: .stream,
            since: "5.0.0", summary: "Deletes messages from the beginning of a stream.",
            complexity:
                "O(N), with N being the number of evicted entries. Constant times are very small however, since entries are organized in macro nodes containing multiple entries that can be released with a single deallocation.",
            handler: xtrim),
        CommandSpec(
            "xsetid", arity: -3, flags: [.write, .denyOOM, .fast], keys: .single, acl: [.stream], group: .stream,
            since: "5.0.0", summary: "An internal command for replicating stream values.", handler: xsetid),
        CommandSpec(
            "xread", arity: -4, flags: [.readonly, .blocking, .movableKeys], acl: [.stream], group: .stream,
            since: "5.0.0",
            summary:
                "Returns messages from multiple streams with IDs greater than the ones requested. Blocks until a message is available otherwise.",
            handler: xread),
    ]

    static let invalidID = "ERR Invalid stream ID specified as stream command argument"

    // MARK: Shared helpers

    /// Runs `body` with the stream at argument 1 locked (nil: missing); replies WRONGTYPE itself.
    static func withStream(
        _ context: inout CommandContext, read: Bool,
        _ body: (inout CommandContext, Shard, UnsafeRawBufferPointer, UInt64, Int?, StreamPayload?) -> Void
    ) {
        context.withTypedKey(.stream, read: read) { context, shard, key, hash, slot in
            guard let slot else { return body(&context, shard, key, hash, nil, nil) }
            let entry = read ? shard.entry(at: slot) : shard.mutableEntry(at: slot)
            body(&context, shard, key, hash, slot, entry.payload(as: StreamPayload.self))
        }
    }

    /// Writes `[id, [field, value, …]]`.
    static func writeEntry(_ reply: inout RESPReplyWriter, _ chunk: StreamChunk, _ cursor: StreamChunk.Cursor) {
        reply.writeArrayHeader(count: 2)
        reply.writeStreamID(cursor.id)
        reply.writeArrayHeader(count: chunk.pairCount(cursor) * 2)
        chunk.forEachPair(cursor) { field, value in
            reply.writeBulkString(field)
            reply.writeBulkString(value)
        }
    }

    /// Parses an ID argument (`-` and `+` allowed unless `strict`), replying the error.
    static func idArgument(
        _ context: inout CommandContext, _ index: Int, missingSequence: UInt64 = 0, strict: Bool = false
    ) -> StreamID? {
        guard let id = StreamID.parse(context.arguments[index], missingSequence: missingSequence, strict: strict) else {
            context.reply.writeError(Self.invalidID)
            return nil
        }
        return id
    }

    /// A range bound: an ID, `-`/`+`, or `(ID` for an exclusive one.
    static func boundArgument(_ context: inout CommandContext, _ index: Int, isEnd: Bool) -> StreamID? {
        let bytes = context.arguments[index]
        let missing: UInt64 = isEnd ? .max : 0
        guard bytes.count > 1, bytes[0] == UInt8(ascii: "(") else {
            return Self.idArgument(&context, index, missingSequence: missing)
        }
        guard
            let id = StreamID.parse(
                UnsafeRawBufferPointer(rebasing: bytes[1...]), missingSequence: missing, strict: true)
        else {
            context.reply.writeError(Self.invalidID)
            return nil
        }
        guard let moved = isEnd ? id.predecessor : id.successor else {
            context.reply.writeError(
                isEnd ? "ERR invalid end ID for the interval" : "ERR invalid start ID for the interval")
            return nil
        }
        return moved
    }

    // MARK: Trimming arguments

    /// XADD's and XTRIM's trimming options.
    struct TrimOptions {
        var strategy: StreamPayload.TrimStrategy?
        var approximate = false
        var limit: Int?
        var noMakeStream = false

        /// The entry limit of an approximate trim: LIMIT, or 100 chunks' worth by default.
        func effectiveLimit(_ settings: EngineSettings) -> Int {
            guard self.approximate else { return 0 }
            return self.limit ?? 100 * settings.streamNodeMaxEntries.load(ordering: .relaxed)
        }
    }

    /// Parses options from `index` until the first argument that is not one (XADD's ID).
    /// Returns the options and that index, or nil after replying the error.
    static func parseTrimOptions(_ context: inout CommandContext, from start: Int, xadd: Bool) -> (TrimOptions, Int)? {
        var options = TrimOptions()
        var index = start
        let count = context.arguments.count
        while index < count {
            let word = context.arguments[index]
            let remaining = count - index - 1
            if xadd && word.equalsIgnoringCase("NOMKSTREAM") {
                options.noMakeStream = true
                index += 1
            } else if (word.equalsIgnoringCase("MAXLEN") || word.equalsIgnoringCase("MINID")) && remaining >= 1 {
                let maxLength = word.equalsIgnoringCase("MAXLEN")
                index += 1
                let modifier = context.arguments[index]
                if remaining >= 2 && modifier.count == 1
                    && (modifier[0] == UInt8(ascii: "~") || modifier[0] == UInt8(ascii: "="))
                {
                    options.approximate = modifier[0] == UInt8(ascii: "~")
                    index += 1
                }
                if maxLength {
                    if case .minimumID = options.strategy {
                        context.reply.writeError(
                            "ERR syntax error, MAXLEN and MINID options at the same time are not compatible")
                        return nil
                    }
                    guard let value = context.integerArgument(index) else { return nil }
                    guard value >= 0 else {
                        context.reply.writeError("ERR The MAXLEN argument must be >= 0.")
                        return nil
                    }
                    options.strategy = .maxLength(Int(value))
                } else {
                    if case .maxLength = options.strategy {
                        context.reply.writeError(
                            "ERR syntax error, MAXLEN and MINID options at the same time are not compatible")
                        return nil
                    }
                    guard let id = Self.idArgument(&context, index, strict: true) else { return nil }
                    options.strategy = .minimumID(id)
                }
                index += 1
            } else if word.equalsIgnoringCase("LIMIT") && remaining >= 1 {
                guard let value = context.integerArgument(index + 1) else { return nil }
                guard value >= 0 else {
                    context.reply.writeError("ERR The LIMIT argument must be >= 0.")
                    return nil
                }
                options.limit = Int(min(value, Int64(Int.max / 2)))
                index += 2
            } else if xadd {
                break
            } else {
                context.replySyntaxError()
                return nil
            }
        }
        if options.limit != nil {
            if options.strategy == nil {
                context.reply.writeError(
                    "ERR syntax error, LIMIT cannot be used without specifying a trimming strategy")
                return nil
            }
            if !options.approximate {
                context.reply.writeError("ERR syntax error, LIMIT cannot be used without the special ~ option")
                return nil
            }
        }
        return (options, index)
    }

    // MARK: XADD

    static func xadd(_ context: inout CommandContext) {
        guard let (options, idIndex) = Self.parseTrimOptions(&context, from: 2, xadd: true) else { return }
        let fieldCount = context.arguments.count - idIndex - 1
        guard idIndex < context.arguments.count, fieldCount >= 2, fieldCount % 2 == 0 else {
            return context.reply.writeError("ERR wrong number of arguments for 'xadd' command")
        }
        // `*`, `ms-*` or an explicit ID.
        let idBytes = context.arguments[idIndex]
        var explicit: StreamID?
        var explicitMs: UInt64?
        if idBytes.count == 1 && idBytes[0] == UInt8(ascii: "*") {
        } else if idBytes.count >= 3, idBytes[idBytes.count - 1] == UInt8(ascii: "*"),
            idBytes[idBytes.count - 2] == UInt8(ascii: "-")
        {
            guard let ms = StreamID.parseUnsigned(UnsafeRawBufferPointer(rebasing: idBytes[..<(idBytes.count - 2)]))
            else {
                return context.reply.writeError(Self.invalidID)
            }
            explicitMs = ms
        } else {
            guard let id = Self.idArgument(&context, idIndex, strict: true) else { return }
            guard id != .zero else {
                return context.reply.writeError("ERR The ID specified in XADD must be greater than 0-0")
            }
            explicit = id
        }
        let pairs = FieldValuePairs(context.arguments, from: idIndex + 1)
        Self.withStream(&context, read: false) { context, shard, key, hash, slot, existing in
            if existing == nil && options.noMakeStream { return context.reply.writeNull() }
            let stream = existing ?? StreamPayload()
            let last = stream.lastID
            if last == .max {
                return context.reply.writeError(
                    "ERR The stream has exhausted the last possible ID, unable to add more items")
            }
            let id: StreamID
            if let explicit {
                guard explicit > last else {
                    return context.reply.writeError(
                        "ERR The ID specified in XADD is equal or smaller than the target stream top item")
                }
                id = explicit
            } else if let explicitMs {
                if explicitMs == last.ms {
                    guard last.seq < .max else {
                        return context.reply.writeError(
                            "ERR The ID specified in XADD is equal or smaller than the target stream top item")
                    }
                    id = StreamID(ms: explicitMs, seq: last.seq + 1)
                } else if explicitMs > last.ms {
                    id = StreamID(ms: explicitMs, seq: 0)
                } else {
                    return context.reply.writeError(
                        "ERR The ID specified in XADD is equal or smaller than the target stream top item")
                }
            } else {
                let ms = UInt64(max(context.now, 0))
                id = ms > last.ms ? StreamID(ms: ms, seq: 0) : last.successor!
            }
            if existing == nil { context.store(shard, key, hash: hash, slot: nil, kind: .stream, payload: stream) }
            stream.append(
                id: id, pairs: pairs, maxChunkBytes: context.settings.streamNodeMaxBytes.load(ordering: .relaxed),
                maxChunkEntries: context.settings.streamNodeMaxEntries.load(ordering: .relaxed))
            context.reply.writeStreamID(id)
            var trimmed = 0
            if let strategy = options.strategy {
                trimmed = stream.trim(
                    strategy, approximate: options.approximate, limit: options.effectiveLimit(context.settings))
            }
            let length = stream.length
            let arguments = context.arguments
            context.logEffect { log in
                log.argument("XADD")
                log.argument(key)
                if trimmed > 0 {
                    log.argument("MAXLEN")
                    log.argument("=")
                    log.argument(Int64(length))
                }
                Self.logID(&log, id)
                for index in (idIndex + 1)..<arguments.count { log.argument(arguments[index]) }
            }
            context.notify(KeyspaceEvents.stream, "xadd", key)
            if trimmed > 0 { context.notify(KeyspaceEvents.stream, "xtrim", key) }
            context.signalReady(key)
        }
    }

    static func logID(_ log: inout LogRecordWriter, _ id: StreamID) {
        withUnsafeTemporaryAllocation(byteCount: 48, alignment: 1) { buffer in
            let length = id.format(into: buffer)
            log.argument(UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(buffer)[..<length]))
        }
    }

    // MARK: Reading

    static func xlen(_ context: inout CommandContext) {
        Self.withStream(&context, read: true) { context, _, _, _, _, stream in
            context.reply.writeInteger(stream?.length ?? 0)
        }
    }

    static func xrange(_ context: inout CommandContext, reverse: Bool) {
        guard let start = Self.boundArgument(&context, reverse ? 3 : 2, isEnd: false),
            let end = Self.boundArgument(&context, reverse ? 2 : 3, isEnd: true)
        else { return }
        var count = -1
        if context.arguments.count > 4 {
            guard context.arguments.count == 6, context.arguments[4].equalsIgnoringCase("COUNT") else {
                return context.replySyntaxError()
            }
            guard let value = context.integerArgument(5) else { return }
            count = Int(max(value, 0))
        }
        Self.withStream(&context, read: true) { context, _, _, _, _, stream in
            // COUNT 0 is a null array, as in Redis; a missing key an empty one.
            if count == 0 { return context.reply.writeNullArray() }
            guard let stream else { return context.reply.writeArrayHeader(count: 0) }
            Self.writeRange(&context.reply, stream, from: start, through: end, reverse: reverse, count: count)
        }
    }

    /// The reply of XREAD and XREADGROUP is keyed by stream: a map in RESP3, an array of
    /// `[key, entries]` pairs in RESP2.
    static func writeStreamsHeader(_ reply: inout RESPReplyWriter, count: Int) {
        if reply.version == .resp3 { reply.writeMapHeader(count: count) } else { reply.writeArrayHeader(count: count) }
    }

    static func writeStreamKey(_ reply: inout RESPReplyWriter, _ key: UnsafeRawBufferPointer) {
        if reply.version != .resp3 { reply.writeArrayHeader(count: 2) }
        reply.writeBulkString(key)
    }

    /// Writes the entries of a range as an array (count < 0 or 0: all).
    static func writeRange(
        _ reply: inout RESPReplyWriter, _ stream: StreamPayload, from start: StreamID, through end: StreamID,
        reverse: Bool, count: Int
    ) {
        var entries: [(StreamChunk, StreamChunk.Cursor)] = []
        stream.forEach(from: start, through: end, reverse: reverse) { chunk, cursor in
            entries.append((chunk, cursor))
            return count <= 0 || entries.count < count
        }
        reply.writeArrayHeader(count: entries.count)
        for (chunk, cursor) in entries { Self.writeEntry(&reply, chunk, cursor) }
    }

    // MARK: Deleting and trimming

    static func xdel(_ context: inout CommandContext) {
        var ids: [StreamID] = []
        for index in 2..<context.arguments.count {
            guard let id = Self.idArgument(&context, index, strict: true) else { return }
            ids.append(id)
        }
        Self.withStream(&context, read: false) { context, _, key, _, _, stream in
            guard let stream else { return context.reply.writeInteger(0) }
            var deleted = 0
            for id in ids where stream.delete(id) { deleted += 1 }
            context.reply.writeInteger(deleted)
            if deleted > 0 {
                context.logCommand()
                context.notify(KeyspaceEvents.stream, "xdel", key)
            }
        }
    }

    static func xtrim(_ context: inout CommandContext) {
        guard let (options, _) = Self.parseTrimOptions(&context, from: 2, xadd: false) else { return }
        guard let strategy = options.strategy else {
            return context.reply.writeError("ERR syntax error, XTRIM must be called with a trimming strategy")
        }
        Self.withStream(&context, read: false) { context, _, key, _, _, stream in
            guard let stream else { return context.reply.writeInteger(0) }
            let removed = stream.trim(
                strategy, approximate: options.approximate, limit: options.effectiveLimit(context.settings))
            context.reply.writeInteger(removed)
            guard removed > 0 else { return }
            let length = stream.length
            context.logEffect { log in
                log.argument("XTRIM")
                log.argument(key)
                log.argument("MAXLEN")
                log.argument("=")
                log.argument(Int64(length))
            }
            context.notify(KeyspaceEvents.stream, "xtrim", key)
        }
    }

    // MARK: XSETID

    static func xsetid(_ context: inout CommandContext) {
        guard let id = Self.idArgument(&context, 2, strict: true) else { return }
        var entriesAdded: Int64?
        var maxDeleted: StreamID?
        var index = 3
        while index < context.arguments.count {
            let word = context.arguments[index]
            guard index + 1 < context.arguments.count else { return context.replySyntaxError() }
            if word.equalsIgnoringCase("ENTRIESADDED") {
                guard let value = context.integerArgument(index + 1) else { return }
                guard value >= 0 else { return context.reply.writeError("ERR entries_added must be positive") }
                entriesAdded = value
            } else if word.equalsIgnoringCase("MAXDELETEDID") {
                guard let value = Self.idArgument(&context, index + 1, strict: true) else { return }
                guard id >= value else {
                    return context.reply.writeError(
                        "ERR The ID specified in XSETID is smaller than the provided max_deleted_entry_id")
                }
                maxDeleted = value
            } else {
                return context.replySyntaxError()
            }
            index += 2
        }
        Self.withStream(&context, read: false) { context, _, key, _, _, stream in
            guard let stream else { return context.reply.writeError("ERR no such key") }
            if stream.length > 0 && id < stream.lastEntryID {
                return context.reply.writeError(
                    "ERR The ID specified in XSETID is smaller than the target stream top item")
            }
            if let entriesAdded, entriesAdded < stream.length {
                return context.reply.writeError(
                    "ERR The entries_added specified in XSETID is smaller than the target stream length")
            }
            stream.lastID = id
            if let entriesAdded { stream.entriesAdded = UInt64(entriesAdded) }
            if let maxDeleted { stream.maxDeletedID = maxDeleted }
            context.reply.writeOK()
            context.logCommand()
            context.notify(KeyspaceEvents.stream, "xsetid", key)
        }
    }

    // MARK: XREAD

    /// XREAD's and XREADGROUP's `[COUNT n] [BLOCK ms] [NOACK] STREAMS key… id…`.
    struct ReadOptions {
        var count = 0
        var blockMilliseconds: Int64?
        var noAck = false
        var keyIndices: [Int] = []
        var idIndices: [Int] = []
    }

    static func parseReadOptions(_ context: inout CommandContext, from start: Int, group: Bool) -> ReadOptions? {
        var options = ReadOptions()
        var index = start
        let count = context.arguments.count
        while index < count {
            let word = context.arguments[index]
            if word.equalsIgnoringCase("STREAMS") {
                let streams = count - index - 1
                guard streams > 0, streams % 2 == 0 else {
                    context.reply.writeError(
                        group
                            ? "ERR Unbalanced XREADGROUP list of streams: for each stream key an ID or '>' must be specified."
                            : "ERR Unbalanced XREAD list of streams: for each stream key an ID or '$' must be specified."
                    )
                    return nil
                }
                let keys = streams / 2
                options.keyIndices = Array((index + 1)...(index + keys))
                options.idIndices = Array((index + 1 + keys)...(index + 2 * keys))
                return options
            } else if word.equalsIgnoringCase("COUNT") && index + 1 < count {
                guard let value = context.integerArgument(index + 1) else { return nil }
                options.count = Int(max(value, 0))
                index += 2
            } else if word.equalsIgnoringCase("BLOCK") && index + 1 < count {
                guard let value = DecimalInteger.parse(context.arguments[index + 1]) else {
                    context.reply.writeError("ERR timeout is not an integer or out of range")
                    return nil
                }
                guard value >= 0 else {
                    context.reply.writeError("ERR timeout is negative")
                    return nil
                }
                options.blockMilliseconds = value
                index += 2
            } else if group && word.equalsIgnoringCase("NOACK") {
                options.noAck = true
                index += 1
            } else {
                context.replySyntaxError()
                return nil
            }
        }
        context.replySyntaxError()
        return nil
    }

    static func xread(_ context: inout CommandContext) {
        guard let options = Self.parseReadOptions(&context, from: 1, group: false) else { return }
        // Explicit IDs first, so a bad one errors before anything is read.
        var ids: [StreamID?] = []
        for index in options.idIndices {
            let bytes = context.arguments[index]
            if bytes.count == 1 && bytes[0] == UInt8(ascii: "$") {
                ids.append(nil)
            } else if bytes.count == 1 && bytes[0] == UInt8(ascii: ">") {
                return context.reply.writeError(
                    "ERR The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option."
                )
            } else {
                guard let id = Self.idArgument(&context, index) else { return }
                ids.append(id)
            }
        }
        let database = context.database
        let (selection, hashes) = context.shards(ofKeysAt: options.keyIndices)
        context.lock(selection, in: database)
        defer { context.unlock(selection, in: database) }
        var streams: [StreamPayload?] = []
        for (position, keyIndex) in options.keyIndices.enumerated() {
            let key = context.arguments[keyIndex]
            let shard = database.shard(for: hashes[position])
            guard let located = context.locate(key, hash: hashes[position], in: shard, as: .stream, read: true) else {
                return
            }
            if case .at(let slot) = located {
                let stream = shard.entry(at: slot).payload(as: StreamPayload.self)
                streams.append(stream)
                if ids[position] == nil { ids[position] = stream.lastID }
            } else {
                streams.append(nil)
                if ids[position] == nil { ids[position] = .zero }
            }
        }
        var ready: [Int] = []
        for position in streams.indices {
            guard let stream = streams[position], let after = ids[position]!.successor, stream.hasEntries(from: after)
            else { continue }
            ready.append(position)
        }
        if ready.isEmpty {
            if let block = options.blockMilliseconds, !context.inTransaction {
                return context.block(
                    keys: options.keyIndices, timeout: Double(block) / 1000,
                    operation: .streamRead(ids: ids.map { $0! }, count: options.count))
            }
            return context.reply.writeNullArray()
        }
        Self.writeStreamsHeader(&context.reply, count: ready.count)
        for position in ready {
            Self.writeStreamKey(&context.reply, context.arguments[options.keyIndices[position]])
            Self.writeRange(
                &context.reply, streams[position]!, from: ids[position]!.successor!, through: .max, reverse: false,
                count: options.count)
        }
    }

    /// Serves an XREAD waiter from `key`: the entries after the ID it waits past.
    static func serveRead(
        _ context: inout CommandContext, _ waiter: Waiter, key: UnsafeRawBufferPointer, ids: [StreamID], count: Int,
        reply: inout RESPReplyWriter
    ) -> ServeOutcome {
        guard let position = waiter.keys.firstIndex(where: { $0.withUnsafeBytes { $0.elementsEqual(key) } }),
            let after = ids[position].successor
        else { return .empty }
        let hash = context.hash(key)
        let shard = context.database.shard(for: hash)
        context.lock(shard)
        defer { context.unlock(shard) }
        guard let slot = shard.lookup(key, hash: hash, now: context.now), shard.entry(at: slot).kind == .stream else {
            return .empty
        }
        let stream = shard.entry(at: slot).payload(as: StreamPayload.self)
        guard stream.hasEntries(from: after) else { return .empty }
        guard waiter.claim() else { return .finishedElsewhere }
        Self.writeStreamsHeader(&reply, count: 1)
        Self.writeStreamKey(&reply, key)
        Self.writeRange(&reply, stream, from: after, through: .max, reverse: false, count: count)
        return .served
    }
}
