import WharfProtocol

/// SLOWLOG GET, LEN, RESET: the commands slower than `slowlog-log-slower-than`.
enum SlowlogCommands {
    static let declarations: [CommandSpec] = [
        CommandSpec(
            "slowlog", arity: -2, flags: [], acl: [], group: .server, since: "2.2.12",
            summary: "A container for slow log commands.", complexity: "Depends on subcommand.", handler: nil,
            subcommands: [
                CommandSpec(
                    "get", arity: -2, flags: [.admin, .loading, .stale], acl: [], group: .server,
                    since: "2.2.12", summary: "Returns the slow log's entries.",
                    complexity: "O(N) where N is the number of entries returned", handler: get),
                CommandSpec(
                    "len", arity: 2, flags: [.admin, .loading, .stale], acl: [], group: .server,
                    since: "2.2.12", summary: "Returns the number of entries in the slow log.", handler: length),
                CommandSpec(
                    "reset", arity: 2, flags: [.admin, .loading, .stale], acl: [], group: .server,
                    since: "2.2.12", summary: "Clears all entries from the slow log.",
                    complexity: "O(N) where N is the number of entries in the slowlog", handler: reset),
                CommandSpec(
                    "help", arity: 2, flags: [.loading, .stale], acl: [], group: .server,
                    since: "6.2.0", summary: "Show helpful text about the different subcommands", handler: help),
            ])
    ]

    static func get(_ context: inout CommandContext) {
        var count = 10
        if context.arguments.count > 3 { return context.replySyntaxError() }
        if context.arguments.count == 3 {
            guard let value = context.integerArgument(2) else { return }
            guard value >= -1 else {
                return context.reply.writeError("ERR count should be greater than or equal to -1")
            }
            count = value == -1 ? Int.max : Int(value)
        }
        let entries = context.engine.slowlog.newest(count)
        context.reply.writeArrayHeader(count: entries.count)
        for entry in entries {
            context.reply.writeArrayHeader(count: 6)
            context.reply.writeInteger(entry.id)
            context.reply.writeInteger(entry.time)
            context.reply.writeInteger(entry.microseconds)
            context.reply.writeArrayHeader(count: entry.arguments.count)
            for argument in entry.arguments { context.reply.writeBulkString(argument) }
            context.reply.writeBulkString(entry.address)
            context.reply.writeBulkString(entry.name)
        }
    }

    static func length(_ context: inout CommandContext) {
        context.reply.writeInteger(context.engine.slowlog.count)
    }

    static func reset(_ context: inout CommandContext) {
        context.engine.slowlog.reset()
        context.reply.writeOK()
    }

    static func help(_ context: inout CommandContext) {
        context.replyHelp(
            command: "SLOWLOG",
            lines: [
                "GET [<count>]",
                "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
                "    Entries are made of:",
                "    id, timestamp, time in microseconds, arguments array, client IP and port,",
                "    client name",
                "LEN", "    Return the length of the slowlog.",
                "RESET", "    Reset the slowlog.",
            ])
    }
}
