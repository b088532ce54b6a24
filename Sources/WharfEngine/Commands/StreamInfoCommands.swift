import DequeModule
import WharfProtocol

/// XINFO STREAM (and FULL), GROUPS and CONSUMERS. Read-only: nothing is logged.
enum StreamInfoCommands {
    static let declarations: [CommandSpec] = [
        CommandSpec(
            "xinfo", arity: -2, flags: [], acl: [], group: .stream, since: "5.0.0",
            summary: "A container for stream introspection commands.", complexity: "Depends on subcommand.",
            handler: nil,
            subcommands: [
                CommandSpec(
                    "stream", arity: -3, flags: [.readonly], keys: KeyPositions(first: 2, last: 2, step: 1),
                    acl: [.stream], group: .stream,
                    since: "5.0.0", summary: "Returns information about a stream.", handler: stream),
                CommandSpec(
                    "groups", arity: 3, flags: [.readonly], keys: KeyPositions(first: 2, last: 2, step: 1),
                    acl: [.stream], group: .stream,
                    since: "5.0.0", summary: "Returns a list of the consumer groups of a stream.", handler: groups),
                CommandSpec(
                    "consumers", arity: 4, flags: [.readonly], keys: KeyPositions(first: 2, last: 2, step: 1),
                    acl: [.stream], group: .stream,
                    since: "5.0.0", summary: "Returns a list of the consumers in a consumer group.", handler: consumers),
                CommandSpec(
                    "help", arity: 2, flags: [.loading, .stale], acl: [.stream], group: .stream,
                    since: "5.0.0", summary: "Returns helpful text about the different subcommands.", handler: help),
            ])
    ]

    static func help(_ context: inout CommandContext) {
        context.replyHelp(
            command: "XINFO",
            lines: [
                "CONSUMERS <key> <groupname>",
                "    Show consumers of <groupname>.",
                "GROUPS <key>",
                "    Show the stream consumer groups.",
                "STREAM <key> [FULL [COUNT <count>]",
                "    Show information about the stream.",
            ])
    }

    /// Runs `body` with the stream at argument 2, or replies `ERR no such key`.
    private static func withStream(
        _ context: inout CommandContext, _ body: (inout CommandContext, UnsafeRawBufferPointer, StreamPayload) -> Void
    ) {
        context.withTypedKey(.stream, argument: 2, read: true) { context, shard, key, _, slot in
            guard let slot else { return context.reply.writeError("ERR no such key") }
            body(&context, key, shard.entry(at: slot).payload(as: StreamPayload.self))
        }
    }

    private static func field(_ reply: inout RESPReplyWriter, _ name: StaticString) {
        reply.writeBulkString(UnsafeRawBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount))
    }

    static func stream(_ context: inout CommandContext) {
        var full = false
        var count = 10
        if context.arguments.count > 3 {
            guard context.arguments[3].equalsIgnoringCase("FULL") else { return context.replySyntaxError() }
            full = true
            if context.arguments.count > 4 {
                guard context.arguments.count == 6, context.arguments[4].equalsIgnoringCase("COUNT") else {
                    return context.replySyntaxError()
                }
                guard let value = context.integerArgument(5) else { return }
                count = Int(max(value, 0))
            }
        }
        Self.withStream(&context) { context, _, stream in
            context.reply.writeMapHeader(count: full ? 9 : 10)
            Self.field(&context.reply, "length")
            context.reply.writeInteger(stream.length)
            Self.field(&context.reply, "radix-tree-keys")
            context.reply.writeInteger(stream.chunks.count)
            Self.field(&context.reply, "radix-tree-nodes")
            context.reply.writeInteger(stream.chunks.count + 1)
            Self.field(&context.reply, "last-generated-id")
            context.reply.writeStreamID(stream.lastID)
            Self.field(&context.reply, "max-deleted-entry-id")
            context.reply.writeStreamID(stream.maxDeletedID)
            Self.field(&context.reply, "entries-added")
            context.reply.writeInteger(Int64(stream.entriesAdded))
            Self.field(&context.reply, "recorded-first-entry-id")
            context.reply.writeStreamID(stream.firstID)
            if !full {
                Self.field(&context.reply, "groups")
                context.reply.writeInteger(stream.groups.count)
                Self.field(&context.reply, "first-entry")
                Self.writeEdgeEntry(&context.reply, stream, last: false)
                Self.field(&context.reply, "last-entry")
                Self.writeEdgeEntry(&context.reply, stream, last: true)
                return
            }
            Self.field(&context.reply, "entries")
            StreamCommands.writeRange(&context.reply, stream, from: .zero, through: .max, reverse: false, count: count)
            Self.field(&context.reply, "groups")
            context.reply.writeArrayHeader(count: stream.groups.count)
            for group in stream.groups {
                context.reply.writeMapHeader(count: 7)
                Self.field(&context.reply, "name")
                context.reply.writeBulkString(group.name)
                Self.field(&context.reply, "last-delivered-id")
                context.reply.writeStreamID(group.lastDeliveredID)
                Self.writeCounters(&context.reply, stream, group)
                Self.field(&context.reply, "pel-count")
                context.reply.writeInteger(group.pending.count)
                Self.field(&context.reply, "pending")
                let listed = count == 0 ? group.pending.count : min(count, group.pending.count)
                context.reply.writeArrayHeader(count: listed)
                for index in 0..<listed {
                    let entry = group.pending.values[index]
                    context.reply.writeArrayHeader(count: 4)
                    context.reply.writeStreamID(group.pending.ids[index])
                    context.reply.writeBulkString(entry.consumer.name)
                    context.reply.writeInteger(entry.deliveryTime)
                    context.reply.writeInteger(entry.deliveryCount)
                }
                let consumers = group.sortedConsumers
                Self.field(&context.reply, "consumers")
                context.reply.writeArrayHeader(count: consumers.count)
                for consumer in consumers {
                    context.reply.writeMapHeader(count: 5)
                    Self.field(&context.reply, "name")
                    context.reply.writeBulkString(consumer.name)
                    Self.field(&context.reply, "seen-time")
                    context.reply.writeInteger(consumer.seenTime)
                    Self.field(&context.reply, "active-time")
                    context.reply.writeInteger(consumer.activeTime)
                    Self.field(&context.reply, "pel-count")
                    context.reply.writeInteger(consumer.pending.count)
                    Self.field(&context.reply, "pending")
                    let own = count == 0 ? consumer.pending.count : min(count, consumer.pending.count)
                    context.reply.writeArrayHeader(count: own)
                    for index in 0..<own {
                        let entry = consumer.pending.values[index]
                        context.reply.writeArrayHeader(count: 3)
                        context.reply.writeStreamID(consumer.pending.ids[index])
                        context.reply.writeInteger(entry.deliveryTime)
                        context.reply.writeInteger(entry.deliveryCount)
                    }
                }
            }
        }
    }

    /// The first or last entry, or nil.
    private static func writeEdgeEntry(_ reply: inout RESPReplyWriter, _ stream: StreamPayload, last: Bool) {
        var found = false
        stream.forEach(from: .zero, through: .max, reverse: last) { chunk, cursor in
            StreamCommands.writeEntry(&reply, chunk, cursor)
            found = true
            return false
        }
        if !found { reply.writeNull() }
    }

    /// `entries-read` and `lag`, nil where Redis cannot know them.
    private static func writeCounters(_ reply: inout RESPReplyWriter, _ stream: StreamPayload, _ group: StreamGroup) {
        Self.field(&reply, "entries-read")
        if group.entriesRead == StreamGroup.unknownEntriesRead {
            reply.writeNull()
        } else {
            reply.writeInteger(group.entriesRead)
        }
        Self.field(&reply, "lag")
        if let lag = stream.lag(of: group) { reply.writeInteger(lag) } else { reply.writeNull() }
    }

    static func groups(_ context: inout CommandContext) {
        Self.withStream(&context) { context, _, stream in
            context.reply.writeArrayHeader(count: stream.groups.count)
            for group in stream.groups {
                context.reply.writeMapHeader(count: 6)
                Self.field(&context.reply, "name")
                context.reply.writeBulkString(group.name)
                Self.field(&context.reply, "consumers")
                context.reply.writeInteger(group.consumers.count)
                Self.field(&context.reply, "pending")
                context.reply.writeInteger(group.pending.count)
                Self.field(&context.reply, "last-delivered-id")
                context.reply.writeStreamID(group.lastDeliveredID)
                Self.writeCounters(&context.reply, stream, group)
            }
        }
    }

    static func consumers(_ context: inout CommandContext) {
        let groupName = context.arguments[3]
        Self.withStream(&context) { context, key, stream in
            guard let group = stream.group(groupName) else {
                return context.reply.writeError(
                    "NOGROUP No such consumer group '\(String(decoding: groupName, as: UTF8.self))' for key name '\(String(decoding: key, as: UTF8.self))'"
                )
            }
            let now = context.now
            let consumers = group.sortedConsumers
            context.reply.writeArrayHeader(count: consumers.count)
            for consumer in consumers {
                context.reply.writeMapHeader(count: 4)
                Self.field(&context.reply, "name")
                context.reply.writeBulkString(consumer.name)
                Self.field(&context.reply, "pending")
                context.reply.writeInteger(consumer.pending.count)
                Self.field(&context.reply, "idle")
                context.reply.writeInteger(max(now - consumer.seenTime, 0))
                Self.field(&context.reply, "inactive")
                context.reply.writeInteger(consumer.activeTime < 0 ? -1 : max(now - consumer.activeTime, 0))
            }
        }
    }
}
