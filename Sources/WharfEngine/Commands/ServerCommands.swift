import Atomics
import NIOCore
import Synchronization
import WharfProtocol
import WharfStorage

#if canImport(Glibc)
    import Glibc
#endif

/// Server commands: INFO DBSIZE FLUSHDB FLUSHALL TIME COMMAND CONFIG SHUTDOWN.
///
/// Effect rule (for the write-ahead log): FLUSHDB and FLUSHALL are logged as themselves;
/// CONFIG SET is not data and is not logged.
enum ServerCommands {
    static let declarations: [CommandSpec] = [
        CommandSpec(
            "info", arity: -1, flags: [.loading, .stale], acl: [.dangerous], group: .server,
            since: "1.0.0", summary: "Returns information and statistics about the server.", complexity: "O(1)",
            handler: info),
        CommandSpec(
            "dbsize", arity: 1, flags: [.readonly, .fast], acl: [.keyspace], group: .server,
            since: "1.0.0", summary: "Returns the number of keys in the database.", handler: dbsize),
        CommandSpec(
            "flushdb", arity: -1, flags: [.write], acl: [.keyspace, .dangerous], group: .server,
            since: "1.0.0", summary: "Remove all keys from the current database.",
            complexity: "O(N) where N is the number of keys in the selected database",
            handler: { flush(&$0, all: false) }),
        CommandSpec(
            "flushall", arity: -1, flags: [.write], acl: [.keyspace, .dangerous], group: .server,
            since: "1.0.0", summary: "Removes all keys from all databases.",
            complexity: "O(N) where N is the total number of keys in all databases", handler: { flush(&$0, all: true) }),
        CommandSpec(
            "swapdb", arity: 3, flags: [.write, .fast], acl: [.keyspace, .dangerous], group: .server,
            since: "4.0.0", summary: "Swaps two Redis databases.",
            complexity: "O(N) where N is the count of clients watching or blocking on keys from both databases.",
            handler: swapdb),
        CommandSpec(
            "time", arity: 1, flags: [.loading, .stale, .fast], acl: [], group: .server,
            since: "2.6.0", summary: "Returns the server time.", handler: time),
        CommandSpec(
            "shutdown", arity: -1, flags: [.admin, .noScript, .loading, .stale, .noMulti, .allowBusy], acl: [],
            group: .server,
            since: "1.0.0", summary: "Synchronously saves the database(s) to disk and shuts down the Redis server.",
            complexity:
                "O(N) when saving, where N is the total number of keys in all databases when saving data, otherwise O(1)",
            handler: shutdown),
        CommandSpec(
            "command", arity: -1, flags: [.loading, .stale], acl: [.connection], group: .server,
            since: "2.8.13", summary: "Returns detailed information about all commands.",
            complexity: "O(N) where N is the total number of Redis commands", handler: commandInfoAll,
            subcommands: [
                CommandSpec(
                    "count", arity: 2, flags: [.loading, .stale], acl: [.connection], group: .server,
                    since: "2.8.13", summary: "Returns a count of commands.", handler: commandCount),
                CommandSpec(
                    "info", arity: -2, flags: [.loading, .stale], acl: [.connection], group: .server,
                    since: "2.8.13", summary: "Returns information about one, multiple or all commands.",
                    complexity: "O(N) where N is the number of commands to look up", handler: commandInfo),
                CommandSpec(
                    "list", arity: -2, flags: [.loading, .stale], acl: [.connection], group: .server,
                    since: "7.0.0", summary: "Returns a list of command names.",
                    complexity: "O(N) where N is the total number of Redis commands", handler: commandList),
                CommandSpec(
                    "docs", arity: -2, flags: [.loading, .stale], acl: [.connection], group: .server,
                    since: "7.0.0", summary: "Returns documentary information about one, multiple or all commands.",
                    complexity: "O(N) where N is the number of commands to look up", handler: commandDocs),
                CommandSpec(
                    "getkeys", arity: -3, flags: [.loading, .stale], acl: [.connection], group: .server,
                    since: "2.8.13", summary: "Extracts the key names from an arbitrary command.",
                    complexity: "O(N) where N is the number of arguments to the command", handler: commandGetKeys),
                CommandSpec(
                    "getkeysandflags", arity: -3, flags: [.loading, .stale], acl: [.connection], group: .server,
                    since: "7.0.0", summary: "Extracts the key names and access flags for an arbitrary command.",
                    complexity: "O(N) where N is the number of arguments to the command",
                    handler: commandGetKeysAndFlags),
                CommandSpec(
                    "help", arity: 2, flags: [.loading, .stale], acl: [.connection], group: .server,
                    since: "5.0.0", summary: "Returns helpful text about the different subcommands.",
                    handler: commandHelp),
            ]),
        CommandSpec(
            "config", arity: -2, flags: [], acl: [], group: .server, since: "2.0.0",
            summary: "A container for server configuration commands.", complexity: "Depends on subcommand.",
            handler: nil,
            subcommands: [
                CommandSpec(
                    "get", arity: -3, flags: [.admin, .noScript, .loading, .stale], acl: [], group: .server,
                    since: "2.0.0", summary: "Returns the effective values of configuration parameters.",
                    complexity: "O(N) when N is the number of configuration parameters provided", handler: configGet),
                CommandSpec(
                    "set", arity: -4, flags: [.admin, .noScript, .loading, .stale], acl: [], group: .server,
                    since: "2.0.0", summary: "Sets configuration parameters in-flight.",
                    complexity: "O(N) when N is the number of configuration parameters provided", handler: configSet),
                CommandSpec(
                    "resetstat", arity: 2, flags: [.admin, .noScript, .loading, .stale], acl: [], group: .server,
                    since: "2.0.0", summary: "Resets the server's statistics.", handler: configResetStat),
                CommandSpec(
                    "help", arity: 2, flags: [.loading, .stale], acl: [], group: .server,
                    since: "5.0.0", summary: "Returns helpful text about the different subcommands.",
                    handler: configHelp),
            ]),
    ]

    // MARK: Keyspace-wide

    static func swapdb(_ context: inout CommandContext) {
        guard let first = DecimalInteger.parse(context.arguments[1]), let firstIndex = Int32(exactly: first) else {
            return context.reply.writeError("ERR invalid first DB index")
        }
        guard let second = DecimalInteger.parse(context.arguments[2]), let secondIndex = Int32(exactly: second) else {
            return context.reply.writeError("ERR invalid second DB index")
        }
        let databases = context.engine.keyspace.databases
        guard firstIndex >= 0, secondIndex >= 0, Int(firstIndex) < databases.count, Int(secondIndex) < databases.count
        else {
            return context.reply.writeError("ERR DB index is out of range")
        }
        if firstIndex != secondIndex {
            let (a, b) = (databases[Int(firstIndex)], databases[Int(secondIndex)])
            // Every shard of both databases at once: no client sees one swapped and one not.
            if !context.locksHeld { context.engine.keyspace.lockAll() }
            for index in 0..<a.shards.count { a.shards[index].swapContents(with: b.shards[index]) }
            if !context.locksHeld { context.engine.keyspace.unlockAll() }
            // Clients blocked on keys of either database may now find data.
            for database in [a.index, b.index] {
                for key in context.engine.blocking.waitedKeys(inDatabase: database) {
                    key.withUnsafeBytes { context.signalReady($0, database: database) }
                }
            }
        }
        context.logCommand()
        context.reply.writeOK()
    }

    static func dbsize(_ context: inout CommandContext) {
        context.reply.writeInteger(context.database.count())
    }

    static func flush(_ context: inout CommandContext, all: Bool) {
        var asynchronous = false
        if context.arguments.count > 2 { return context.replySyntaxError() }
        if context.arguments.count == 2 {
            if context.arguments[1].equalsIgnoringCase("ASYNC") {
                asynchronous = true
            } else if !context.arguments[1].equalsIgnoringCase("SYNC") {
                return context.replySyntaxError()
            }
        }
        let keyspace = context.engine.keyspace
        let databases = all ? keyspace.databases : [context.database]
        var released: [EntryTableStorage] = []
        // Every affected shard is locked at once so no client sees a half-flushed keyspace.
        if !context.locksHeld {
            for database in databases { for shard in database.shards { shard.lock.lock() } }
        }
        for database in databases {
            for shard in database.shards { released.append(shard.removeAll()) }
        }
        context.logEffect { log in log.argument(all ? "FLUSHALL" : "FLUSHDB") }
        if !context.locksHeld {
            for database in databases.reversed() { for shard in database.shards.reversed() { shard.lock.unlock() } }
        }
        if asynchronous {
            // Freeing millions of entries takes a while; do it off the caller's thread.
            BackgroundRelease.release(released)
        } else {
            released.removeAll()
        }
        context.reply.writeOK()
    }

    static func time(_ context: inout CommandContext) {
        let microseconds = context.engine.clock.isManual ? context.now * 1000 : EngineClock.systemNanoseconds() / 1000
        context.reply.writeArrayHeader(count: 2)
        context.reply.writeBulkString(String(microseconds / 1_000_000))
        context.reply.writeBulkString(String(microseconds % 1_000_000))
    }

    static func shutdown(_ context: inout CommandContext) {
        var request = ShutdownRequest(save: nil, now: false, force: false)
        var abort = false
        for index in 1..<context.arguments.count {
            let word = context.arguments[index]
            if word.equalsIgnoringCase("NOSAVE") && request.save == nil {
                request.save = false
            } else if word.equalsIgnoringCase("SAVE") && request.save == nil {
                request.save = true
            } else if word.equalsIgnoringCase("NOW") {
                request.now = true
            } else if word.equalsIgnoringCase("FORCE") {
                request.force = true
            } else if word.equalsIgnoringCase("ABORT") {
                abort = true
            } else {
                return context.replySyntaxError()
            }
        }
        if abort {
            if context.arguments.count > 2 { return context.replySyntaxError() }
            return context.reply.writeError("ERR No shutdown in progress.")
        }
        guard let handler = context.engine.hooks.shutdown.withLock({ $0 }) else {
            return context.reply.writeError("ERR Errors trying to SHUTDOWN. Check logs.")
        }
        if let error = handler(request) {
            return context.reply.writeError(error)
        }
        // As in Redis, a successful SHUTDOWN sends no reply: the connection just closes.
        context.session.closeAfterReply = true
    }

    // MARK: INFO

    static func info(_ context: inout CommandContext) {
        var requested: [String] = []
        for index in 1..<context.arguments.count { requested.append(context.arguments.string(index).lowercased()) }
        let text = ServerInfo(engine: context.engine, now: context.now).render(sections: requested)
        context.reply.writeVerbatimString(text)
    }

    // MARK: COMMAND

    static func commandInfoAll(_ context: inout CommandContext) {
        let commands = context.engine.commands.commands
        context.reply.writeArrayHeader(count: commands.count)
        for spec in commands { self.writeInfo(spec, into: &context.reply) }
    }

    static func commandCount(_ context: inout CommandContext) {
        context.reply.writeInteger(context.engine.commands.commands.count)
    }

    static func commandInfo(_ context: inout CommandContext) {
        if context.arguments.count == 2 { return self.commandInfoAll(&context) }
        context.reply.writeArrayHeader(count: context.arguments.count - 2)
        for index in 2..<context.arguments.count {
            if let spec = self.lookup(context, name: context.arguments.string(index)) {
                self.writeInfo(spec, into: &context.reply)
            } else {
                context.reply.writeNullArray()
            }
        }
    }

    /// A command or `parent|sub` subcommand by name.
    private static func lookup(_ context: CommandContext, name: String) -> CommandSpec? {
        let parts = name.lowercased().split(separator: "|", maxSplits: 1).map(String.init)
        guard let parent = context.engine.commands.lookup(parts.first ?? "") else { return nil }
        if parts.count == 1 { return parent }
        return parent.subcommands.first { $0.name == parts[1] }
    }

    private static func writeInfo(_ spec: CommandSpec, into reply: inout RESPReplyWriter) {
        reply.writeArrayHeader(count: 10)
        reply.writeBulkString(spec.fullName)
        reply.writeInteger(spec.arity)
        let flags = spec.flags.names
        reply.writeSetHeader(count: flags.count)
        for flag in flags { reply.writeSimpleString(flag) }
        reply.writeInteger(spec.keys.first)
        reply.writeInteger(spec.keys.last)
        reply.writeInteger(spec.keys.step)
        let categories = spec.effectiveCategories.names
        reply.writeSetHeader(count: categories.count)
        for category in categories { reply.writeSimpleString(category) }
        reply.writeSetHeader(count: 0)
        if spec.keys.first > 0 {
            reply.writeArrayHeader(count: 1)
            reply.writeMapHeader(count: 3)
            reply.writeBulkString("flags")
            let keyFlags = spec.flags.contains(.write) ? ["RW", "UPDATE"] : ["RO", "ACCESS"]
            reply.writeSetHeader(count: keyFlags.count)
            for flag in keyFlags { reply.writeSimpleString(flag) }
            reply.writeBulkString("begin_search")
            reply.writeMapHeader(count: 2)
            reply.writeBulkString("type")
            reply.writeBulkString("index")
            reply.writeBulkString("spec")
            reply.writeMapHeader(count: 1)
            reply.writeBulkString("index")
            reply.writeInteger(spec.keys.first)
            reply.writeBulkString("find_keys")
            reply.writeMapHeader(count: 2)
            reply.writeBulkString("type")
            reply.writeBulkString("range")
            reply.writeBulkString("spec")
            reply.writeMapHeader(count: 3)
            reply.writeBulkString("lastkey")
            reply.writeInteger(spec.keys.last < 0 ? spec.keys.last : spec.keys.last - spec.keys.first)
            reply.writeBulkString("keystep")
            reply.writeInteger(spec.keys.step)
            reply.writeBulkString("limit")
            reply.writeInteger(0)
        } else {
            reply.writeArrayHeader(count: 0)
        }
        reply.writeArrayHeader(count: spec.subcommands.count)
        for sub in spec.subcommands { self.writeInfo(sub, into: &reply) }
    }

    static func commandList(_ context: inout CommandContext) {
        // Every command and subcommand (`config|get`), as Redis 7 lists them.
        let everything = context.engine.commands.commands.flatMap { [$0] + $0.subcommands }
        var names = everything.map(\.fullName)
        if context.arguments.count > 2 {
            guard context.arguments.count == 5, context.arguments[2].equalsIgnoringCase("FILTERBY") else {
                return context.replySyntaxError()
            }
            let kind = context.arguments[3]
            let value = context.arguments.string(4)
            if kind.equalsIgnoringCase("MODULE") {
                names = []
            } else if kind.equalsIgnoringCase("ACLCAT") {
                let category = value.lowercased().hasPrefix("@") ? value.lowercased() : "@" + value.lowercased()
                names = everything.filter { $0.effectiveCategories.names.contains(category) }.map(\.fullName)
            } else if kind.equalsIgnoringCase("PATTERN") {
                var all: [String] = []
                for spec in context.engine.commands.commands {
                    all.append(spec.name)
                    all.append(contentsOf: spec.subcommands.map(\.fullName))
                }
                names = all.filter { GlobPattern.matches(value, $0, ignoringCase: true) }
            } else {
                return context.replySyntaxError()
            }
        }
        context.reply.writeArrayHeader(count: names.count)
        for name in names { context.reply.writeBulkString(name) }
    }

    static func commandDocs(_ context: inout CommandContext) {
        var specs: [CommandSpec] = []
        if context.arguments.count == 2 {
            specs = context.engine.commands.commands
        } else {
            for index in 2..<context.arguments.count {
                if let spec = self.lookup(context, name: context.arguments.string(index)) { specs.append(spec) }
            }
        }
        context.reply.writeMapHeader(count: specs.count)
        for spec in specs {
            context.reply.writeBulkString(spec.fullName)
            self.writeDocs(spec, into: &context.reply)
        }
    }

    private static func writeDocs(_ spec: CommandSpec, into reply: inout RESPReplyWriter) {
        reply.writeMapHeader(count: spec.subcommands.isEmpty ? 4 : 5)
        reply.writeBulkString("summary")
        reply.writeBulkString(spec.summary)
        reply.writeBulkString("since")
        reply.writeBulkString(spec.since)
        reply.writeBulkString("group")
        reply.writeBulkString(spec.group.rawValue)
        reply.writeBulkString("complexity")
        reply.writeBulkString(spec.complexity)
        if !spec.subcommands.isEmpty {
            reply.writeBulkString("subcommands")
            reply.writeMapHeader(count: spec.subcommands.count)
            for sub in spec.subcommands {
                reply.writeBulkString(sub.fullName)
                self.writeDocs(sub, into: &reply)
            }
        }
    }

    /// COMMAND GETKEYSANDFLAGS: each key with the access flags of its key specification,
    /// derived from the command's flags (read-only: RO access; otherwise RW access update).
    static func commandGetKeysAndFlags(_ context: inout CommandContext) {
        self.commandGetKeys(&context, withFlags: true)
    }

    static func commandGetKeys(_ context: inout CommandContext) {
        self.commandGetKeys(&context, withFlags: false)
    }

    private static func commandGetKeys(_ context: inout CommandContext, withFlags: Bool) {
        guard var spec = context.engine.commands.lookup(context.arguments[2]) else {
            return context.reply.writeError("ERR Invalid command specified")
        }
        let count = context.arguments.count - 2
        if !spec.subcommands.isEmpty, count >= 2,
            let sub = context.engine.commands.subcommand(of: spec, named: context.arguments[3])
        {
            spec = sub
        }
        guard spec.acceptsArgumentCount(count) else {
            return context.reply.writeError("ERR Invalid number of arguments specified for command")
        }
        let indices = spec.keys.indices(argumentCount: count)
        guard !indices.isEmpty else {
            return context.reply.writeError("ERR The command has no key arguments")
        }
        context.reply.writeArrayHeader(count: indices.count)
        let flags = spec.flags.contains(.write) ? ["RW", "access", "update"] : ["RO", "access"]
        for index in indices {
            if withFlags {
                context.reply.writeArrayHeader(count: 2)
                context.reply.writeBulkString(context.arguments[index + 2])
                context.reply.writeArrayHeader(count: flags.count)
                for flag in flags { context.reply.writeSimpleString(flag) }
            } else {
                context.reply.writeBulkString(context.arguments[index + 2])
            }
        }
    }

    static func commandHelp(_ context: inout CommandContext) {
        context.replyHelp(
            command: "COMMAND",
            lines: [
                "(no subcommand)",
                "    Return details about all Redis commands.",
                "COUNT",
                "    Return the total number of commands in this Redis server.",
                "LIST",
                "    Return a list of all commands in this Redis server.",
                "INFO [<command-name> ...]",
                "    Return details about multiple Redis commands.",
                "    If no command names are given, documentation details for all",
                "    commands are returned.",
                "DOCS [<command-name> ...]",
                "    Return documentation details about multiple Redis commands.",
                "    If no command names are given, documentation details for all",
                "    commands are returned.",
                "GETKEYS <full-command>",
                "    Return the keys from a full Redis command.",
            ])
    }

    // MARK: CONFIG

    static func configGet(_ context: inout CommandContext) {
        var matched: [(String, String)] = []
        var seen = Set<String>()
        for index in 2..<context.arguments.count {
            let pattern = context.arguments.string(index).lowercased()
            for parameter in ConfigRegistry.parameters where !seen.contains(parameter.name) {
                if GlobPattern.matches(pattern, parameter.name) {
                    seen.insert(parameter.name)
                    matched.append((parameter.name, parameter.get(context.engine.settings)))
                }
            }
        }
        context.reply.writeMapHeader(count: matched.count)
        for (name, value) in matched {
            context.reply.writeBulkString(name)
            context.reply.writeBulkString(value)
        }
    }

    static func configSet(_ context: inout CommandContext) {
        guard context.arguments.count % 2 == 0 else {
            return context.reply.writeError("ERR wrong number of arguments for 'config|set' command")
        }
        var changes: [(ConfigParameter, String)] = []
        var index = 2
        while index < context.arguments.count {
            let name = context.arguments.string(index)
            guard let parameter = ConfigRegistry.parameter(named: name) else {
                return context.reply.writeError("ERR Unknown option or number of arguments for CONFIG SET - '\(name)'")
            }
            if changes.contains(where: { $0.0.name == parameter.name }) {
                return context.reply.writeError(
                    "ERR CONFIG SET failed (possibly related to argument '\(name)') - duplicate parameter")
            }
            guard parameter.isMutable else {
                return context.reply.writeError(
                    "ERR CONFIG SET failed (possibly related to argument '\(name)') - can't set immutable config")
            }
            changes.append((parameter, context.arguments.string(index + 1)))
            index += 2
        }
        // All or nothing: apply, and on the first failure put back what was applied.
        let settings = context.engine.settings
        var applied: [(ConfigParameter, String)] = []
        for (parameter, value) in changes {
            let previous = parameter.get(settings)
            do {
                try parameter.set(settings, value)
                applied.append((parameter, previous))
            } catch {
                for (done, old) in applied.reversed() { try? done.set(settings, old) }
                return context.reply.writeError(
                    "ERR CONFIG SET failed (possibly related to argument '\(parameter.name)') - \(error.message)")
            }
        }
        settings.generation.wrappingIncrement(ordering: .relaxed)
        context.reply.writeOK()
    }

    static func configResetStat(_ context: inout CommandContext) {
        context.engine.stats.reset()
        context.engine.resetKeyspaceCounters()
        context.reply.writeOK()
    }

    static func configHelp(_ context: inout CommandContext) {
        context.replyHelp(
            command: "CONFIG",
            lines: [
                "GET <pattern>",
                "    Return parameters matching the glob-like <pattern> and their values.",
                "SET <directive> <value>",
                "    Set the configuration <directive> to <value>.",
                "RESETSTAT",
                "    Reset statistics reported by the INFO command.",
            ])
    }
}

/// Frees large structures on a background thread (FLUSHALL ASYNC), so the client that
/// asked is not held up while millions of entries are released.
enum BackgroundRelease {
    static func release(_ storage: [EntryTableStorage]) {
        // The closure owns the last references, so they are released on the new thread.
        BackgroundThread.start { withExtendedLifetime(storage) {} }
    }
}
