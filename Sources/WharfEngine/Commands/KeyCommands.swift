import Atomics
import NIOCore
import Synchronization
import WharfProtocol
import WharfStorage

/// Generic key commands: existence, deletion, expiry, renaming, copying, iteration, OBJECT.
///
/// Effect rule (for the write-ahead log): expiry is logged as an absolute time (PEXPIREAT),
/// and an expiry already in the past as the DEL it causes; RENAME, COPY and MOVE are logged
/// as themselves because they do not depend on time.
enum KeyCommands {
    static let declarations: [CommandSpec] = [
        CommandSpec(
            "del", arity: -2, flags: [.write], keys: .all, acl: [.keyspace], group: .generic,
            since: "1.0.0", summary: "Deletes one or more keys.",
            complexity: "O(N) where N is the number of keys that will be removed.", handler: del),
        CommandSpec(
            "unlink", arity: -2, flags: [.write, .fast], keys: .all, acl: [.keyspace], group: .generic,
            since: "4.0.0", summary: "Asynchronously deletes one or more keys.",
            complexity: "O(1) for each key removed regardless of its size.", handler: del),
        CommandSpec(
            "exists", arity: -2, flags: [.readonly, .fast], keys: .all, acl: [.keyspace], group: .generic,
            since: "1.0.0", summary: "Determines whether one or more keys exist.",
            complexity: "O(N) where N is the number of keys to check.", handler: exists),
        CommandSpec(
            "type", arity: 2, flags: [.readonly, .fast], keys: .single, acl: [.keyspace], group: .generic,
            since: "1.0.0", summary: "Determines the type of value stored at a key.", handler: type),
        CommandSpec(
            "expire", arity: -3, flags: [.write, .fast], keys: .single, acl: [.keyspace], group: .generic,
            since: "1.0.0", summary: "Sets the expiration time of a key in seconds.",
            handler: { expireGeneric(&$0, relative: true, unit: 1000, name: "expire") }),
        CommandSpec(
            "pexpire", arity: -3, flags: [.write, .fast], keys: .single, acl: [.keyspace], group: .generic,
            since: "2.6.0", summary: "Sets the expiration time of a key in milliseconds.",
            handler: { expireGeneric(&$0, relative: true, unit: 1, name: "pexpire") }),
        CommandSpec(
            "expireat", arity: -3, flags: [.write, .fast], keys: .single, acl: [.keyspace], group: .generic,
            since: "1.2.0", summary: "Sets the expiration time of a key to a Unix timestamp.",
            handler: { expireGeneric(&$0, relative: false, unit: 1000, name: "expireat") }),
        CommandSpec(
            "pexpireat", arity: -3, flags: [.write, .fast], keys: .single, acl: [.keyspace], group: .generic,
            since: "2.6.0", summary: "Sets the expiration time of a key to a Unix milliseconds timestamp.",
            handler: { expireGeneric(&$0, relative: false, unit: 1, name: "pexpireat") }),
        CommandSpec(
            "ttl", arity: 2, flags: [.readonly, .fast], keys: .single, acl: [.keyspace], group: .generic,
            since: "1.0.0", summary: "Returns the expiration time in seconds of a key.",
            handler: { ttlGeneric(&$0, milliseconds: false, absolute: false) }),
        CommandSpec(
            "pttl", arity: 2, flags: [.readonly, .fast], keys: .single, acl: [.keyspace], group: .generic,
            since: "2.6.0", summary: "Returns the expiration time in milliseconds of a key.",
            handler: { ttlGeneric(&$0, milliseconds: true, absolute: false) }),
        CommandSpec(
            "expiretime", arity: 2, flags: [.readonly, .fast], keys: .single, acl: [.keyspace], group: .generic,
            since: "7.0.0", summary: "Returns the expiration time of a key as a Unix timestamp.",
            handler: { ttlGeneric(&$0, milliseconds: false, absolute: true) }),
        CommandSpec(
            "pexpiretime", arity: 2, flags: [.readonly, .fast], keys: .single, acl: [.keyspace], group: .generic,
            since: "7.0.0", summary: "Returns the expiration time of a key as a Unix milliseconds timestamp.",
            handler: { ttlGeneric(&$0, milliseconds: true, absolute: true) }),
        CommandSpec(
            "persist", arity: 2, flags: [.write, .fast], keys: .single, acl: [.keyspace], group: .generic,
            since: "2.2.0", summary: "Removes the expiration time of a key.", handler: persist),
        CommandSpec(
            "keys", arity: 2, flags: [.readonly], acl: [.keyspace, .dangerous], group: .generic,
            since: "1.0.0", summary: "Returns all key names that match a pattern.",
            complexity: "O(N) with N being the number of keys in the database", handler: keys),
        CommandSpec(
            "scan", arity: -2, flags: [.readonly], acl: [.keyspace], group: .generic,
            since: "2.8.0", summary: "Iterates over the key names in the database.",
            complexity: "O(1) for every call. O(N) for a complete iteration.", handler: scan),
        CommandSpec(
            "rename", arity: 3, flags: [.write], keys: .two, acl: [.keyspace], group: .generic,
            since: "1.0.0", summary: "Renames a key and overwrites the destination.",
            handler: { renameGeneric(&$0, onlyIfMissing: false) }),
        CommandSpec(
            "renamenx", arity: 3, flags: [.write, .fast], keys: .two, acl: [.keyspace], group: .generic,
            since: "1.0.0", summary: "Renames a key only when the target key name doesn't exist.",
            handler: { renameGeneric(&$0, onlyIfMissing: true) }),
        CommandSpec(
            "randomkey", arity: 1, flags: [.readonly], acl: [.keyspace], group: .generic,
            since: "1.0.0", summary: "Returns a random key name from the database.", handler: randomkey),
        CommandSpec(
            "touch", arity: -2, flags: [.readonly, .fast], keys: .all, acl: [.keyspace], group: .generic,
            since: "3.2.1",
            summary:
                "Returns the number of existing keys out of those specified after updating the time they were last accessed.",
            complexity: "O(N) where N is the number of keys that will be touched.", handler: touch),
        CommandSpec(
            "copy", arity: -3, flags: [.write, .denyOOM], keys: .two, acl: [.keyspace], group: .generic,
            since: "6.2.0", summary: "Copies the value of a key to a new key.",
            complexity:
                "O(N) worst case for collections, where N is the number of nested items. O(1) for string values.",
            handler: copy),
        CommandSpec(
            "move", arity: 3, flags: [.write, .fast], keys: .single, acl: [.keyspace], group: .generic,
            since: "1.0.0", summary: "Moves a key to another database.", handler: move),
        CommandSpec(
            "object", arity: -2, flags: [], acl: [], group: .generic, since: "2.2.3",
            summary: "A container for object introspection commands.", complexity: "Depends on subcommand.",
            handler: nil,
            subcommands: [
                CommandSpec(
                    "encoding", arity: 3, flags: [.readonly], keys: KeyPositions(first: 2, last: 2, step: 1),
                    acl: [.keyspace], group: .generic,
                    since: "2.2.3", summary: "Returns the internal encoding of a Redis object.",
                    handler: { objectGeneric(&$0, .encoding) }),
                CommandSpec(
                    "freq", arity: 3, flags: [.readonly], keys: KeyPositions(first: 2, last: 2, step: 1),
                    acl: [.keyspace], group: .generic,
                    since: "4.0.0", summary: "Returns the logarithmic access frequency counter of a Redis object.",
                    handler: { objectGeneric(&$0, .frequency) }),
                CommandSpec(
                    "idletime", arity: 3, flags: [.readonly], keys: KeyPositions(first: 2, last: 2, step: 1),
                    acl: [.keyspace], group: .generic,
                    since: "2.2.3", summary: "Returns the time since the last access to a Redis object.",
                    handler: { objectGeneric(&$0, .idleTime) }),
                CommandSpec(
                    "refcount", arity: 3, flags: [.readonly], keys: KeyPositions(first: 2, last: 2, step: 1),
                    acl: [.keyspace], group: .generic,
                    since: "2.2.3", summary: "Returns the reference count of a value of a key.",
                    handler: { objectGeneric(&$0, .referenceCount) }),
                CommandSpec(
                    "help", arity: 2, flags: [.loading, .stale], acl: [.keyspace], group: .generic,
                    since: "6.2.0", summary: "Returns helpful text about the different subcommands.",
                    handler: objectHelp),
            ]),
    ]

    // MARK: Existence and deletion

    /// Runs `body` for each key argument from index 1 with its shard locked (all shards of
    /// the command locked together, so the command is atomic).
    private static func forEachKey(
        _ context: inout CommandContext, _ body: (inout CommandContext, Shard, UnsafeRawBufferPointer, UInt64) -> Void,
        whileLocked finish: (inout CommandContext) -> Void = { _ in }
    ) {
        // The work is in a function of its own: a closure capturing the inout context
        // copies it (a struct of several references) for each use inside.
        withUnsafeTemporaryAllocation(of: UInt64.self, capacity: context.arguments.count - 1) { hashes in
            self.forEachKey(&context, hashes: hashes, body, whileLocked: finish)
        }
    }

    private static func forEachKey(
        _ context: inout CommandContext, hashes: UnsafeMutableBufferPointer<UInt64>,
        _ body: (inout CommandContext, Shard, UnsafeRawBufferPointer, UInt64) -> Void,
        whileLocked finish: (inout CommandContext) -> Void
    ) {
        let keyCount = context.arguments.count - 1
        let database = context.database
        var selection = ShardSelection()
        for position in 0..<keyCount {
            let hash = context.hash(context.arguments[position + 1])
            hashes[position] = hash
            selection.insert(database.shardIndex(for: hash))
        }
        context.lock(selection, in: database)
        defer { context.unlock(selection, in: database) }
        for position in 0..<keyCount {
            body(&context, database.shard(for: hashes[position]), context.arguments[position + 1], hashes[position])
        }
        finish(&context)
    }

    static func del(_ context: inout CommandContext) {
        var removed = 0
        self.forEachKey(&context) { context, shard, key, hash in
            if let slot = shard.lookup(key, hash: hash, now: context.now) {
                // A deleted stream's blocked XREADGROUP readers are told through the shard's
                // onStreamGone hook, as for every other way a stream goes.
                shard.remove(at: slot)
                removed += 1
                context.notify(KeyspaceEvents.generic, "del", key)
            }
        } whileLocked: { context in
            if removed > 0 { context.logCommand() }
        }
        context.reply.writeInteger(removed)
    }

    static func exists(_ context: inout CommandContext) {
        var found = 0
        self.forEachKey(&context) { context, shard, key, hash in
            if context.lookupRead(shard, key, hash: hash, touch: false) != nil { found += 1 }
        }
        context.reply.writeInteger(found)
    }

    static func touch(_ context: inout CommandContext) {
        var found = 0
        self.forEachKey(&context) { context, shard, key, hash in
            if let slot = shard.lookup(key, hash: hash, now: context.now) {
                context.touch(shard.entry(at: slot))
                found += 1
            }
        }
        context.reply.writeInteger(found)
    }

    static func type(_ context: inout CommandContext) {
        let key = context.arguments[1]
        let hash = context.hash(key)
        let shard = context.database.shard(for: hash)
        context.lock(shard)
        defer { context.unlock(shard) }
        guard let entry = context.lookupRead(shard, key, hash: hash, touch: false) else {
            return context.reply.writeSimpleString("none")
        }
        context.reply.writeSimpleString(entry.kind.typeName)
    }

    // MARK: Expiry

    /// EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT with NX/XX/GT/LT, Redis 7.0 semantics: a time
    /// in the past deletes the key; only overflow is an error.
    static func expireGeneric(_ context: inout CommandContext, relative: Bool, unit: Int64, name: String) {
        var nx = false
        var xx = false
        var gt = false
        var lt = false
        for index in 3..<max(3, context.arguments.count) {
            let word = context.arguments[index]
            if word.equalsIgnoringCase("NX") {
                nx = true
            } else if word.equalsIgnoringCase("XX") {
                xx = true
            } else if word.equalsIgnoringCase("GT") {
                gt = true
            } else if word.equalsIgnoringCase("LT") {
                lt = true
            } else {
                context.reply.writeError("ERR Unsupported option \(context.arguments.string(index))")
                return
            }
        }
        if nx && (xx || gt || lt) {
            context.reply.writeError("ERR NX and XX, GT or LT options at the same time are not compatible")
            return
        }
        if gt && lt {
            context.reply.writeError("ERR GT and LT options at the same time are not compatible")
            return
        }
        guard var when = context.integerArgument(2) else { return }
        if unit == 1000 {
            if when > Int64.max / 1000 || when < Int64.min / 1000 {
                context.reply.writeError("ERR invalid expire time in '\(name)' command")
                return
            }
            when *= 1000
        }
        let base = relative ? context.now : 0
        if when > Int64.max - base {
            context.reply.writeError("ERR invalid expire time in '\(name)' command")
            return
        }
        when += base
        let key = context.arguments[1]
        let hash = context.hash(key)
        let shard = context.database.shard(for: hash)
        context.lock(shard)
        defer { context.unlock(shard) }
        guard let slot = shard.lookup(key, hash: hash, now: context.now) else {
            return context.reply.writeInteger(0)
        }
        let entry = shard.entry(at: slot)
        let current = entry.expireAt
        if nx && current != nil { return context.reply.writeInteger(0) }
        if xx && current == nil { return context.reply.writeInteger(0) }
        // A key without a TTL counts as an infinite TTL.
        if gt && (current == nil || when <= current!) { return context.reply.writeInteger(0) }
        if lt, let current, when >= current { return context.reply.writeInteger(0) }
        if when <= context.now {
            shard.remove(at: slot)
            context.logEffect { log in
                log.argument("DEL")
                log.argument(key)
            }
            context.notify(KeyspaceEvents.generic, "del", key)
        } else {
            if entry.hasExpiry {
                // Same layout: change the time in place (after copying if a snapshot shares it).
                shard.mutableEntry(at: slot).overwriteExpiry(when)
            } else {
                shard.replace(at: slot, with: entry.withExpiry(when))
            }
            let deadline = when
            context.logEffect { log in
                log.argument("PEXPIREAT")
                log.argument(key)
                log.argument(deadline)
            }
            context.notify(KeyspaceEvents.generic, "expire", key)
        }
        context.reply.writeInteger(1)
    }

    static func ttlGeneric(_ context: inout CommandContext, milliseconds: Bool, absolute: Bool) {
        let key = context.arguments[1]
        let hash = context.hash(key)
        let shard = context.database.shard(for: hash)
        context.lock(shard)
        defer { context.unlock(shard) }
        guard let entry = context.lookupRead(shard, key, hash: hash, touch: false) else {
            return context.reply.writeInteger(-2)
        }
        guard let expireAt = entry.expireAt else { return context.reply.writeInteger(-1) }
        var remaining = absolute ? expireAt : expireAt - context.now
        if remaining < 0 { remaining = 0 }
        // Rounded to the nearest second without overflowing near Int64.max.
        context.reply.writeInteger(milliseconds ? remaining : remaining / 1000 + (remaining % 1000 >= 500 ? 1 : 0))
    }

    static func persist(_ context: inout CommandContext) {
        let key = context.arguments[1]
        let hash = context.hash(key)
        let shard = context.database.shard(for: hash)
        context.lock(shard)
        defer { context.unlock(shard) }
        guard let slot = shard.lookup(key, hash: hash, now: context.now), shard.entry(at: slot).hasExpiry else {
            return context.reply.writeInteger(0)
        }
        shard.replace(at: slot, with: shard.entry(at: slot).withExpiry(nil))
        context.reply.writeInteger(1)
        context.logCommand()
        context.notify(KeyspaceEvents.generic, "persist", key)
    }

    // MARK: Iteration

    static func keys(_ context: inout CommandContext) {
        let pattern = context.arguments[1]
        let matchAll = pattern.count == 1 && pattern[0] == UInt8(ascii: "*")
        var found: [[UInt8]] = []
        for shard in context.database.shards {
            context.lock(shard)
            shard.table.forEachEntry { entry in
                if let expireAt = entry.expireAt, context.now > expireAt { return }
                if matchAll || GlobPattern.matches(pattern, entry.key) { found.append(Array(entry.key)) }
            }
            context.unlock(shard)
        }
        context.reply.writeArrayHeader(count: found.count)
        for key in found { context.reply.writeBulkString(key) }
    }

    static func scan(_ context: inout CommandContext) {
        guard let cursor = UInt64(context.arguments.string(1)) else {
            context.reply.writeError("ERR invalid cursor")
            return
        }
        guard let options = ScanOptions.parse(&context, from: 2) else { return }
        let database = context.database
        let shardBits = UInt64(database.shards.count.trailingZeroBitCount)
        var shardIndex = Int(cursor & ((1 << shardBits) - 1))
        var bucketCursor = cursor >> shardBits
        var found: [[UInt8]] = []
        // Keys seen before filtering, as Redis counts them against COUNT.
        var seen = 0
        var visited = 0
        let maxVisits = options.count * 10
        scanning: while shardIndex < database.shards.count {
            let shard = database.shards[shardIndex]
            context.lock(shard)
            // An empty shard costs nothing, and a shard whose keys all fit in what is left
            // of COUNT is walked whole: a keyspace that fits in one COUNT finishes in one
            // call with cursor 0, as in Redis (whose single table has no empty shards).
            let entries = shard.table.count
            let whole = bucketCursor == 0 && entries <= options.count - seen
            while entries > 0 {
                let mask = UInt64(shard.table.capacity - 1)
                shard.table.forEachEntry(inHomeBucket: Int(bucketCursor & mask)) { entry in
                    seen += 1
                    if options.accepts(entry, now: context.now) { found.append(Array(entry.key)) }
                }
                visited += 1
                bucketCursor = ScanCursor.next(bucketCursor, mask: mask)
                if bucketCursor == 0 { break }
                if !whole && (seen >= options.count || visited >= maxVisits) { break }
            }
            context.unlock(shard)
            // A shard emptied since the cursor was handed out is finished.
            if entries == 0 { bucketCursor = 0 }
            if bucketCursor == 0 { shardIndex += 1 }
            if seen >= options.count || visited >= maxVisits { break scanning }
        }
        let next: UInt64 = shardIndex >= database.shards.count ? 0 : (bucketCursor << shardBits) | UInt64(shardIndex)
        context.reply.writeArrayHeader(count: 2)
        context.reply.writeBulkString(String(next))
        context.reply.writeArrayHeader(count: found.count)
        for key in found { context.reply.writeBulkString(key) }
    }

    static func randomkey(_ context: inout CommandContext) {
        let database = context.database
        var generator = SystemRandomNumberGenerator()
        // Like Redis, give up on skipping expired keys after many tries in a mostly-expired keyspace.
        for _ in 0..<100 {
            let start = Int.random(in: 0..<database.shards.count, using: &generator)
            var picked: [UInt8]?
            var expired = false
            for offset in 0..<database.shards.count {
                let shard = database.shards[(start + offset) % database.shards.count]
                context.lock(shard)
                if let slot = shard.table.randomOccupiedSlot(using: &generator) {
                    let entry = shard.entry(at: slot)
                    if let expireAt = entry.expireAt, context.now > expireAt {
                        shard.remove(at: slot)
                        shard.expiredKeys += 1
                        expired = true
                    } else {
                        picked = Array(entry.key)
                    }
                }
                context.unlock(shard)
                if picked != nil || expired { break }
            }
            if let picked { return context.reply.writeBulkString(picked) }
            if !expired { break }
        }
        context.reply.writeNull()
    }

    // MARK: Renaming, copying, moving

    static func renameGeneric(_ context: inout CommandContext, onlyIfMissing: Bool) {
        let source = context.arguments[1]
        let target = context.arguments[2]
        let database = context.database
        let sourceHash = context.hash(source)
        let targetHash = context.hash(target)
        let selection = context.lockShards(of: sourceHash, targetHash)
        defer { context.unlock(selection, in: database) }
        let sourceShard = database.shard(for: sourceHash)
        guard let sourceSlot = sourceShard.lookup(source, hash: sourceHash, now: context.now) else {
            return context.reply.writeError("ERR no such key")
        }
        if source.equalsBytes(target) {
            return onlyIfMissing ? context.reply.writeInteger(0) : context.reply.writeOK()
        }
        let targetShard = database.shard(for: targetHash)
        if let targetSlot = targetShard.lookup(target, hash: targetHash, now: context.now) {
            if onlyIfMissing { return context.reply.writeInteger(0) }
            targetShard.remove(at: targetSlot)
        }
        // Look the source up again: removing the target may have shifted it within a shared shard.
        let slot = sourceShard.table.find(source, hash: sourceHash) ?? sourceSlot
        let moved = sourceShard.remove(at: slot).renamed(to: target, copyingPayload: false)
        targetShard.insert(moved, hash: targetHash)
        onlyIfMissing ? context.reply.writeInteger(1) : context.reply.writeOK()
        context.logCommand()
        context.notify(KeyspaceEvents.generic, "rename_from", source)
        context.notify(KeyspaceEvents.generic, "rename_to", target)
        // Blocked clients may wait on the new name (RENAME onto a list BLPOP waits for).
        context.signalReady(target)
    }

    static func copy(_ context: inout CommandContext) {
        var replace = false
        var targetDatabaseIndex = context.session.database
        var index = 3
        while index < context.arguments.count {
            if context.arguments[index].equalsIgnoringCase("REPLACE") {
                replace = true
            } else if context.arguments[index].equalsIgnoringCase("DB") && index + 1 < context.arguments.count {
                guard let value = context.integerArgument(index + 1) else { return }
                guard value >= 0 && value < Int64(context.engine.keyspace.databases.count) else {
                    return context.reply.writeError("ERR DB index is out of range")
                }
                targetDatabaseIndex = Int(value)
                index += 1
            } else {
                return context.replySyntaxError()
            }
            index += 1
        }
        let source = context.arguments[1]
        let target = context.arguments[2]
        if targetDatabaseIndex == context.session.database && source.equalsBytes(target) {
            return context.reply.writeError("ERR source and destination objects are the same")
        }
        let sourceDatabase = context.database
        let targetDatabase = context.engine.keyspace.databases[targetDatabaseIndex]
        let sourceHash = context.hash(source)
        let targetHash = context.hash(target)
        self.withTwoDatabasesLocked(&context, sourceDatabase, sourceHash, targetDatabase, targetHash) { context in
            let sourceShard = sourceDatabase.shard(for: sourceHash)
            guard let entry = context.lookupRead(sourceShard, source, hash: sourceHash) else {
                return context.reply.writeInteger(0)
            }
            let targetShard = targetDatabase.shard(for: targetHash)
            let copy = entry.renamed(to: target, copyingPayload: true)
            if let targetSlot = targetShard.lookup(target, hash: targetHash, now: context.now) {
                if !replace { return context.reply.writeInteger(0) }
                targetShard.replace(at: targetSlot, with: copy)
            } else {
                targetShard.insert(copy, hash: targetHash)
            }
            context.reply.writeInteger(1)
            context.logCommand()
            context.engine.notify(KeyspaceEvents.generic, "copy_to", key: target, database: targetDatabase.index)
            context.signalReady(target, database: targetDatabase.index)
        }
    }

    static func move(_ context: inout CommandContext) {
        guard let value = DecimalInteger.parse(context.arguments[2]), value >= Int64(Int32.min),
            value <= Int64(Int32.max)
        else {
            return context.replyNotInteger()
        }
        guard value >= 0 && value < Int64(context.engine.keyspace.databases.count) else {
            return context.reply.writeError("ERR DB index is out of range")
        }
        if Int(value) == context.session.database {
            return context.reply.writeError("ERR source and destination objects are the same")
        }
        let key = context.arguments[1]
        let hash = context.hash(key)
        let sourceDatabase = context.database
        let targetDatabase = context.engine.keyspace.databases[Int(value)]
        self.withTwoDatabasesLocked(&context, sourceDatabase, hash, targetDatabase, hash) { context in
            let sourceShard = sourceDatabase.shard(for: hash)
            let targetShard = targetDatabase.shard(for: hash)
            guard let slot = sourceShard.lookup(key, hash: hash, now: context.now) else {
                return context.reply.writeInteger(0)
            }
            if targetShard.lookup(key, hash: hash, now: context.now) != nil {
                return context.reply.writeInteger(0)
            }
            targetShard.insert(sourceShard.remove(at: slot), hash: hash)
            context.reply.writeInteger(1)
            context.logCommand()
            context.notify(KeyspaceEvents.generic, "move_from", key)
            context.engine.notify(KeyspaceEvents.generic, "move_to", key: key, database: targetDatabase.index)
            context.signalReady(key, database: targetDatabase.index)
        }
    }

    /// Locks one shard in each of two databases (the lower-numbered database first, the
    /// global lock order) and runs `body`.
    private static func withTwoDatabasesLocked(
        _ context: inout CommandContext, _ first: Database, _ firstHash: UInt64, _ second: Database,
        _ secondHash: UInt64,
        _ body: (inout CommandContext) -> Void
    ) {
        if first === second {
            var selection = ShardSelection()
            selection.insert(first.shardIndex(for: firstHash))
            selection.insert(first.shardIndex(for: secondHash))
            context.lock(selection, in: first)
            body(&context)
            context.unlock(selection, in: first)
            return
        }
        let (low, high) =
            first.index < second.index
            ? (first.shard(for: firstHash), second.shard(for: secondHash))
            : (second.shard(for: secondHash), first.shard(for: firstHash))
        context.lock(low)
        context.lock(high)
        body(&context)
        context.unlock(high)
        context.unlock(low)
    }

    // MARK: OBJECT

    enum ObjectQuery { case encoding, frequency, idleTime, referenceCount }

    static func objectGeneric(_ context: inout CommandContext, _ query: ObjectQuery) {
        let key = context.arguments[2]
        let hash = context.hash(key)
        let shard = context.database.shard(for: hash)
        context.lock(shard)
        defer { context.unlock(shard) }
        guard let slot = shard.lookup(key, hash: hash, now: context.now) else {
            return context.reply.writeNull()
        }
        let entry = shard.entry(at: slot)
        let lfu = context.engine.settings.tracksLFU.load(ordering: .relaxed)
        switch query {
        case .encoding:
            context.reply.writeBulkString(entry.encodingName)
        case .frequency:
            guard lfu else {
                return context.reply.writeError(
                    "ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust."
                )
            }
            let decay = context.engine.settings.lfuDecayTime.load(ordering: .relaxed)
            context.reply.writeInteger(
                Int(AccessTracking.decayedCounter(entry.accessClock, now: context.now, decayTime: decay)))
        case .idleTime:
            guard !lfu else {
                return context.reply.writeError(
                    "ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust."
                )
            }
            context.reply.writeInteger(AccessTracking.idleMilliseconds(entry.accessClock, now: context.now) / 1000)
        case .referenceCount:
            // Redis shares the integers 0–9999 between keys and reports them as immortal.
            if entry.kind == .integer && entry.integerValue >= 0 && entry.integerValue < 10_000 {
                context.reply.writeInteger(Int64(Int32.max))
            } else {
                context.reply.writeInteger(1)
            }
        }
    }

    static func objectHelp(_ context: inout CommandContext) {
        context.replyHelp(
            command: "OBJECT",
            lines: [
                "ENCODING <key>",
                "    Return the kind of internal representation used in order to store the value",
                "    associated with a <key>.",
                "FREQ <key>",
                "    Return the access frequency index of the <key>. The returned integer is",
                "    proportional to the logarithm of the recent access frequency of the key.",
                "IDLETIME <key>",
                "    Return the idle time of the <key>, that is the approximated number of",
                "    seconds elapsed since the last access to the key.",
                "REFCOUNT <key>",
                "    Return the number of references of the value associated with the specified",
                "    <key>.",
            ])
    }
}

/// SCAN's reverse-binary cursor: it counts in the high bits first, so every bucket index
/// present for the whole iteration is visited exactly once even if the table grows or
/// shrinks (by powers of two) between calls; Redis's `dictScan` guarantee.
enum ScanCursor {
    static func next(_ cursor: UInt64, mask: UInt64) -> UInt64 {
        var v = cursor | ~mask
        v = v.bitReversed
        v &+= 1
        return v.bitReversed
    }
}

extension UInt64 {
    var bitReversed: UInt64 {
        var v = self
        v = ((v >> 1) & 0x5555_5555_5555_5555) | ((v & 0x5555_5555_5555_5555) << 1)
        v = ((v >> 2) & 0x3333_3333_3333_3333) | ((v & 0x3333_3333_3333_3333) << 2)
        v = ((v >> 4) & 0x0F0F_0F0F_0F0F_0F0F) | ((v & 0x0F0F_0F0F_0F0F_0F0F) << 4)
        return v.byteSwapped
    }
}

/// The MATCH, COUNT and TYPE options of the SCAN family.
struct ScanOptions {
    var count = 10
    var pattern: [UInt8]?
    var typeName: String?

    static func parse(_ context: inout CommandContext, from start: Int) -> ScanOptions? {
        var options = ScanOptions()
        var index = start
        while index < context.arguments.count {
            let word = context.arguments[index]
            let hasValue = index + 1 < context.arguments.count
            if word.equalsIgnoringCase("COUNT") && hasValue {
                guard let count = context.integerArgument(index + 1) else { return nil }
                guard count >= 1 else {
                    context.replySyntaxError()
                    return nil
                }
                options.count = Int(min(count, Int64(Int32.max)))
            } else if word.equalsIgnoringCase("MATCH") && hasValue {
                let pattern = context.arguments.bytes(index + 1)
                // `*` alone matches everything; skip matching.
                options.pattern = pattern == [UInt8(ascii: "*")] ? nil : pattern
            } else if word.equalsIgnoringCase("TYPE") && hasValue {
                options.typeName = context.arguments.string(index + 1).lowercased()
            } else {
                context.replySyntaxError()
                return nil
            }
            index += 2
        }
        return options
    }

    func accepts(_ entry: Entry, now: Int64) -> Bool {
        if let expireAt = entry.expireAt, now > expireAt { return false }
        if let typeName, entry.kind.typeName != typeName { return false }
        if let pattern {
            return pattern.withUnsafeBytes { GlobPattern.matches($0, entry.key) }
        }
        return true
    }
}
