import WharfProtocol

/// Publish/subscribe: SUBSCRIBE and its pattern and shard forms, PUBLISH, SPUBLISH and
/// PUBSUB. Messages are not logged: pub/sub is fire-and-forget, as in Redis.
enum PubSubCommands {
    static let declarations: [CommandSpec] = [
        CommandSpec(
            "subscribe", arity: -2, flags: [.pubsub, .noScript, .loading, .stale], acl: [], group: .pubsub,
            since: "2.0.0", summary: "Listens for messages published to channels.",
            complexity: "O(N) where N is the number of channels to subscribe to.", handler: { subscribe(&$0, .channel) }
        ),
        CommandSpec(
            "psubscribe", arity: -2, flags: [.pubsub, .noScript, .loading, .stale], acl: [], group: .pubsub,
            since: "2.0.0", summary: "Listens for messages published to channels that match one or more patterns.",
            complexity: "O(N) where N is the number of patterns to subscribe to.", handler: { subscribe(&$0, .pattern) }
        ),
        CommandSpec(
            "ssubscribe", arity: -2, flags: [.pubsub, .noScript, .loading, .stale], keys: .all, acl: [], group: .pubsub,
            since: "7.0.0", summary: "Listens for messages published to shard channels.",
            complexity: "O(N) where N is the number of shard channels to subscribe to.",
            handler: { subscribe(&$0, .shardChannel) }),
        CommandSpec(
            "unsubscribe", arity: -1, flags: [.pubsub, .noScript, .loading, .stale], acl: [], group: .pubsub,
            since: "2.0.0", summary: "Stops listening to messages posted to channels.",
            complexity: "O(N) where N is the number of channels to unsubscribe.",
            handler: { unsubscribe(&$0, .channel) }),
        CommandSpec(
            "punsubscribe", arity: -1, flags: [.pubsub, .noScript, .loading, .stale], acl: [], group: .pubsub,
            since: "2.0.0",
            summary: "Stops listening to messages published to channels that match one or more patterns.",
            complexity: "O(N) where N is the number of patterns to unsubscribe.",
            handler: { unsubscribe(&$0, .pattern) }),
        CommandSpec(
            "sunsubscribe", arity: -1, flags: [.pubsub, .noScript, .loading, .stale], keys: .all, acl: [],
            group: .pubsub,
            since: "7.0.0", summary: "Stops listening to messages posted to shard channels.",
            complexity: "O(N) where N is the number of shard channels to unsubscribe.",
            handler: { unsubscribe(&$0, .shardChannel) }),
        CommandSpec(
            "publish", arity: 3, flags: [.pubsub, .loading, .stale, .fast, .mayReplicate], acl: [], group: .pubsub,
            since: "2.0.0", summary: "Posts a message to a channel.",
            complexity:
                "O(N+M) where N is the number of clients subscribed to the receiving channel and M is the total number of subscribed patterns (by any client).",
            handler: { publish(&$0, shard: false) }),
        CommandSpec(
            "spublish", arity: 3, flags: [.pubsub, .loading, .stale, .fast, .mayReplicate], keys: .single, acl: [],
            group: .pubsub,
            since: "7.0.0", summary: "Post a message to a shard channel",
            complexity: "O(N) where N is the number of clients subscribed to the receiving shard channel.",
            handler: { publish(&$0, shard: true) }),
        CommandSpec(
            "pubsub", arity: -2, flags: [], acl: [], group: .pubsub, since: "2.8.0",
            summary: "A container for Pub/Sub commands.", complexity: "Depends on subcommand.", handler: nil,
            subcommands: [
                CommandSpec(
                    "channels", arity: -2, flags: [.pubsub, .loading, .stale], acl: [], group: .pubsub,
                    since: "2.8.0", summary: "Returns the active channels.",
                    complexity:
                        "O(N) where N is the number of active channels, and assuming constant time pattern matching (relatively short channels and patterns)",
                    handler: { channels(&$0, .channel) }),
                CommandSpec(
                    "numsub", arity: -2, flags: [.pubsub, .loading, .stale], acl: [], group: .pubsub,
                    since: "2.8.0", summary: "Returns a count of subscribers to channels.",
                    complexity: "O(N) for the NUMSUB subcommand, where N is the number of requested channels",
                    handler: { numsub(&$0, .channel) }),
                CommandSpec(
                    "numpat", arity: 2, flags: [.pubsub, .loading, .stale], acl: [], group: .pubsub,
                    since: "2.8.0", summary: "Returns a count of unique pattern subscriptions.", handler: numpat),
                CommandSpec(
                    "shardchannels", arity: -2, flags: [.pubsub, .loading, .stale], acl: [], group: .pubsub,
                    since: "7.0.0", summary: "Returns the active shard channels.",
                    complexity:
                        "O(N) where N is the number of active shard channels, and assuming constant time pattern matching (relatively short shard channels).",
                    handler: { channels(&$0, .shardChannel) }),
                CommandSpec(
                    "shardnumsub", arity: -2, flags: [.pubsub, .loading, .stale], acl: [], group: .pubsub,
                    since: "7.0.0", summary: "Returns the count of subscribers of shard channels.",
                    complexity:
                        "O(N) for the SHARDNUMSUB subcommand, where N is the number of requested shard channels",
                    handler: { numsub(&$0, .shardChannel) }),
                CommandSpec(
                    "help", arity: 2, flags: [.loading, .stale], acl: [], group: .pubsub,
                    since: "6.2.0", summary: "Returns helpful text about the different subcommands.", handler: help),
            ]),
    ]

    /// Commands a RESP2 client may send while subscribed, as in Redis.
    static let allowedWhileSubscribed: Set<String> = [
        "subscribe", "psubscribe", "ssubscribe", "unsubscribe", "punsubscribe", "sunsubscribe", "ping", "quit", "reset",
    ]

    private static func writeConfirmation(
        _ context: inout CommandContext, _ word: StaticString, _ name: UnsafeRawBufferPointer?, count: Int
    ) {
        context.reply.writePushHeader(count: 3)
        context.reply.writeBulkString(UnsafeRawBufferPointer(start: word.utf8Start, count: word.utf8CodeUnitCount))
        if let name { context.reply.writeBulkString(name) } else { context.reply.writeNull() }
        context.reply.writeInteger(count)
    }

    private static func count(_ session: ClientSession, _ kind: SubscriptionKind) -> Int {
        kind == .shardChannel ? session.subscriptions.shardChannels.count : session.subscriptions.count
    }

    static func subscribe(_ context: inout CommandContext, _ kind: SubscriptionKind) {
        let session = context.session
        guard let mailbox = session.mailbox else {
            return context.reply.writeError("ERR this client has no connection to deliver messages to")
        }
        for index in 1..<context.arguments.count {
            let name = context.arguments.bytes(index)
            if session.subscriptions[kind].insert(name).inserted {
                _ = context.engine.pubsub.subscribe(kind, name, info: session.info, mailbox: mailbox)
            }
            Self.writeConfirmation(
                &context, kind.subscribeWord, context.arguments[index], count: Self.count(session, kind))
        }
        session.info.setFlag(ClientFlags.subscribed, true)
    }

    static func unsubscribe(_ context: inout CommandContext, _ kind: SubscriptionKind) {
        let session = context.session
        var names: [[UInt8]] = []
        if context.arguments.count > 1 {
            for index in 1..<context.arguments.count { names.append(context.arguments.bytes(index)) }
        } else {
            names = Array(session.subscriptions[kind])
            if names.isEmpty {
                Self.writeConfirmation(&context, kind.unsubscribeWord, nil, count: Self.count(session, kind))
                return
            }
        }
        for name in names {
            if session.subscriptions[kind].remove(name) != nil {
                context.engine.pubsub.unsubscribe(kind, name, clientID: session.id)
            }
            name.withUnsafeBytes {
                Self.writeConfirmation(&context, kind.unsubscribeWord, $0, count: Self.count(session, kind))
            }
        }
        session.info.setFlag(ClientFlags.subscribed, session.subscriptions.isActive)
    }

    static func publish(_ context: inout CommandContext, shard: Bool) {
        let receivers = context.engine.pubsub.publish(context.arguments[1], context.arguments[2], shard: shard)
        context.reply.writeInteger(receivers)
    }

    static func channels(_ context: inout CommandContext, _ kind: SubscriptionKind) {
        if context.arguments.count > 3 {
            return context.reply.writeError(
                "ERR wrong number of arguments for '\(context.arguments.string(0).lowercased())|\(context.arguments.string(1).lowercased())' command"
            )
        }
        let pattern = context.arguments.count == 3 ? context.arguments[2] : nil
        let names = context.engine.pubsub.channels(kind, matching: pattern)
        context.reply.writeArrayHeader(count: names.count)
        for name in names { context.reply.writeBulkString(name) }
    }

    static func numsub(_ context: inout CommandContext, _ kind: SubscriptionKind) {
        // A flat array in both protocols, as Redis replies.
        context.reply.writeArrayHeader(count: (context.arguments.count - 2) * 2)
        for index in 2..<context.arguments.count {
            context.reply.writeBulkString(context.arguments[index])
            context.reply.writeInteger(context.engine.pubsub.subscriberCount(kind, context.arguments.bytes(index)))
        }
    }

    static func numpat(_ context: inout CommandContext) {
        context.reply.writeInteger(context.engine.pubsub.patternCount)
    }

    static func help(_ context: inout CommandContext) {
        context.replyHelp(
            command: "PUBSUB",
            lines: [
                "CHANNELS [<pattern>]",
                "    Return the currently active channels matching a <pattern> (default: '*').",
                "NUMPAT",
                "    Return number of subscriptions to patterns.",
                "NUMSUB [<channel> ...]",
                "    Return the number of subscribers for the specified channels, excluding",
                "    pattern subscriptions(default: no channels).",
                "SHARDCHANNELS [<pattern>]",
                "    Return the currently active shard level channels matching a <pattern> (default: '*').",
                "SHARDNUMSUB [<shardchannel> ...]",
                "    Return the number of subscribers for the specified shard level channel(s)",
            ])
    }

    /// Drops every subscription of a client that went away (or sent RESET).
    static func removeAll(_ session: ClientSession, hub: PubSubHub) {
        for kind in [SubscriptionKind.channel, .pattern, .shardChannel] {
            for name in session.subscriptions[kind] { hub.unsubscribe(kind, name, clientID: session.id) }
        }
        session.subscriptions = ClientSubscriptions()
        session.info.setFlag(ClientFlags.subscribed, false)
    }
}
