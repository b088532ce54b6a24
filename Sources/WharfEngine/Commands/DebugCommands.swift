import Atomics
import Synchronization
import WharfProtocol

#if canImport(Glibc)
    import Glibc
#endif

/// DEBUG: the subset of Redis's debugging commands that tools and test suites use. Off
/// unless `enable-debug-command` is `yes` (or `local`, for loopback clients), as in Redis 7.
enum DebugCommands {
    static let declarations: [CommandSpec] = [
        CommandSpec(
            "debug", arity: -2, flags: [.admin, .noScript, .loading, .stale], acl: [], group: .server,
            since: "1.0.0", summary: "A container for debugging commands.", complexity: "Depends on subcommand.",
            handler: debug)
    ]

    static let notAllowed =
        "ERR DEBUG command not allowed. If the enable-debug-command option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server."

    static func isAllowed(_ context: CommandContext) -> Bool {
        let setting = context.settings.redisValues.withLock { $0["enable-debug-command"] } ?? "no"
        if setting == "yes" { return true }
        guard setting == "local" else { return false }
        let address = context.session.info.address
        return address.hasPrefix("127.") || address.hasPrefix("[::1]") || address.hasPrefix("::1")
            || address.hasPrefix("unix")
            || address == "embedded"
    }

    static func debug(_ context: inout CommandContext) {
        guard isAllowed(context) else { return context.reply.writeError(notAllowed) }
        let subcommand = context.arguments.string(1).lowercased()
        let count = context.arguments.count
        switch subcommand {
        case "help":
            help(&context)
        case "object" where count == 3:
            object(&context)
        case "sleep" where count == 3:
            guard let seconds = RESPDouble.parse(context.arguments[2]), seconds >= 0 else {
                return context.replyNotFloat()
            }
            // Blocks this client's thread, as Redis blocks its whole server.
            usleep(UInt32(min(seconds, 3600) * 1_000_000))
            context.reply.writeOK()
        case "reload":
            reload(&context)
        case "set-active-expire" where count == 3:
            guard let value = context.integerArgument(2) else { return }
            context.engine.activeExpiryEnabled.store(value != 0, ordering: .relaxed)
            context.reply.writeOK()
        case "quicklist-packed-threshold" where count == 3:
            // Wharf's lists have no plain nodes; the size is checked and accepted.
            guard ConfigRegistry.parseMemory(context.arguments.string(2)) != nil else {
                return context.reply.writeError(
                    "ERR argument must be a memory value bigger than 1 and smaller than 4gb")
            }
            context.reply.writeOK()
        case "listpack" where count == 3:
            listpack(&context)
        case "change-repl-id" where count == 2:
            context.reply.writeOK()
        case "stringmatch-len":
            // Redis checks here that a pathological pattern cannot hang the matcher.
            let pattern = String(repeating: "a*", count: 100) + "b"
            let subject = String(repeating: "a", count: 300)
            _ = GlobPattern.matches(pattern, subject, ignoringCase: false)
            context.reply.writeOK()
        case "digest" where count == 2:
            context.reply.writeSimpleString(hex(datasetDigest(context)))
        case "digest-value":
            context.reply.writeArrayHeader(count: count - 2)
            for index in 2..<count {
                context.reply.writeSimpleString(hex(keyDigest(&context, context.arguments[index])))
            }
        default:
            context.reply.writeError(
                "ERR unknown subcommand or wrong number of arguments for '\(context.arguments.string(1))'. Try DEBUG HELP."
            )
        }
    }

    private static func help(_ context: inout CommandContext) {
        context.replyHelp(
            command: "DEBUG",
            lines: [
                "CHANGE-REPL-ID", "    Change the replication IDs of the instance.",
                "DIGEST", "    Output a hex signature representing the current DB content.",
                "DIGEST-VALUE <key> [<key> ...]", "    Output a hex signature of the values of all the specified keys.",
                "LISTPACK <key>", "    Show low level info about the listpack encoding of <key>.",
                "OBJECT <key>", "    Show low level info about the key and associated value.",
                "QUICKLIST-PACKED-THRESHOLD <size>",
                "    Sets the threshold for elements to be inserted as plain vs packed nodes.",
                "RELOAD [option ...]",
                "    Save the dataset as a snapshot, flush the keyspace and load it back. Options:",
                "    * MERGE: keep the keys not in the snapshot.", "    * NOFLUSH: do not empty the keyspace first.",
                "    * NOSAVE: load the newest snapshot without saving one first.",
                "SET-ACTIVE-EXPIRE <0|1>", "    Setting it to 0 disables expiring keys in the background.",
                "SLEEP <seconds>", "    Stop the server for <seconds>. Decimals allowed.",
                "STRINGMATCH-LEN", "    Run a fuzz tester against the stringmatchlen() function.",
            ])
    }

    /// Runs `body` with the entry of the key in argument 2 under its lock, or replies Redis's
    /// error for a missing key.
    private static func withEntry(_ context: inout CommandContext, _ body: (inout CommandContext, Entry) -> Void) {
        let key = context.arguments[2]
        let hash = context.hash(key)
        let shard = context.database.shard(for: hash)
        context.lock(shard)
        defer { context.unlock(shard) }
        guard let entry = shard.lookup(key, hash: hash, now: context.now).map({ shard.entry(at: $0) }) else {
            return context.reply.writeError("ERR no such key")
        }
        body(&context, entry)
    }

    private static func object(_ context: inout CommandContext) {
        withEntry(&context) { context, entry in describe(&context, entry) }
    }

    private static func describe(_ context: inout CommandContext, _ entry: Entry) {
        var writer = RDBWriter()
        RDBValueWriter.write(entry, into: &writer)
        let address = UInt(bitPattern: Unmanaged.passUnretained(entry).toOpaque())
        let idle = AccessTracking.idleMilliseconds(entry.accessClock, now: context.now) / 1000
        var text =
            "Value at:0x\(String(address, radix: 16)) refcount:1 encoding:\(entry.encodingName) "
            + "serializedlength:\(writer.bytes.count - 1) lru:\(entry.accessClock) lru_seconds_idle:\(idle)"
        if entry.kind == .list {
            let items = ListCommands.View(entry).count
            text +=
                " ql_nodes:1 ql_avg_node:\(items).00 ql_listpack_max:-2 ql_compressed:0 ql_uncompressed_size:\(items)"
        }
        context.reply.writeSimpleString(text)
    }

    private static func listpack(_ context: inout CommandContext) {
        withEntry(&context) { context, entry in
            guard [.packedList, .packedHash, .packedSortedSet].contains(entry.kind) else {
                return context.reply.writeError("ERR Not a listpack encoded object.")
            }
            context.reply.writeSimpleString("Listpack structure printed on stdout")
        }
    }

    private static func reload(_ context: inout CommandContext) {
        var save = true
        var flush = true
        for index in 2..<context.arguments.count {
            let option = context.arguments[index]
            if option.equalsIgnoringCase("MERGE") || option.equalsIgnoringCase("NOFLUSH") {
                flush = false
            } else if option.equalsIgnoringCase("NOSAVE") {
                save = false
            } else {
                return context.reply.writeError("ERR DEBUG RELOAD only supports the MERGE, NOFLUSH and NOSAVE options.")
            }
        }
        guard let persistence = context.engine.persistence else {
            return context.reply.writeError(
                "ERR DEBUG RELOAD needs a data directory (this engine keeps nothing on disk)")
        }
        let keyspace = context.engine.keyspace
        if !context.locksHeld { keyspace.lockAll() }
        defer { if !context.locksHeld { keyspace.unlockAll() } }
        do {
            if save { try persistence.snapshot(background: false) }
            if flush {
                for database in keyspace.databases { for shard in database.shards { _ = shard.removeAll() } }
            }
            _ = try persistence.reloadNewestSnapshot()
        } catch {
            return context.reply.writeError("ERR Error trying to load the snapshot: \(error)")
        }
        context.reply.writeOK()
    }

    // MARK: Digests

    private static func hex(_ bytes: [UInt8]) -> String {
        bytes.map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined()
    }

    /// XOR of every key's digest (key, value, expiry), so the order keys are met does not
    /// matter; 40 zeros for an empty dataset, as in Redis.
    private static func datasetDigest(_ context: CommandContext) -> [UInt8] {
        var total = [UInt8](repeating: 0, count: 20)
        for database in context.engine.keyspace.databases {
            for shard in database.shards {
                context.lock(shard)
                shard.table.forEachEntry { entry in
                    if let expireAt = entry.expireAt, expireAt <= context.now { return }
                    var hasher = SHA1()
                    hasher.update(Array(String(database.index).utf8))
                    hasher.update(entry.key)
                    hasher.update(valueDigest(entry))
                    if let expireAt = entry.expireAt { hasher.update(Array(String(expireAt).utf8)) }
                    for (index, byte) in hasher.finish().enumerated() { total[index] ^= byte }
                }
                context.unlock(shard)
            }
        }
        return total
    }

    private static func keyDigest(_ context: inout CommandContext, _ key: UnsafeRawBufferPointer) -> [UInt8] {
        let hash = context.hash(key)
        let shard = context.database.shard(for: hash)
        context.lock(shard)
        defer { context.unlock(shard) }
        guard let slot = shard.lookup(key, hash: hash, now: context.now) else {
            return [UInt8](repeating: 0, count: 20)
        }
        return valueDigest(shard.entry(at: slot))
    }

    /// A value's digest, independent of its encoding: unordered members are XORed.
    private static func valueDigest(_ entry: Entry) -> [UInt8] {
        var hasher = SHA1()
        hasher.update(Array(entry.kind.typeName.utf8))
        switch entry.kind.family {
        case .string:
            entry.withStringBytes { hasher.update($0) }
        case .list:
            let view = ListCommands.View(entry)
            if view.count > 0 {
                view.forEach(in: 0...(view.count - 1)) { _, item in
                    hasher.update(Array(String(item.count).utf8))
                    hasher.update(item)
                    return true
                }
            }
        case .set:
            var mixed = [UInt8](repeating: 0, count: 20)
            SetCommands.View(entry).forEach { member in
                for (index, byte) in SHA1.digest(member).enumerated() { mixed[index] ^= byte }
            }
            hasher.update(mixed)
        case .hash:
            var mixed = [UInt8](repeating: 0, count: 20)
            HashCommands.View(entry).forEach { field, value in
                var pair = SHA1()
                pair.update(Array(String(field.count).utf8))
                pair.update(field)
                pair.update(value)
                for (index, byte) in pair.finish().enumerated() { mixed[index] ^= byte }
            }
            hasher.update(mixed)
        case .sortedSet:
            SortedSetHandle(entry).forEach(from: 0) { item in
                hasher.update(Array(String(item.member.count).utf8))
                hasher.update(item.member)
                hasher.update(Array(RESPDouble.format(item.score).utf8))
                return true
            }
        case .stream:
            var writer = RDBWriter()
            RDBValueWriter.write(entry, into: &writer)
            hasher.update(writer.bytes)
        }
        return hasher.finish()
    }
}
