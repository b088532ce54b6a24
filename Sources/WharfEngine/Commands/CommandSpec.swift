/// Redis command flags, as COMMAND reports them.
package struct CommandFlags: OptionSet, Sendable {
    package let rawValue: UInt32
    package init(rawValue: UInt32) { self.rawValue = rawValue }

    package static let write = CommandFlags(rawValue: 1 << 0)
    package static let readonly = CommandFlags(rawValue: 1 << 1)
    package static let denyOOM = CommandFlags(rawValue: 1 << 2)
    package static let admin = CommandFlags(rawValue: 1 << 3)
    package static let pubsub = CommandFlags(rawValue: 1 << 4)
    package static let noScript = CommandFlags(rawValue: 1 << 5)
    package static let blocking = CommandFlags(rawValue: 1 << 6)
    package static let loading = CommandFlags(rawValue: 1 << 7)
    package static let stale = CommandFlags(rawValue: 1 << 8)
    package static let skipMonitor = CommandFlags(rawValue: 1 << 9)
    package static let skipSlowlog = CommandFlags(rawValue: 1 << 10)
    package static let fast = CommandFlags(rawValue: 1 << 11)
    package static let noAuth = CommandFlags(rawValue: 1 << 12)
    package static let mayReplicate = CommandFlags(rawValue: 1 << 13)
    package static let noMandatoryKeys = CommandFlags(rawValue: 1 << 14)
    package static let noMulti = CommandFlags(rawValue: 1 << 15)
    package static let movableKeys = CommandFlags(rawValue: 1 << 16)
    package static let allowBusy = CommandFlags(rawValue: 1 << 17)

    static let names: [(CommandFlags, String)] = [
        (.write, "write"), (.readonly, "readonly"), (.denyOOM, "denyoom"), (.admin, "admin"),
        (.pubsub, "pubsub"), (.noScript, "noscript"), (.blocking, "blocking"), (.loading, "loading"),
        (.stale, "stale"), (.skipMonitor, "skip_monitor"), (.skipSlowlog, "skip_slowlog"), (.fast, "fast"),
        (.noAuth, "no_auth"), (.mayReplicate, "may_replicate"), (.noMandatoryKeys, "no_mandatory_keys"),
        (.noMulti, "no_multi"), (.movableKeys, "movablekeys"), (.allowBusy, "allow_busy"),
    ]

    package var names: [String] { Self.names.filter { self.contains($0.0) }.map(\.1) }
}

/// Redis ACL categories (`@read`, `@string` …).
package struct ACLCategories: OptionSet, Sendable {
    package let rawValue: UInt32
    package init(rawValue: UInt32) { self.rawValue = rawValue }

    package static let keyspace = ACLCategories(rawValue: 1 << 0)
    package static let read = ACLCategories(rawValue: 1 << 1)
    package static let write = ACLCategories(rawValue: 1 << 2)
    package static let set = ACLCategories(rawValue: 1 << 3)
    package static let sortedSet = ACLCategories(rawValue: 1 << 4)
    package static let list = ACLCategories(rawValue: 1 << 5)
    package static let hash = ACLCategories(rawValue: 1 << 6)
    package static let string = ACLCategories(rawValue: 1 << 7)
    package static let bitmap = ACLCategories(rawValue: 1 << 8)
    package static let hyperloglog = ACLCategories(rawValue: 1 << 9)
    package static let geo = ACLCategories(rawValue: 1 << 10)
    package static let stream = ACLCategories(rawValue: 1 << 11)
    package static let pubsub = ACLCategories(rawValue: 1 << 12)
    package static let admin = ACLCategories(rawValue: 1 << 13)
    package static let fast = ACLCategories(rawValue: 1 << 14)
    package static let slow = ACLCategories(rawValue: 1 << 15)
    package static let blocking = ACLCategories(rawValue: 1 << 16)
    package static let dangerous = ACLCategories(rawValue: 1 << 17)
    package static let connection = ACLCategories(rawValue: 1 << 18)
    package static let transaction = ACLCategories(rawValue: 1 << 19)
    package static let scripting = ACLCategories(rawValue: 1 << 20)

    static let names: [(ACLCategories, String)] = [
        (.keyspace, "keyspace"), (.read, "read"), (.write, "write"), (.set, "set"), (.sortedSet, "sortedset"),
        (.list, "list"), (.hash, "hash"), (.string, "string"), (.bitmap, "bitmap"), (.hyperloglog, "hyperloglog"),
        (.geo, "geo"), (.stream, "stream"), (.pubsub, "pubsub"), (.admin, "admin"), (.fast, "fast"), (.slow, "slow"),
        (.blocking, "blocking"), (.dangerous, "dangerous"), (.connection, "connection"), (.transaction, "transaction"),
        (.scripting, "scripting"),
    ]

    package var names: [String] { Self.names.filter { self.contains($0.0) }.map { "@" + $0.1 } }
}

/// Which arguments are keys: Redis's legacy (first, last, step) triple. `last` may be
/// negative to count from the end; (0, 0, 0) means no keys.
package struct KeyPositions: Sendable, Hashable {
    package let first: Int
    package let last: Int
    package let step: Int

    package static let none = KeyPositions(first: 0, last: 0, step: 0)
    package static let single = KeyPositions(first: 1, last: 1, step: 1)
    package static let all = KeyPositions(first: 1, last: -1, step: 1)
    package static let pairs = KeyPositions(first: 1, last: -1, step: 2)
    package static let two = KeyPositions(first: 1, last: 2, step: 1)

    package init(first: Int, last: Int, step: Int) {
        self.first = first
        self.last = last
        self.step = step
    }

    /// The key argument indices for a command with `count` arguments.
    package func indices(argumentCount count: Int) -> [Int] {
        guard self.first > 0, self.step > 0 else { return [] }
        let last = self.last < 0 ? count + self.last : self.last
        guard last < count, self.first <= last else { return [] }
        return Array(stride(from: self.first, through: last, by: self.step))
    }
}

/// The command groups Redis's documentation uses.
package enum CommandGroup: String, Sendable {
    case generic, string, connection, server, list, set, hash, transactions, pubsub, stream, bitmap, geo
    case hyperloglog
    case sortedSet = "sorted-set"
}

/// Handlers run with the context of the calling client and write their reply into it.
package typealias CommandHandler = @Sendable (inout CommandContext) -> Void

/// The single declaration of a command: name, arity, flags, keys, ACL categories,
/// documentation and handler. COMMAND, ACL checks, statistics, the README and (later) the
/// log and cluster hashing all read it; nothing else describes a command.
package final class CommandSpec: Sendable {
    /// Lowercase name; a subcommand's is its own word (`setname`), see ``fullName``.
    package let name: String
    /// `client|setname` for subcommands, as Redis 7 names them.
    package let fullName: String
    /// Redis arity: the exact argument count (name included) if positive, the minimum if negative.
    package let arity: Int
    package let flags: CommandFlags
    package let keys: KeyPositions
    package let categories: ACLCategories
    package let group: CommandGroup
    package let since: String
    package let summary: String
    package let complexity: String
    package let handler: CommandHandler?
    package let subcommands: [CommandSpec]
    /// Position in the engine's flat list, for statistics.
    package let index: Int
    /// Declared O(1), or flagged `fast` (constant or logarithmic time, as Redis defines it):
    /// timed on a sample of calls only.
    let isConstantTime: Bool
    /// A RESP2 client in subscribed mode may send it (the subscribe family, PING, QUIT, RESET).
    let allowedWhileSubscribed: Bool
    /// Runs at once even between MULTI and EXEC (EXEC, DISCARD, MULTI, WATCH, QUIT, RESET).
    let runsInTransaction: Bool
    let nameBytes: [UInt8]

    package init(
        _ name: String, arity: Int, flags: CommandFlags, keys: KeyPositions = .none, acl: ACLCategories,
        group: CommandGroup, since: String, summary: String, complexity: String = "O(1)",
        handler: CommandHandler?, subcommands: [CommandSpec] = [], parent: String? = nil, index: Int = -1
    ) {
        self.name = name.lowercased()
        self.fullName = parent.map { "\($0)|\(name.lowercased())" } ?? name.lowercased()
        self.arity = arity
        self.flags = flags
        self.keys = keys
        self.categories = acl
        self.group = group
        self.since = since
        self.summary = summary
        self.complexity = complexity
        self.handler = handler
        self.subcommands = subcommands
        self.index = index
        self.isConstantTime = complexity == "O(1)" || flags.contains(.fast)
        self.allowedWhileSubscribed = parent == nil && PubSubCommands.allowedWhileSubscribed.contains(name.lowercased())
        self.runsInTransaction = parent == nil && TransactionCommands.runImmediately.contains(name.lowercased())
        self.nameBytes = Array(name.lowercased().utf8)
    }

    /// The same declaration with its position in the flat table and its parent's name.
    func placed(at index: Int, parent: String?, subcommands: [CommandSpec]) -> CommandSpec {
        CommandSpec(
            self.name, arity: self.arity, flags: self.flags, keys: self.keys, acl: self.categories, group: self.group,
            since: self.since, summary: self.summary, complexity: self.complexity, handler: self.handler,
            subcommands: subcommands, parent: parent, index: index)
    }

    @inline(__always)
    package func acceptsArgumentCount(_ count: Int) -> Bool {
        self.arity >= 0 ? count == self.arity : count >= -self.arity
    }

    /// ACL categories with the implied ones Redis adds (write → @write, fast or @slow …).
    package var effectiveCategories: ACLCategories {
        var categories = self.categories
        if self.flags.contains(.write) { categories.insert(.write) }
        if self.flags.contains(.readonly) && !categories.contains(.scripting) { categories.insert(.read) }
        if self.flags.contains(.admin) { categories.formUnion([.admin, .dangerous]) }
        if self.flags.contains(.pubsub) { categories.insert(.pubsub) }
        if self.flags.contains(.fast) { categories.insert(.fast) }
        if self.flags.contains(.blocking) { categories.insert(.blocking) }
        if !categories.contains(.fast) { categories.insert(.slow) }
        return categories
    }
}
