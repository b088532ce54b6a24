import Atomics
import NIOCore
import Synchronization
import WharfProtocol
import WharfStorage

/// String commands: GET SET and their variants, counters, APPEND, ranges, LCS.
///
/// Effect rule (for the write-ahead log): a string write is logged as the value it leaves
/// behind (`SET key value PXAT t` with an absolute expiry), never as the relative command,
/// so replay does not depend on the time or on the previous value.
enum StringCommands {
    static let declarations: [CommandSpec] = [
        CommandSpec(
            "get", arity: 2, flags: [.readonly, .fast], keys: .single, acl: [.string], group: .string,
            since: "1.0.0", summary: "Returns the string value of a key.", handler: get),
        CommandSpec(
            "set", arity: -3, flags: [.write, .denyOOM], keys: .single, acl: [.string], group: .string,
            since: "1.0.0",
            summary: "Sets the string value of a key, ignoring its type. The key is created if it doesn't exist.",
            handler: set),
        CommandSpec(
            "setnx", arity: 3, flags: [.write, .denyOOM, .fast], keys: .single, acl: [.string], group: .string,
            since: "1.0.0", summary: "Set the string value of a key only when the key doesn't exist.", handler: setnx),
        CommandSpec(
            "setex", arity: 4, flags: [.write, .denyOOM], keys: .single, acl: [.string], group: .string,
            since: "2.0.0",
            summary: "Sets the string value and expiration time of a key. Creates the key if it doesn't exist.",
            handler: setex),
        CommandSpec(
            "psetex", arity: 4, flags: [.write, .denyOOM], keys: .single, acl: [.string], group: .string,
            since: "2.6.0",
            summary:
                "Sets both string value and expiration time in milliseconds of a key. The key is created if it doesn't exist.",
            handler: psetex),
        CommandSpec(
            "getex", arity: -2, flags: [.write, .fast], keys: .single, acl: [.string], group: .string,
            since: "6.2.0", summary: "Returns the string value of a key after setting its expiration time.",
            handler: getex),
        CommandSpec(
            "getdel", arity: 2, flags: [.write, .fast], keys: .single, acl: [.string], group: .string,
            since: "6.2.0", summary: "Returns the string value of a key after deleting the key.", handler: getdel),
        CommandSpec(
            "getset", arity: 3, flags: [.write, .denyOOM, .fast], keys: .single, acl: [.string], group: .string,
            since: "1.0.0", summary: "Returns the previous string value of a key after setting it to a new value.",
            handler: getset),
        CommandSpec(
            "mget", arity: -2, flags: [.readonly, .fast], keys: .all, acl: [.string], group: .string,
            since: "1.0.0", summary: "Atomically returns the string values of one or more keys.",
            complexity: "O(N) where N is the number of keys to retrieve.", handler: mget),
        CommandSpec(
            "mset", arity: -3, flags: [.write, .denyOOM], keys: .pairs, acl: [.string], group: .string,
            since: "1.0.1", summary: "Atomically creates or modifies the string values of one or more keys.",
            complexity: "O(N) where N is the number of keys to set.", handler: mset),
        CommandSpec(
            "msetnx", arity: -3, flags: [.write, .denyOOM], keys: .pairs, acl: [.string], group: .string,
            since: "1.0.1",
            summary: "Atomically modifies the string values of one or more keys only when all keys don't exist.",
            complexity: "O(N) where N is the number of keys to set.", handler: msetnx),
        CommandSpec(
            "incr", arity: 2, flags: [.write, .denyOOM, .fast], keys: .single, acl: [.string], group: .string,
            since: "1.0.0",
            summary: "Increments the integer value of a key by one. Uses 0 as initial value if the key doesn't exist.",
            handler: incr),
        CommandSpec(
            "decr", arity: 2, flags: [.write, .denyOOM, .fast], keys: .single, acl: [.string], group: .string,
            since: "1.0.0",
            summary: "Decrements the integer value of a key by one. Uses 0 as initial value if the key doesn't exist.",
            handler: decr),
        CommandSpec(
            "incrby", arity: 3, flags: [.write, .denyOOM, .fast], keys: .single, acl: [.string], group: .string,
            since: "1.0.0",
            summary:
                "Increments the integer value of a key by a number. Uses 0 as initial value if the key doesn't exist.",
            handler: incrby),
        CommandSpec(
            "decrby", arity: 3, flags: [.write, .denyOOM, .fast], keys: .single, acl: [.string], group: .string,
            since: "1.0.0",
            summary:
                "Decrements a number from the integer value of a key. Uses 0 as initial value if the key doesn't exist.",
            handler: decrby),
        CommandSpec(
            "incrbyfloat", arity: 3, flags: [.write, .denyOOM, .fast], keys: .single, acl: [.string], group: .string,
            since: "2.6.0",
            summary:
                "Increment the floating point value of a key by a number. Uses 0 as initial value if the key doesn't exist.",
            handler: incrbyfloat),
        CommandSpec(
            "append", arity: 3, flags: [.write, .denyOOM, .fast], keys: .single, acl: [.string], group: .string,
            since: "2.0.0", summary: "Appends a string to the value of a key. Creates the key if it doesn't exist.",
            handler: append),
        CommandSpec(
            "strlen", arity: 2, flags: [.readonly, .fast], keys: .single, acl: [.string], group: .string,
            since: "2.2.0", summary: "Returns the length of a string value.", handler: strlen),
        CommandSpec(
            "getrange", arity: 4, flags: [.readonly], keys: .single, acl: [.string], group: .string,
            since: "2.4.0", summary: "Returns a substring of the string stored at a key.",
            complexity: "O(N) where N is the length of the returned string.", handler: getrange),
        CommandSpec(
            "substr", arity: 4, flags: [.readonly], keys: .single, acl: [.string], group: .string,
            since: "1.0.0", summary: "Returns a substring from a string value.",
            complexity: "O(N) where N is the length of the returned string.", handler: getrange),
        CommandSpec(
            "setrange", arity: 4, flags: [.write, .denyOOM], keys: .single, acl: [.string], group: .string,
            since: "2.2.0",
            summary:
                "Overwrites a part of a string value with another by an offset. Creates the key if it doesn't exist.",
            handler: setrange),
        CommandSpec(
            "lcs", arity: -3, flags: [.readonly], keys: .two, acl: [.string], group: .string,
            since: "7.0.0", summary: "Finds the longest common substring.",
            complexity: "O(N*M) where N and M are the lengths of s1 and s2, respectively", handler: lcs),
    ]

    // MARK: GET and SET

    static func get(_ context: inout CommandContext) {
        let key = context.arguments[1]
        let hash = context.hash(key)
        let shard = context.database.shard(for: hash)
        context.lock(shard)
        defer { context.unlock(shard) }
        guard let entry = context.lookupRead(shard, key, hash: hash) else {
            context.reply.writeNull()
            return
        }
        guard entry.isString else { return context.replyWrongType() }
        context.reply.writeBulkString(entry)
    }

    static func set(_ context: inout CommandContext) {
        var onlyIfMissing = false
        var onlyIfPresent = false
        var returnOld = false
        var keepTTL = false
        var expiry: ExpiryArgument?
        var index = 3
        let arguments = context.arguments
        while index < arguments.count {
            let word = arguments[index]
            if word.equalsIgnoringCase("NX") && !onlyIfPresent {
                onlyIfMissing = true
            } else if word.equalsIgnoringCase("XX") && !onlyIfMissing {
                onlyIfPresent = true
            } else if word.equalsIgnoringCase("GET") {
                returnOld = true
            } else if word.equalsIgnoringCase("KEEPTTL") && expiry == nil {
                keepTTL = true
            } else if !keepTTL && expiry == nil, let option = context.expiryOption(at: index) {
                expiry = option
                index += 1
            } else {
                return context.replySyntaxError()
            }
            index += 1
        }
        var expireAt: Int64?
        if let expiry {
            guard let absolute = context.absoluteExpiry(expiry, command: "set") else { return }
            expireAt = absolute
        }
        let key = arguments[1]
        let value = arguments[2]
        let hash = context.hash(key)
        let shard = context.database.shard(for: hash)
        context.lock(shard)
        defer { context.unlock(shard) }
        let slot = shard.lookup(key, hash: hash, now: context.now)
        // Only GET and KEEPTTL look at the old value (fetching it costs a retain).
        let old = returnOld || keepTTL ? slot.map { shard.entry(at: $0) } : nil
        if returnOld, let old, !old.isString { return context.replyWrongType() }
        if (onlyIfMissing && slot != nil) || (onlyIfPresent && slot == nil) {
            if returnOld, let old { context.reply.writeBulkString(old) } else { context.reply.writeNull() }
            return
        }
        if keepTTL, let old { expireAt = old.expireAt }
        let entry = Entry.makeString(key: key, value: value, expireAt: expireAt, access: context.initialAccessClock)
        if returnOld {
            if let old { context.reply.writeBulkString(old) } else { context.reply.writeNull() }
        } else {
            context.reply.writeOK()
        }
        if let slot { shard.replace(at: slot, with: entry) } else { shard.insert(entry, hash: hash) }
        let finalExpiry = expireAt
        context.logEffect { log in
            log.argument("SET")
            log.argument(key)
            log.argument(value)
            if let finalExpiry {
                log.argument("PXAT")
                log.argument(finalExpiry)
            }
        }
        context.notify(KeyspaceEvents.string, "set", key)
        if expiry != nil { context.notify(KeyspaceEvents.generic, "expire", key) }
    }

    /// Stores `value` under the key in argument 1 with `expireAt`, replacing any value.
    private static func store(_ context: inout CommandContext, value: UnsafeRawBufferPointer, expireAt: Int64?) {
        let key = context.arguments[1]
        let hash = context.hash(key)
        let shard = context.database.shard(for: hash)
        context.lock(shard)
        defer { context.unlock(shard) }
        let entry = Entry.makeString(key: key, value: value, expireAt: expireAt, access: context.initialAccessClock)
        if let slot = shard.lookup(key, hash: hash, now: context.now) {
            shard.replace(at: slot, with: entry)
        } else {
            shard.insert(entry, hash: hash)
        }
        context.logEffect { log in
            log.argument("SET")
            log.argument(key)
            log.argument(value)
            if let expireAt {
                log.argument("PXAT")
                log.argument(expireAt)
            }
        }
        context.notify(KeyspaceEvents.string, "set", key)
        if expireAt != nil { context.notify(KeyspaceEvents.generic, "expire", key) }
    }

    static func setnx(_ context: inout CommandContext) {
        let key = context.arguments[1]
        let hash = context.hash(key)
        let shard = context.database.shard(for: hash)
        context.lock(shard)
        defer { context.unlock(shard) }
        if shard.lookup(key, hash: hash, now: context.now) != nil {
            context.reply.writeInteger(0)
            return
        }
        shard.insert(
            Entry.makeString(key: key, value: context.arguments[2], expireAt: nil, access: context.initialAccessClock),
            hash: hash)
        context.reply.writeInteger(1)
        let value = context.arguments[2]
        context.logEffect { log in
            log.argument("SET")
            log.argument(key)
            log.argument(value)
        }
        context.notify(KeyspaceEvents.string, "set", key)
    }

    static func setex(_ context: inout CommandContext) {
        let argument = ExpiryArgument(argumentIndex: 2, unit: .seconds, absolute: false)
        guard let expireAt = context.absoluteExpiry(argument, command: "setex") else { return }
        self.store(&context, value: context.arguments[3], expireAt: expireAt)
        context.reply.writeOK()
    }

    static func psetex(_ context: inout CommandContext) {
        let argument = ExpiryArgument(argumentIndex: 2, unit: .milliseconds, absolute: false)
        guard let expireAt = context.absoluteExpiry(argument, command: "psetex") else { return }
        self.store(&context, value: context.arguments[3], expireAt: expireAt)
        context.reply.writeOK()
    }

    static func getex(_ context: inout CommandContext) {
        var persist = false
        var expiry: ExpiryArgument?
        var index = 2
        while index < context.arguments.count {
            if context.arguments[index].equalsIgnoringCase("PERSIST") && expiry == nil && !persist {
                persist = true
            } else if !persist && expiry == nil, let option = context.expiryOption(at: index) {
                expiry = option
                index += 1
            } else {
                return context.replySyntaxError()
            }
            index += 1
        }
        var expireAt: Int64?
        if let expiry {
            guard let absolute = context.absoluteExpiry(expiry, command: "getex") else { return }
            expireAt = absolute
        }
        let key = context.arguments[1]
        let hash = context.hash(key)
        let shard = context.database.shard(for: hash)
        context.lock(shard)
        defer { context.unlock(shard) }
        guard let slot = context.lookupReadSlot(shard, key, hash: hash) else {
            return context.reply.writeNull()
        }
        let entry = shard.entry(at: slot)
        guard entry.isString else { return context.replyWrongType() }
        context.reply.writeBulkString(entry)
        if let expireAt {
            if expiry?.absolute == true && expireAt <= context.now {
                shard.remove(at: slot)
                context.logEffect { log in
                    log.argument("DEL")
                    log.argument(key)
                }
                context.notify(KeyspaceEvents.generic, "del", key)
            } else {
                shard.replace(at: slot, with: entry.withExpiry(expireAt))
                context.logEffect { log in
                    log.argument("PEXPIREAT")
                    log.argument(key)
                    log.argument(expireAt)
                }
                context.notify(KeyspaceEvents.generic, "expire", key)
            }
        } else if persist && entry.hasExpiry {
            shard.replace(at: slot, with: entry.withExpiry(nil))
            context.logEffect { log in
                log.argument("PERSIST")
                log.argument(key)
            }
            context.notify(KeyspaceEvents.generic, "persist", key)
        }
    }

    static func getdel(_ context: inout CommandContext) {
        let key = context.arguments[1]
        let hash = context.hash(key)
        let shard = context.database.shard(for: hash)
        context.lock(shard)
        defer { context.unlock(shard) }
        guard let slot = context.lookupReadSlot(shard, key, hash: hash) else {
            return context.reply.writeNull()
        }
        let entry = shard.entry(at: slot)
        guard entry.isString else { return context.replyWrongType() }
        context.reply.writeBulkString(entry)
        shard.remove(at: slot)
        context.logEffect { log in
            log.argument("DEL")
            log.argument(key)
        }
        context.notify(KeyspaceEvents.generic, "del", key)
    }

    static func getset(_ context: inout CommandContext) {
        let key = context.arguments[1]
        let hash = context.hash(key)
        let shard = context.database.shard(for: hash)
        context.lock(shard)
        defer { context.unlock(shard) }
        let entry = Entry.makeString(
            key: key, value: context.arguments[2], expireAt: nil, access: context.initialAccessClock)
        let value = context.arguments[2]
        guard let slot = shard.lookup(key, hash: hash, now: context.now) else {
            context.reply.writeNull()
            shard.insert(entry, hash: hash)
            context.logEffect { log in
                log.argument("SET")
                log.argument(key)
                log.argument(value)
            }
            context.notify(KeyspaceEvents.string, "set", key)
            return
        }
        let old = shard.entry(at: slot)
        guard old.isString else { return context.replyWrongType() }
        context.reply.writeBulkString(old)
        shard.replace(at: slot, with: entry)
        context.logEffect { log in
            log.argument("SET")
            log.argument(key)
            log.argument(value)
        }
        context.notify(KeyspaceEvents.string, "set", key)
    }

    // MARK: Several keys

    /// The shards holding the keys at argument `first`, `first + step` …, with each key's
    /// hash stored in `hashes`.
    private static func selectShards(
        _ arguments: CommandArguments, in database: Database, hasher: KeyHasher, from first: Int, step: Int,
        hashes: UnsafeMutableBufferPointer<UInt64>
    ) -> ShardSelection {
        var selection = ShardSelection()
        var slot = 0
        var index = first
        while index < arguments.count {
            let hash = hasher.hash(arguments[index])
            hashes[slot] = hash
            selection.insert(database.shardIndex(for: hash))
            slot += 1
            index += step
        }
        return selection
    }

    static func mget(_ context: inout CommandContext) {
        // The work is in a function of its own: a closure capturing the inout context
        // copies it (a struct of several references) for each use inside.
        withUnsafeTemporaryAllocation(of: UInt64.self, capacity: context.arguments.count - 1) { hashes in
            self.mget(&context, hashes: hashes)
        }
    }

    private static func mget(_ context: inout CommandContext, hashes: UnsafeMutableBufferPointer<UInt64>) {
        let keyCount = context.arguments.count - 1
        let database = context.database
        let selection = selectShards(
            context.arguments, in: database, hasher: context.engine.keyspace.hasher, from: 1, step: 1, hashes: hashes)
        context.lock(selection, in: database)
        defer { context.unlock(selection, in: database) }
        context.reply.writeArrayHeader(count: keyCount)
        for position in 0..<keyCount {
            let key = context.arguments[position + 1]
            let shard = database.shard(for: hashes[position])
            if let entry = context.lookupRead(shard, key, hash: hashes[position]), entry.isString {
                context.reply.writeBulkString(entry)
            } else {
                context.reply.writeNull()
            }
        }
    }

    static func mset(_ context: inout CommandContext) {
        self.msetGeneric(&context, onlyIfNoneExist: false)
    }

    static func msetnx(_ context: inout CommandContext) {
        self.msetGeneric(&context, onlyIfNoneExist: true)
    }

    private static func msetGeneric(_ context: inout CommandContext, onlyIfNoneExist: Bool) {
        let count = context.arguments.count
        guard count % 2 == 1 else {
            context.reply.writeError(
                "ERR wrong number of arguments for '\(onlyIfNoneExist ? "msetnx" : "mset")' command")
            return
        }
        withUnsafeTemporaryAllocation(of: UInt64.self, capacity: (count - 1) / 2) { hashes in
            self.msetLocked(&context, onlyIfNoneExist: onlyIfNoneExist, hashes: hashes)
        }
    }

    private static func msetLocked(
        _ context: inout CommandContext, onlyIfNoneExist: Bool, hashes: UnsafeMutableBufferPointer<UInt64>
    ) {
        let pairCount = (context.arguments.count - 1) / 2
        let database = context.database
        let selection = selectShards(
            context.arguments, in: database, hasher: context.engine.keyspace.hasher, from: 1, step: 2, hashes: hashes)
        context.lock(selection, in: database)
        defer { context.unlock(selection, in: database) }
        if onlyIfNoneExist {
            for position in 0..<pairCount {
                let key = context.arguments[1 + position * 2]
                if database.shard(for: hashes[position]).lookup(key, hash: hashes[position], now: context.now) != nil {
                    context.reply.writeInteger(0)
                    return
                }
            }
        }
        let access = context.initialAccessClock
        for position in 0..<pairCount {
            let key = context.arguments[1 + position * 2]
            let value = context.arguments[2 + position * 2]
            let shard = database.shard(for: hashes[position])
            let entry = Entry.makeString(key: key, value: value, expireAt: nil, access: access)
            if let slot = shard.lookup(key, hash: hashes[position], now: context.now) {
                shard.replace(at: slot, with: entry)
            } else {
                shard.insert(entry, hash: hashes[position])
            }
        }
        if onlyIfNoneExist { context.reply.writeInteger(1) } else { context.reply.writeOK() }
        let arguments = context.arguments
        context.logEffect { log in
            log.argument("MSET")
            for index in 1..<arguments.count { log.argument(arguments[index]) }
        }
        for position in 0..<pairCount { context.notify(KeyspaceEvents.string, "set", arguments[1 + position * 2]) }
    }

    // MARK: Counters

    static func incr(_ context: inout CommandContext) { self.incrementBy(&context, 1) }
    static func decr(_ context: inout CommandContext) { self.incrementBy(&context, -1) }

    static func incrby(_ context: inout CommandContext) {
        guard let delta = context.integerArgument(2) else { return }
        self.incrementBy(&context, delta)
    }

    static func decrby(_ context: inout CommandContext) {
        guard let delta = context.integerArgument(2) else { return }
        if delta == Int64.min {
            context.reply.writeError("ERR decrement would overflow")
            return
        }
        self.incrementBy(&context, -delta)
    }

    private static func incrementBy(_ context: inout CommandContext, _ delta: Int64) {
        let key = context.arguments[1]
        let hash = context.hash(key)
        let shard = context.database.shard(for: hash)
        context.lock(shard)
        defer { context.unlock(shard) }
        guard let slot = shard.lookup(key, hash: hash, now: context.now) else {
            shard.insert(
                Entry.makeInteger(key: key, value: delta, expireAt: nil, access: context.initialAccessClock), hash: hash
            )
            context.reply.writeInteger(delta)
            context.logCommand()
            context.notify(KeyspaceEvents.string, "incrby", key)
            return
        }
        // No local reference to the entry is kept: holding one would make it look shared
        // and force a copy instead of the in-place update below.
        let kind = shard.entry(at: slot).kind
        let current: Int64
        switch kind {
        case .integer:
            current = shard.entry(at: slot).integerValue
        case .string, .growableString:
            guard let parsed = shard.entry(at: slot).withStringBytes({ DecimalInteger.parse($0) }) else {
                return context.replyNotInteger()
            }
            current = parsed
        default:
            return context.replyWrongType()
        }
        let (result, overflow) = current.addingReportingOverflow(delta)
        if overflow {
            context.reply.writeError("ERR increment or decrement would overflow")
            return
        }
        if kind == .integer {
            // The common case changes eight bytes in place.
            let target = shard.mutableEntry(at: slot)
            target.overwriteInteger(result)
            context.touch(target)
        } else {
            let expireAt = shard.entry(at: slot).expireAt
            shard.replace(
                at: slot,
                with: Entry.makeInteger(key: key, value: result, expireAt: expireAt, access: context.initialAccessClock)
            )
        }
        context.logCommand()
        context.notify(KeyspaceEvents.string, "incrby", key)
        context.reply.writeInteger(result)
    }

    static func incrbyfloat(_ context: inout CommandContext) {
        let key = context.arguments[1]
        let hash = context.hash(key)
        let shard = context.database.shard(for: hash)
        context.lock(shard)
        defer { context.unlock(shard) }
        let slot = shard.lookup(key, hash: hash, now: context.now)
        var current: LongDouble = 0
        if let slot {
            let entry = shard.entry(at: slot)
            guard entry.isString else { return context.replyWrongType() }
            guard let parsed = entry.withStringBytes({ LongDoubleText.parse($0) }) else {
                return context.replyNotFloat()
            }
            current = parsed
        }
        guard let delta = LongDoubleText.parse(context.arguments[2]) else { return context.replyNotFloat() }
        let result = current + delta
        if result.isNaN || result.isInfinite {
            context.reply.writeError("ERR increment would produce NaN or Infinity")
            return
        }
        var text = LongDoubleText.format(result)
        let expireAt = slot.map { shard.entry(at: $0).expireAt } ?? nil
        text.withUTF8 { utf8 in
            let entry = Entry.makeRawString(
                key: key, value: UnsafeRawBufferPointer(utf8), expireAt: expireAt, access: context.initialAccessClock)
            if let slot { shard.replace(at: slot, with: entry) } else { shard.insert(entry, hash: hash) }
            context.reply.writeBulkString(UnsafeRawBufferPointer(utf8))
            // Logged as the value it produced: float formatting must not be redone on replay.
            context.logEffect { log in
                log.argument("SET")
                log.argument(key)
                log.argument(UnsafeRawBufferPointer(utf8))
                log.argument("KEEPTTL")
            }
            context.notify(KeyspaceEvents.string, "incrbyfloat", key)
        }
    }

    // MARK: Byte ranges

    private static func checkStringLength(_ context: inout CommandContext, _ length: Int) -> Bool {
        if length > context.engine.settings.protoMaxBulkLength.load(ordering: .relaxed) {
            context.reply.writeError("ERR string exceeds maximum allowed size (proto-max-bulk-len)")
            return false
        }
        return true
    }

    static func append(_ context: inout CommandContext) {
        let key = context.arguments[1]
        let addition = context.arguments[2]
        let hash = context.hash(key)
        let shard = context.database.shard(for: hash)
        context.lock(shard)
        defer { context.unlock(shard) }
        guard let slot = shard.lookup(key, hash: hash, now: context.now) else {
            shard.insert(
                Entry.makeString(key: key, value: addition, expireAt: nil, access: context.initialAccessClock),
                hash: hash)
            context.reply.writeInteger(addition.count)
            context.logCommand()
            context.notify(KeyspaceEvents.string, "append", key)
            return
        }
        // No local reference to the entry before mutableEntry: it would look shared and be copied.
        guard shard.entry(at: slot).isString else { return context.replyWrongType() }
        guard checkStringLength(&context, shard.entry(at: slot).stringLength + addition.count) else { return }
        if shard.entry(at: slot).kind == .growableString {
            let target = shard.mutableEntry(at: slot)
            let storage = target.payload(as: GrowableString.self)
            storage.bytes.append(contentsOf: addition)
            context.reply.writeInteger(storage.bytes.count)
            context.logCommand()
            context.notify(KeyspaceEvents.string, "append", key)
            return
        }
        let entry = shard.entry(at: slot)
        var bytes = entry.stringBytes
        bytes.append(contentsOf: addition)
        let grown = Entry.makeObject(
            key: key, kind: .growableString, payload: GrowableString(bytes: bytes), expireAt: entry.expireAt,
            access: context.initialAccessClock)
        shard.replace(at: slot, with: grown)
        context.reply.writeInteger(bytes.count)
        context.logCommand()
        context.notify(KeyspaceEvents.string, "append", key)
    }

    static func strlen(_ context: inout CommandContext) {
        let key = context.arguments[1]
        let hash = context.hash(key)
        let shard = context.database.shard(for: hash)
        context.lock(shard)
        defer { context.unlock(shard) }
        guard let entry = context.lookupRead(shard, key, hash: hash) else { return context.reply.writeInteger(0) }
        guard entry.isString else { return context.replyWrongType() }
        context.reply.writeInteger(entry.stringLength)
    }

    static func getrange(_ context: inout CommandContext) {
        guard var start = context.integerArgument(2), var end = context.integerArgument(3) else { return }
        let key = context.arguments[1]
        let hash = context.hash(key)
        let shard = context.database.shard(for: hash)
        context.lock(shard)
        defer { context.unlock(shard) }
        guard let entry = context.lookupRead(shard, key, hash: hash) else {
            return context.reply.writeBulkString(UnsafeRawBufferPointer(start: nil, count: 0))
        }
        guard entry.isString else { return context.replyWrongType() }
        if start < 0 && end < 0 && start > end {
            return context.reply.writeBulkString(UnsafeRawBufferPointer(start: nil, count: 0))
        }
        entry.withStringBytes { bytes in
            let length = Int64(bytes.count)
            if start < 0 { start = length + start }
            if end < 0 { end = length + end }
            if start < 0 { start = 0 }
            if end < 0 { end = 0 }
            if end >= length { end = length - 1 }
            if start > end || length == 0 {
                context.reply.writeBulkString(UnsafeRawBufferPointer(start: nil, count: 0))
            } else {
                context.reply.writeBulkString(UnsafeRawBufferPointer(rebasing: bytes[Int(start)...Int(end)]))
            }
        }
    }

    static func setrange(_ context: inout CommandContext) {
        guard let offset64 = context.integerArgument(2) else { return }
        if offset64 < 0 {
            context.reply.writeError("ERR offset is out of range")
            return
        }
        let patch = context.arguments[3]
        let key = context.arguments[1]
        let hash = context.hash(key)
        let shard = context.database.shard(for: hash)
        context.lock(shard)
        defer { context.unlock(shard) }
        let slot = shard.lookup(key, hash: hash, now: context.now)
        if let slot, !shard.entry(at: slot).isString { return context.replyWrongType() }
        let currentLength = slot.map { shard.entry(at: $0).stringLength } ?? 0
        if patch.count == 0 {
            context.reply.writeInteger(currentLength)
            return
        }
        guard offset64 <= Int64(Int32.max) * 4, checkStringLength(&context, Int(offset64) + patch.count) else {
            if offset64 > Int64(Int32.max) * 4 {
                context.reply.writeError("ERR string exceeds maximum allowed size (proto-max-bulk-len)")
            }
            return
        }
        let offset = Int(offset64)
        if let slot, shard.entry(at: slot).kind == .growableString {
            let storage = shard.mutableEntry(at: slot).payload(as: GrowableString.self)
            Self.patch(&storage.bytes, at: offset, with: patch)
            context.reply.writeInteger(storage.bytes.count)
            context.logCommand()
            context.notify(KeyspaceEvents.string, "setrange", key)
            return
        }
        let entry = slot.map { shard.entry(at: $0) }
        var bytes = entry?.stringBytes ?? []
        Self.patch(&bytes, at: offset, with: patch)
        let updated = Entry.makeObject(
            key: key, kind: .growableString, payload: GrowableString(bytes: bytes), expireAt: entry?.expireAt,
            access: context.initialAccessClock)
        if let slot { shard.replace(at: slot, with: updated) } else { shard.insert(updated, hash: hash) }
        context.reply.writeInteger(bytes.count)
        context.logCommand()
        context.notify(KeyspaceEvents.string, "setrange", key)
    }

    private static func patch(_ bytes: inout [UInt8], at offset: Int, with patch: UnsafeRawBufferPointer) {
        if bytes.count < offset + patch.count {
            bytes.append(contentsOf: repeatElement(0, count: offset + patch.count - bytes.count))
        }
        bytes.withUnsafeMutableBytes { target in
            (target.baseAddress! + offset).copyMemory(from: patch.baseAddress!, byteCount: patch.count)
        }
    }

    // MARK: LCS

    static func lcs(_ context: inout CommandContext) {
        var wantLength = false
        var wantIndexes = false
        var withMatchLength = false
        var minimumMatchLength: Int64 = 0
        var index = 3
        while index < context.arguments.count {
            let word = context.arguments[index]
            if word.equalsIgnoringCase("IDX") {
                wantIndexes = true
            } else if word.equalsIgnoringCase("LEN") {
                wantLength = true
            } else if word.equalsIgnoringCase("WITHMATCHLEN") {
                withMatchLength = true
            } else if word.equalsIgnoringCase("MINMATCHLEN") && index + 1 < context.arguments.count {
                guard let value = context.integerArgument(index + 1) else { return }
                minimumMatchLength = max(0, value)
                index += 1
            } else {
                return context.replySyntaxError()
            }
            index += 1
        }
        if wantLength && wantIndexes {
            context.reply.writeError("ERR If you want both the length and indexes, please just use IDX.")
            return
        }
        guard let (first, second) = self.readStringsForLCS(&context) else {
            return context.reply.writeError("ERR The specified keys must contain string values")
        }
        let (a, b) = (first, second)
        let cells = (a.count + 1) * (b.count + 1)
        if cells * 4 > context.engine.settings.protoMaxBulkLength.load(ordering: .relaxed) {
            context.reply.writeError("ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len")
            return
        }
        LongestCommonSubsequence(a: a, b: b).reply(
            into: &context.reply, length: wantLength, indexes: wantIndexes,
            withMatchLength: withMatchLength, minimumMatchLength: Int(minimumMatchLength))
    }

    /// Both strings (empty when missing), read under both shard locks so LCS sees one
    /// moment; nil when either key holds another type.
    private static func readStringsForLCS(_ context: inout CommandContext) -> ([UInt8], [UInt8])? {
        let database = context.database
        let keyA = context.arguments[1]
        let keyB = context.arguments[2]
        let hashA = context.hash(keyA)
        let hashB = context.hash(keyB)
        var selection = ShardSelection()
        selection.insert(database.shardIndex(for: hashA))
        selection.insert(database.shardIndex(for: hashB))
        context.lock(selection, in: database)
        defer { context.unlock(selection, in: database) }
        let entryA = context.lookupRead(database.shard(for: hashA), keyA, hash: hashA)
        let entryB = context.lookupRead(database.shard(for: hashB), keyB, hash: hashB)
        if let entryA, !entryA.isString { return nil }
        if let entryB, !entryB.isString { return nil }
        return (entryA?.stringBytes ?? [], entryB?.stringBytes ?? [])
    }
}
