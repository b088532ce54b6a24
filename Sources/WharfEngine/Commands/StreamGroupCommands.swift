import Atomics
import DequeModule
import NIOCore
import WharfProtocol
import WharfStorage

/// Consumer-group commands: XGROUP, XREADGROUP (blocking too), XACK, XPENDING, XCLAIM and
/// XAUTOCLAIM.
///
/// Effect rule (for the write-ahead log): what a group read did is logged as Redis
/// propagates it — `XCLAIM key group consumer 0 id… TIME <now> RETRYCOUNT 1 FORCE JUSTID`
/// for the entries it put in the pending list and `XGROUP SETID key group <last> ENTRIESREAD
/// <n>` for the group's new position, framed together; a history read as the XCLAIM that
/// bumps the same delivery counters. XGROUP CREATE/SETID log the ID `$` stood for. XACK,
/// XCLAIM, XAUTOCLAIM and the other XGROUP forms are deterministic given the data and the
/// time, and are logged as received.
enum StreamGroupCommands {
    static let declarations: [CommandSpec] = [
        CommandSpec(
            "xgroup", arity: -2, flags: [], acl: [], group: .stream, since: "5.0.0",
            summary: "A container for consumer groups commands.", complexity: "Depends on subcommand.", handler: nil,
            subcommands: [
                CommandSpec(
                    "create", arity: -5, flags: [.write, .denyOOM], keys: KeyPositions(first: 2, last: 2, step: 1),
                    acl: [.stream], group: .stream,
                    since: "5.0.0", summary: "Creates a consumer group.", handler: create),
                CommandSpec(
                    "setid", arity: -5, flags: [.write], keys: KeyPositions(first: 2, last: 2, step: 1), acl: [.stream],
                    group: .stream,
                    since: "5.0.0", summary: "Sets the last-delivered ID of a consumer group.", handler: setID),
                CommandSpec(
                    "destroy", arity: 4, flags: [.write], keys: KeyPositions(first: 2, last: 2, step: 1),
                    acl: [.stream], group: .stream,
                    since: "5.0.0", summary: "Destroys a consumer group.",
                    complexity: "O(N) where N is the number of entries in the group's pending entries list (PEL).",
                    handler: destroy),
                CommandSpec(
                    "createconsumer", arity: 5, flags: [.write, .denyOOM],
                    keys: KeyPositions(first: 2, last: 2, step: 1), acl: [.stream], group: .stream,
                    since: "6.2.0", summary: "Creates a consumer in a consumer group.", handler: createConsumer),
                CommandSpec(
                    "delconsumer", arity: 5, flags: [.write], keys: KeyPositions(first: 2, last: 2, step: 1),
                    acl: [.stream], group: .stream,
                    since: "5.0.0", summary: "Deletes a consumer from a consumer group.", handler: deleteConsumer),
                CommandSpec(
                    "help", arity: 2, flags: [.loading, .stale], acl: [.stream], group: .stream,
                    since: "5.0.0", summary: "Returns helpful text about the different subcommands.", handler: help),
            ]),
        CommandSpec(
            "xreadgroup", arity: -7, flags: [.write, .blocking, .movableKeys], acl: [.stream], group: .stream,
            since: "5.0.0",
            summary:
                "Returns new or historical messages from a stream for a consumer in a group. Blocks until a message is available otherwise.",
            complexity:
                "For each stream mentioned: O(M) with M being the number of elements returned. If M is constant (e.g. always asking for the first 10 elements with COUNT), you can consider it O(1). On the other side when XREADGROUP blocks, XADD will pay the O(N) time in order to serve the N clients blocked on the stream getting new data.",
            handler: xreadgroup),
        CommandSpec(
            "xack", arity: -4, flags: [.write, .fast], keys: .single, acl: [.stream], group: .stream,
            since: "5.0.0",
            summary:
                "Returns the number of messages that were successfully acknowledged by the consumer group member of a stream.",
            complexity: "O(1) for each message ID processed.", handler: xack),
        CommandSpec(
            "xpending", arity: -3, flags: [.readonly], keys: .single, acl: [.stream], group: .stream,
            since: "5.0.0",
            summary: "Returns the information and entries from a stream consumer group's pending entries list.",
            complexity:
                "O(N) with N being the number of elements returned, so asking for a small fixed number of entries per call is O(1). O(M), where M is the total number of entries scanned when used with the IDLE filter. When the command returns just the summary and the list of consumers is small, it runs in O(1) time; otherwise, an additional O(N) time for iterating every consumer.",
            handler: xpending),
        CommandSpec(
            "xclaim", arity: -6, flags: [.write, .fast], keys: .single, acl: [.stream], group: .stream,
            since: "5.0.0",
            summary:
                "Changes, or acquires, ownership of a message in a consumer group, as if the message was delivered a consumer group member.",
            complexity: "O(log N) with N being the number of messages in the PEL of the consumer group.",
            handler: xclaim),
        CommandSpec(
            "xautoclaim", arity: -6, flags: [.write, .fast], keys: .single, acl: [.stream], group: .stream,
            since: "6.2.0",
            summary:
                "Changes, or acquires, ownership of messages in a consumer group, as if the messages were delivered to as consumer group member.",
            complexity: "O(1) if COUNT is small.", handler: xautoclaim),
    ]

    static func help(_ context: inout CommandContext) {
        context.replyHelp(
            command: "XGROUP",
            lines: [
                "CREATE <key> <groupname> <id|$> [option]",
                "    Create a new consumer group. Options are:",
                "    * MKSTREAM",
                "      Create the empty stream if it does not exist.",
                "    * ENTRIESREAD entries_read",
                "      Set the group's entries_read counter (internal use).",
                "CREATECONSUMER <key> <groupname> <consumer>",
                "    Create a new consumer in the specified group.",
                "DELCONSUMER <key> <groupname> <consumer>",
                "    Remove the specified consumer.",
                "DESTROY <key> <groupname>",
                "    Remove the specified group.",
                "SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]",
                "    Set the current group ID and entries_read counter.",
            ])
    }

    // MARK: XGROUP

    private static let keyRequired =
        "ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically."

    private static func noGroup(
        _ context: inout CommandContext, group: UnsafeRawBufferPointer, key: UnsafeRawBufferPointer
    ) {
        context.reply.writeError(
            "NOGROUP No such consumer group '\(String(decoding: group, as: UTF8.self))' for key name '\(String(decoding: key, as: UTF8.self))'"
        )
    }

    /// Redis's error for a stream or group that is not there (XPENDING, XCLAIM, XAUTOCLAIM,
    /// XREADGROUP with `suffix`).
    private static func noKeyOrGroup(
        _ context: inout CommandContext, key: UnsafeRawBufferPointer, group: UnsafeRawBufferPointer, suffix: String = ""
    ) {
        context.reply.writeError(
            "NOGROUP No such key '\(String(decoding: key, as: UTF8.self))' or consumer group '\(String(decoding: group, as: UTF8.self))'\(suffix)"
        )
    }

    /// Runs `body` with the stream at argument 2 (XGROUP's key) locked.
    private static func withGroupKey(
        _ context: inout CommandContext,
        _ body: (inout CommandContext, Shard, UnsafeRawBufferPointer, UInt64, StreamPayload?) -> Void
    ) {
        context.withTypedKey(.stream, argument: 2, read: false) { context, shard, key, hash, slot in
            body(&context, shard, key, hash, slot.map { shard.mutableEntry(at: $0).payload(as: StreamPayload.self) })
        }
    }

    /// `ENTRIESREAD n` at `index` (the only option left), or nil after the error.
    private static func entriesReadOption(_ context: inout CommandContext, from index: Int, allowMakeStream: Bool) -> (
        entriesRead: Int64, makeStream: Bool
    )? {
        var entriesRead = StreamGroup.unknownEntriesRead
        var makeStream = false
        var position = index
        while position < context.arguments.count {
            let word = context.arguments[position]
            if allowMakeStream && word.equalsIgnoringCase("MKSTREAM") {
                makeStream = true
                position += 1
            } else if word.equalsIgnoringCase("ENTRIESREAD") && position + 1 < context.arguments.count {
                guard let value = context.integerArgument(position + 1) else { return nil }
                guard value >= -1 else {
                    context.reply.writeError("ERR value for ENTRIESREAD must be positive or -1")
                    return nil
                }
                entriesRead = value
                position += 2
            } else {
                context.replySyntaxError()
                return nil
            }
        }
        return (entriesRead, makeStream)
    }

    /// The group position argument at 4: an ID or `$` (nil ID).
    private static func positionArgument(_ context: inout CommandContext) -> StreamID?? {
        let bytes = context.arguments[4]
        if bytes.count == 1 && bytes[0] == UInt8(ascii: "$") { return .some(nil) }
        guard let id = StreamCommands.idArgument(&context, 4) else { return nil }
        return .some(id)
    }

    private static func logPosition(
        _ context: inout CommandContext, _ word: StaticString, key: UnsafeRawBufferPointer,
        group: UnsafeRawBufferPointer, id: StreamID, entriesRead: Int64, makeStream: Bool
    ) {
        context.logEffect { log in
            log.argument("XGROUP")
            log.argument(word)
            log.argument(key)
            log.argument(group)
            StreamCommands.logID(&log, id)
            if makeStream { log.argument("MKSTREAM") }
            log.argument("ENTRIESREAD")
            log.argument(entriesRead)
        }
    }

    static func create(_ context: inout CommandContext) {
        guard let position = Self.positionArgument(&context),
            let (entriesRead, makeStream) = Self.entriesReadOption(&context, from: 5, allowMakeStream: true)
        else { return }
        let groupName = context.arguments[3]
        Self.withGroupKey(&context) { context, shard, key, hash, existing in
            guard existing != nil || makeStream else { return context.reply.writeError(Self.keyRequired) }
            let stream = existing ?? StreamPayload()
            let id = position ?? stream.lastID
            guard stream.group(groupName) == nil else {
                return context.reply.writeError("BUSYGROUP Consumer Group name already exists")
            }
            if existing == nil { context.store(shard, key, hash: hash, slot: nil, kind: .stream, payload: stream) }
            _ = stream.addGroup(StreamGroup(name: Array(groupName), lastDeliveredID: id, entriesRead: entriesRead))
            context.reply.writeOK()
            Self.logPosition(
                &context, "CREATE", key: key, group: groupName, id: id, entriesRead: entriesRead,
                makeStream: existing == nil)
            context.notify(KeyspaceEvents.stream, "xgroup-create", key)
        }
    }

    static func setID(_ context: inout CommandContext) {
        guard let position = Self.positionArgument(&context),
            let (entriesRead, _) = Self.entriesReadOption(&context, from: 5, allowMakeStream: false)
        else { return }
        let groupName = context.arguments[3]
        Self.withGroup(&context) { context, key, stream, group in
            let id = position ?? stream.lastID
            group.lastDeliveredID = id
            group.entriesRead = entriesRead
            context.reply.writeOK()
            Self.logPosition(
                &context, "SETID", key: key, group: groupName, id: id, entriesRead: entriesRead, makeStream: false)
            context.notify(KeyspaceEvents.stream, "xgroup-setid", key)
        }
    }

    static func destroy(_ context: inout CommandContext) {
        let groupName = context.arguments[3]
        Self.withGroupKey(&context) { context, _, key, _, stream in
            guard let stream else { return context.reply.writeError(Self.keyRequired) }
            guard stream.removeGroup(groupName) else { return context.reply.writeInteger(0) }
            context.reply.writeInteger(1)
            context.logCommand()
            context.notify(KeyspaceEvents.stream, "xgroup-destroy", key)
            // Readers blocked on the group learn it is gone.
            context.signalReady(key)
        }
    }

    /// Runs `body` with the group named at argument 3 of the stream at argument 2, or replies
    /// the error for a missing stream or group.
    private static func withGroup(
        _ context: inout CommandContext,
        _ body: (inout CommandContext, UnsafeRawBufferPointer, StreamPayload, StreamGroup) -> Void
    ) {
        let groupName = context.arguments[3]
        Self.withGroupKey(&context) { context, _, key, _, stream in
            guard let stream else { return context.reply.writeError(Self.keyRequired) }
            guard let group = stream.group(groupName) else { return Self.noGroup(&context, group: groupName, key: key) }
            body(&context, key, stream, group)
        }
    }

    static func createConsumer(_ context: inout CommandContext) {
        let consumerName = context.arguments[4]
        Self.withGroup(&context) { context, key, _, group in
            var created = false
            _ = group.consumer(Array(consumerName), now: context.now, created: &created)
            context.reply.writeInteger(created ? 1 : 0)
            guard created else { return }
            context.logCommand()
            context.notify(KeyspaceEvents.stream, "xgroup-createconsumer", key)
        }
    }

    static func deleteConsumer(_ context: inout CommandContext) {
        let consumerName = context.arguments[4]
        Self.withGroup(&context) { context, key, _, group in
            guard let pending = group.removeConsumer(Array(consumerName)) else { return context.reply.writeInteger(0) }
            context.reply.writeInteger(pending)
            context.logCommand()
            context.notify(KeyspaceEvents.stream, "xgroup-delconsumer", key)
        }
    }

    // MARK: XREADGROUP

    static func xreadgroup(_ context: inout CommandContext) {
        guard context.arguments[1].equalsIgnoringCase("GROUP") else { return context.replySyntaxError() }
        guard let options = StreamCommands.parseReadOptions(&context, from: 4, group: true) else { return }
        let groupName = context.arguments[2]
        let consumerName = Array(context.arguments[3])
        var ids: [StreamID?] = []  // nil: `>`
        for index in options.idIndices {
            let bytes = context.arguments[index]
            if bytes.count == 1 && bytes[0] == UInt8(ascii: ">") {
                ids.append(nil)
            } else if bytes.count == 1 && bytes[0] == UInt8(ascii: "$") {
                return context.reply.writeError(
                    "ERR The $ ID is meaningless in the context of XREADGROUP: you want to read the history of this consumer by specifying a proper ID, or use the > ID to get new messages. The $ ID would just return an empty result set."
                )
            } else {
                guard let id = StreamCommands.idArgument(&context, index) else { return }
                ids.append(id)
            }
        }
        let database = context.database
        let (selection, hashes) = context.shards(ofKeysAt: options.keyIndices)
        context.lock(selection, in: database)
        defer { context.unlock(selection, in: database) }
        // Every stream and group must exist before anything is read.
        var targets: [(StreamPayload, StreamGroup)] = []
        for (position, keyIndex) in options.keyIndices.enumerated() {
            let key = context.arguments[keyIndex]
            let shard = database.shard(for: hashes[position])
            guard let located = context.locate(key, hash: hashes[position], in: shard, as: .stream) else { return }
            guard case .at(let slot) = located,
                case let stream = shard.mutableEntry(at: slot).payload(as: StreamPayload.self),
                let group = stream.group(groupName)
            else {
                return Self.noKeyOrGroup(
                    &context, key: key, group: groupName, suffix: " in XREADGROUP with GROUP option")
            }
            targets.append((stream, group))
        }
        // Reads into a scratch writer first: a `>` read with nothing new is left out, and
        // when no stream has anything the command blocks instead.
        var body = RESPReplyWriter(buffer: ByteBuffer(), version: context.reply.version)
        var replied = 0
        for (position, keyIndex) in options.keyIndices.enumerated() {
            let key = context.arguments[keyIndex]
            let (stream, group) = targets[position]
            let consumer = Self.touchConsumer(&context, group, name: consumerName, key: key, groupName: groupName)
            if let id = ids[position] {
                StreamCommands.writeStreamKey(&body, key)
                Self.readHistory(
                    &context, stream, group, consumer, after: id, count: options.count, key: key, groupName: groupName,
                    into: &body)
                replied += 1
            } else if stream.hasEntries(from: group.lastDeliveredID.successor ?? .max), group.lastDeliveredID != .max {
                StreamCommands.writeStreamKey(&body, key)
                Self.deliverNew(
                    &context, stream, group, consumer, count: options.count, noAck: options.noAck, key: key,
                    groupName: groupName, into: &body)
                replied += 1
            }
        }
        if replied == 0 {
            if let block = options.blockMilliseconds, !context.inTransaction {
                return context.block(
                    keys: options.keyIndices, timeout: Double(block) / 1000,
                    operation: .streamGroupRead(
                        group: Array(groupName), consumer: consumerName, count: options.count, noAck: options.noAck))
            }
            return context.reply.writeNullArray()
        }
        StreamCommands.writeStreamsHeader(&context.reply, count: replied)
        context.reply.buffer.writeImmutableBuffer(body.buffer)
    }

    /// The consumer, created if needed (logged as XGROUP CREATECONSUMER), seen now.
    private static func touchConsumer(
        _ context: inout CommandContext, _ group: StreamGroup, name: [UInt8], key: UnsafeRawBufferPointer,
        groupName: UnsafeRawBufferPointer
    ) -> StreamConsumer {
        var created = false
        let consumer = group.consumer(name, now: context.now, created: &created)
        consumer.seenTime = context.now
        if created {
            context.logEffect { log in
                log.argument("XGROUP")
                log.argument("CREATECONSUMER")
                log.argument(key)
                log.argument(groupName)
                name.withUnsafeBytes { log.argument($0) }
            }
            context.notify(KeyspaceEvents.stream, "xgroup-createconsumer", key)
        }
        return consumer
    }

    /// Delivers the entries after the group's position to `consumer` (`>`), writing them.
    static func deliverNew(
        _ context: inout CommandContext, _ stream: StreamPayload, _ group: StreamGroup, _ consumer: StreamConsumer,
        count: Int, noAck: Bool, key: UnsafeRawBufferPointer, groupName: UnsafeRawBufferPointer,
        into reply: inout RESPReplyWriter
    ) {
        var entries: [(StreamChunk, StreamChunk.Cursor)] = []
        if let start = group.lastDeliveredID.successor {
            stream.forEach(from: start, through: .max) { chunk, cursor in
                entries.append((chunk, cursor))
                return count <= 0 || entries.count < count
            }
        }
        reply.writeArrayHeader(count: entries.count)
        for (chunk, cursor) in entries {
            StreamCommands.writeEntry(&reply, chunk, cursor)
            stream.advance(group, to: cursor.id)
            if !noAck { group.assign(cursor.id, to: consumer, now: context.now, deliveryCount: 1) }
        }
        guard !entries.isEmpty else { return }
        // Active means entries were read into the pending list (so not with NOACK).
        if !noAck { consumer.activeTime = context.now }
        let now = context.now
        let last = group.lastDeliveredID
        let entriesRead = group.entriesRead
        context.logTogether { context in
            if !noAck {
                context.logEffect { log in
                    log.argument("XCLAIM")
                    log.argument(key)
                    log.argument(groupName)
                    consumer.name.withUnsafeBytes { log.argument($0) }
                    log.argument("0")
                    for (_, cursor) in entries { StreamCommands.logID(&log, cursor.id) }
                    log.argument("TIME")
                    log.argument(now)
                    log.argument("RETRYCOUNT")
                    log.argument("1")
                    log.argument("FORCE")
                    log.argument("JUSTID")
                }
            }
            context.logEffect { log in
                log.argument("XGROUP")
                log.argument("SETID")
                log.argument(key)
                log.argument(groupName)
                StreamCommands.logID(&log, last)
                log.argument("ENTRIESREAD")
                log.argument(entriesRead)
            }
        }
    }

    /// Replies the consumer's pending entries after `start` (a deleted entry as `[id, nil]`)
    /// and counts the delivery of the ones that still exist.
    private static func readHistory(
        _ context: inout CommandContext, _ stream: StreamPayload, _ group: StreamGroup, _ consumer: StreamConsumer,
        after start: StreamID, count: Int, key: UnsafeRawBufferPointer, groupName: UnsafeRawBufferPointer,
        into reply: inout RESPReplyWriter
    ) {
        var index = start.successor.map { consumer.pending.lowerBound($0) } ?? consumer.pending.count
        var listed: [StreamID] = []
        while index < consumer.pending.count && (count <= 0 || listed.count < count) {
            listed.append(consumer.pending.ids[index])
            index += 1
        }
        reply.writeArrayHeader(count: listed.count)
        var delivered: [StreamID] = []
        for id in listed {
            if let (chunk, cursor) = stream.entry(id) {
                StreamCommands.writeEntry(&reply, chunk, cursor)
                if let pending = consumer.pending[id] {
                    pending.deliveryTime = context.now
                    pending.deliveryCount += 1
                }
                delivered.append(id)
            } else {
                reply.writeArrayHeader(count: 2)
                reply.writeStreamID(id)
                reply.writeNullArray()
            }
        }
        guard !delivered.isEmpty else { return }
        let now = context.now
        context.logEffect { log in
            log.argument("XCLAIM")
            log.argument(key)
            log.argument(groupName)
            consumer.name.withUnsafeBytes { log.argument($0) }
            log.argument("0")
            for id in delivered { StreamCommands.logID(&log, id) }
            log.argument("TIME")
            log.argument(now)
        }
    }

    /// Serves an XREADGROUP waiter from `key`.
    static func serveGroupRead(
        _ context: inout CommandContext, _ waiter: Waiter, key: UnsafeRawBufferPointer, group groupName: [UInt8],
        consumer consumerName: [UInt8],
        count: Int, noAck: Bool, reply: inout RESPReplyWriter
    ) -> ServeOutcome {
        let hash = context.hash(key)
        let shard = context.database.shard(for: hash)
        context.lock(shard)
        defer { context.unlock(shard) }
        let slot = shard.lookup(key, hash: hash, now: context.now)
        let stream = slot.flatMap {
            shard.entry(at: $0).kind == .stream ? shard.mutableEntry(at: $0).payload(as: StreamPayload.self) : nil
        }
        // Served only after a change to the key, so a missing stream was deleted, and a missing
        // group destroyed: the reader learns which, as in Redis.
        guard let stream else {
            guard waiter.claim() else { return .finishedElsewhere }
            reply.writeError("UNBLOCKED the stream key no longer exists")
            return .served
        }
        guard let group = groupName.withUnsafeBytes({ stream.group($0) }) else {
            guard waiter.claim() else { return .finishedElsewhere }
            reply.writeError("NOGROUP the consumer group this client was blocked on no longer exists")
            return .served
        }
        guard group.lastDeliveredID != .max, stream.hasEntries(from: group.lastDeliveredID.successor!) else {
            return .empty
        }
        guard waiter.claim() else { return .finishedElsewhere }
        groupName.withUnsafeBytes { groupBytes in
            let consumer = Self.touchConsumer(&context, group, name: consumerName, key: key, groupName: groupBytes)
            StreamCommands.writeStreamsHeader(&reply, count: 1)
            StreamCommands.writeStreamKey(&reply, key)
            Self.deliverNew(
                &context, stream, group, consumer, count: count, noAck: noAck, key: key, groupName: groupBytes,
                into: &reply)
        }
        return .served
    }

    // MARK: XACK

    static func xack(_ context: inout CommandContext) {
        var ids: [StreamID] = []
        for index in 3..<context.arguments.count {
            guard let id = StreamCommands.idArgument(&context, index, strict: true) else { return }
            ids.append(id)
        }
        let groupName = context.arguments[2]
        StreamCommands.withStream(&context, read: false) { context, _, _, _, _, stream in
            guard let group = stream?.group(groupName) else { return context.reply.writeInteger(0) }
            var acknowledged = 0
            for id in ids where group.acknowledge(id) { acknowledged += 1 }
            context.reply.writeInteger(acknowledged)
            if acknowledged > 0 { context.logCommand() }
        }
    }

    // MARK: XPENDING

    static func xpending(_ context: inout CommandContext) {
        let argumentCount = context.arguments.count
        guard argumentCount == 3 || argumentCount >= 6 else { return context.replySyntaxError() }
        var minimumIdle: Int64 = 0
        var index = 3
        var start = StreamID.zero
        var end = StreamID.max
        var count = 0
        var consumerName: UnsafeRawBufferPointer?
        if argumentCount >= 6 {
            if context.arguments[3].equalsIgnoringCase("IDLE") {
                guard argumentCount >= 8 else { return context.replySyntaxError() }
                guard let value = context.integerArgument(4) else { return }
                minimumIdle = value
                index = 5
            }
            guard argumentCount - index <= 4 else { return context.replySyntaxError() }
            guard let first = StreamCommands.boundArgument(&context, index, isEnd: false),
                let last = StreamCommands.boundArgument(&context, index + 1, isEnd: true),
                let limit = context.integerArgument(index + 2)
            else { return }
            start = first
            end = last
            count = Int(max(limit, 0))
            if index + 3 < argumentCount { consumerName = context.arguments[index + 3] }
        }
        let groupName = context.arguments[2]
        StreamCommands.withStream(&context, read: true) { context, _, key, _, _, stream in
            guard let group = stream?.group(groupName) else {
                return Self.noKeyOrGroup(&context, key: key, group: groupName)
            }
            if argumentCount == 3 {
                return Self.writePendingSummary(&context.reply, group)
            }
            var pending = group.pending
            if let consumerName {
                guard let consumer = group.consumers[Array(consumerName)] else {
                    return context.reply.writeArrayHeader(count: 0)
                }
                pending = consumer.pending
            }
            var rows: [(StreamID, PendingEntry)] = []
            var position = pending.lowerBound(start)
            while position < pending.count && rows.count < count {
                let id = pending.ids[position]
                if id > end { break }
                let entry = pending.values[position]
                if minimumIdle == 0 || context.now - entry.deliveryTime >= minimumIdle { rows.append((id, entry)) }
                position += 1
            }
            context.reply.writeArrayHeader(count: rows.count)
            for (id, entry) in rows {
                context.reply.writeArrayHeader(count: 4)
                context.reply.writeStreamID(id)
                context.reply.writeBulkString(entry.consumer.name)
                context.reply.writeInteger(max(context.now - entry.deliveryTime, 0))
                context.reply.writeInteger(entry.deliveryCount)
            }
        }
    }

    private static func writePendingSummary(_ reply: inout RESPReplyWriter, _ group: StreamGroup) {
        reply.writeArrayHeader(count: 4)
        reply.writeInteger(group.pending.count)
        guard let first = group.pending.ids.first, let last = group.pending.ids.last else {
            reply.writeNull()
            reply.writeNull()
            reply.writeNullArray()
            return
        }
        reply.writeStreamID(first)
        reply.writeStreamID(last)
        let holders = group.sortedConsumers.filter { !$0.pending.isEmpty }
        reply.writeArrayHeader(count: holders.count)
        for consumer in holders {
            reply.writeArrayHeader(count: 2)
            reply.writeBulkString(consumer.name)
            reply.writeBulkInteger(Int64(consumer.pending.count))
        }
    }

    // MARK: XCLAIM and XAUTOCLAIM

    static func xclaim(_ context: inout CommandContext) {
        guard let minimumIdleValue = DecimalInteger.parse(context.arguments[4]) else {
            return context.reply.writeError("ERR Invalid min-idle-time argument for XCLAIM")
        }
        let minimumIdle = max(minimumIdleValue, 0)
        var ids: [StreamID] = []
        var index = 5
        while index < context.arguments.count, let id = StreamID.parse(context.arguments[index], strict: true) {
            ids.append(id)
            index += 1
        }
        var deliveryTime: Int64?
        var retryCount: Int64?
        var force = false
        var justID = false
        var lastID: StreamID?
        while index < context.arguments.count {
            let word = context.arguments[index]
            let hasValue = index + 1 < context.arguments.count
            if word.equalsIgnoringCase("FORCE") {
                force = true
            } else if word.equalsIgnoringCase("JUSTID") {
                justID = true
            } else if word.equalsIgnoringCase("IDLE") && hasValue {
                index += 1
                guard let value = DecimalInteger.parse(context.arguments[index]) else {
                    return context.reply.writeError("ERR Invalid IDLE option argument for XCLAIM")
                }
                deliveryTime = context.now - value
            } else if word.equalsIgnoringCase("TIME") && hasValue {
                index += 1
                guard let value = DecimalInteger.parse(context.arguments[index]) else {
                    return context.reply.writeError("ERR Invalid TIME option argument for XCLAIM")
                }
                deliveryTime = value
            } else if word.equalsIgnoringCase("RETRYCOUNT") && hasValue {
                index += 1
                guard let value = DecimalInteger.parse(context.arguments[index]) else {
                    return context.reply.writeError("ERR Invalid RETRYCOUNT option argument for XCLAIM")
                }
                retryCount = value
            } else if word.equalsIgnoringCase("LASTID") && hasValue {
                index += 1
                guard let id = StreamCommands.idArgument(&context, index, strict: true) else { return }
                lastID = id
            } else {
                return context.reply.writeError(
                    "ERR Unrecognized XCLAIM option '\(String(decoding: word, as: UTF8.self))'")
            }
            index += 1
        }
        let now = context.now
        var time = deliveryTime ?? now
        if time < 0 || time > now { time = now }
        let groupName = context.arguments[2]
        let consumerName = Array(context.arguments[3])
        StreamCommands.withStream(&context, read: false) { context, _, key, _, _, stream in
            guard let stream, let group = stream.group(groupName) else {
                return Self.noKeyOrGroup(&context, key: key, group: groupName)
            }
            var changed = false
            if let lastID, lastID > group.lastDeliveredID {
                group.lastDeliveredID = lastID
                changed = true
            }
            var consumer: StreamConsumer?
            var claimed: [StreamID] = []
            // A claim from another consumer (or a forced one) makes the claimer active; its own
            // entries claimed again do not, so the XCLAIM that records a history read (see the
            // effect rule) leaves the consumer's activity as the read did.
            var taken = force
            for id in ids {
                guard stream.entry(id) != nil else {
                    // The entry is gone: drop it from the pending list, as Redis 7 does.
                    if group.acknowledge(id) { changed = true }
                    continue
                }
                let existing = group.pending[id]
                if existing == nil && !force { continue }
                if let existing, minimumIdle > 0, now - existing.deliveryTime < minimumIdle { continue }
                if consumer == nil {
                    var created = false
                    consumer = group.consumer(consumerName, now: now, created: &created)
                }
                if existing?.consumer !== consumer { taken = true }
                let count = retryCount ?? ((existing?.deliveryCount ?? 0) + (justID ? 0 : 1))
                group.assign(id, to: consumer!, now: time, deliveryCount: count)
                claimed.append(id)
                changed = true
            }
            if let consumer {
                consumer.seenTime = now
                if !claimed.isEmpty && taken { consumer.activeTime = now }
            }
            context.reply.writeArrayHeader(count: claimed.count)
            for id in claimed {
                if justID {
                    context.reply.writeStreamID(id)
                } else if let (chunk, cursor) = stream.entry(id) {
                    StreamCommands.writeEntry(&context.reply, chunk, cursor)
                }
            }
            if changed { context.logCommand() }
        }
    }

    static func xautoclaim(_ context: inout CommandContext) {
        guard let minimumIdleValue = DecimalInteger.parse(context.arguments[4]) else {
            return context.reply.writeError("ERR Invalid min-idle-time argument for XAUTOCLAIM")
        }
        let minimumIdle = max(minimumIdleValue, 0)
        guard let start = StreamCommands.boundArgument(&context, 5, isEnd: false) else { return }
        var count = 100
        var justID = false
        var index = 6
        while index < context.arguments.count {
            let word = context.arguments[index]
            if word.equalsIgnoringCase("JUSTID") {
                justID = true
                index += 1
            } else if word.equalsIgnoringCase("COUNT") && index + 1 < context.arguments.count {
                guard let value = context.integerArgument(index + 1) else { return }
                guard value >= 1, value <= Int64.max / 10 else {
                    return context.reply.writeError("ERR COUNT must be > 0")
                }
                count = Int(value)
                index += 2
            } else {
                return context.replySyntaxError()
            }
        }
        let now = context.now
        let groupName = context.arguments[2]
        let consumerName = Array(context.arguments[3])
        StreamCommands.withStream(&context, read: false) { context, _, key, _, _, stream in
            guard let stream, let group = stream.group(groupName) else {
                return Self.noKeyOrGroup(&context, key: key, group: groupName)
            }
            var attempts = count * 10
            var remaining = count
            var position = group.pending.lowerBound(start)
            var claimed: [StreamID] = []
            var deleted: [StreamID] = []
            var consumer: StreamConsumer?
            while attempts > 0 && remaining > 0 && position < group.pending.count {
                attempts -= 1
                let id = group.pending.ids[position]
                let entry = group.pending.values[position]
                if stream.entry(id) == nil {
                    group.acknowledge(id)
                    deleted.append(id)
                    continue
                }
                position += 1
                if minimumIdle > 0 && now - entry.deliveryTime < minimumIdle { continue }
                if consumer == nil {
                    var created = false
                    consumer = group.consumer(consumerName, now: now, created: &created)
                }
                group.assign(id, to: consumer!, now: now, deliveryCount: entry.deliveryCount + (justID ? 0 : 1))
                claimed.append(id)
                remaining -= 1
            }
            if let consumer {
                consumer.seenTime = now
                if !claimed.isEmpty { consumer.activeTime = now }
            }
            context.reply.writeArrayHeader(count: 3)
            if position < group.pending.count {
                context.reply.writeStreamID(group.pending.ids[position])
            } else {
                context.reply.writeStreamID(.zero)
            }
            context.reply.writeArrayHeader(count: claimed.count)
            for id in claimed {
                if justID {
                    context.reply.writeStreamID(id)
                } else if let (chunk, cursor) = stream.entry(id) {
                    StreamCommands.writeEntry(&context.reply, chunk, cursor)
                }
            }
            context.reply.writeArrayHeader(count: deleted.count)
            for id in deleted { context.reply.writeStreamID(id) }
            if !claimed.isEmpty || !deleted.isEmpty { context.logCommand() }
        }
    }
}
