import Synchronization
import WharfProtocol
import WharfStorage

/// MIGRATE: moves keys to another Redis or Wharf server with RESTORE, as Redis does.
///
/// The values are serialized under their keys' locks, the locks are released, and the host's
/// transport (``EngineHooks/onMigrate(_:)``) sends AUTH, SELECT and the RESTOREs in one
/// pipeline; no lock is held across the network. Unless COPY, a key is then deleted only if
/// it still holds the value that was sent (a concurrent write wins over the migration).
enum MigrateCommand {
    static let declarations: [CommandSpec] = [
        CommandSpec(
            "migrate", arity: -6, flags: [.write, .movableKeys], keys: KeyPositions(first: 3, last: 3, step: 1),
            acl: [.keyspace, .dangerous], group: .generic,
            since: "2.6.0", summary: "Atomically transfers a key from one Redis instance to another.",
            complexity:
                "This command actually executes a DUMP+DEL in the source instance, and a RESTORE in the target instance. See the pages of these commands for time complexity. Also an O(N) data transfer between the two instances is performed.",
            handler: migrate),
        CommandSpec(
            "restore-asking", arity: -4, flags: [.write, .denyOOM], keys: .single, acl: [.keyspace, .dangerous],
            group: .server,
            since: "3.0.0", summary: "An internal command for migrating keys in a cluster.",
            complexity:
                "O(1) to create the new key and additional O(N*M) to reconstruct the serialized value, where N is the number of Redis objects composing the value and M their average size.",
            handler: DumpCommands.restore),
    ]

    private struct Sent {
        let key: [UInt8]
        let entry: Entry
        let database: Database
        let hash: UInt64
    }

    static func migrate(_ context: inout CommandContext) {
        let arguments = context.arguments
        var copy = false
        var replace = false
        var authentication: [[UInt8]]?
        var keyIndices = [3]
        var index = 6
        while index < arguments.count {
            let word = arguments[index]
            let more = arguments.count - index - 1
            if word.equalsIgnoringCase("COPY") {
                copy = true
            } else if word.equalsIgnoringCase("REPLACE") {
                replace = true
            } else if word.equalsIgnoringCase("AUTH") && more >= 1 {
                authentication = [Array(arguments[index + 1])]
                index += 1
            } else if word.equalsIgnoringCase("AUTH2") && more >= 2 {
                authentication = [Array(arguments[index + 1]), Array(arguments[index + 2])]
                index += 2
            } else if word.equalsIgnoringCase("KEYS") {
                guard arguments[3].isEmpty else {
                    return context.reply.writeError(
                        "ERR When using MIGRATE KEYS option, the key argument must be set to the empty string")
                }
                keyIndices = Array((index + 1)..<arguments.count)
                break
            } else {
                return context.replySyntaxError()
            }
            index += 1
        }
        guard let port = context.integerArgument(2), let databaseIndex = context.integerArgument(4),
            var timeout = context.integerArgument(5)
        else { return }
        if timeout <= 0 { timeout = 1000 }
        // Serialize each existing key under its lock.
        var sent: [Sent] = []
        var commands: [[[UInt8]]] = []
        if let authentication { commands.append([Array("AUTH".utf8)] + authentication) }
        commands.append([Array("SELECT".utf8), Array(String(databaseIndex).utf8)])
        let database = context.database
        for keyIndex in keyIndices {
            let key = arguments[keyIndex]
            let hash = context.hash(key)
            let shard = database.shard(for: hash)
            context.lock(shard)
            if let entry = context.lookupRead(shard, key, hash: hash) {
                let ttl = entry.expireAt.map { max(1, $0 - context.now) } ?? 0
                var restore = [
                    Array("RESTORE".utf8), Array(key), Array(String(ttl).utf8), RDBValueWriter.dumpPayload(entry),
                ]
                if replace { restore.append(Array("REPLACE".utf8)) }
                commands.append(restore)
                sent.append(Sent(key: Array(key), entry: entry, database: database, hash: hash))
            }
            context.unlock(shard)
        }
        guard !sent.isEmpty else { return context.reply.writeSimpleString("NOKEY") }
        guard let transport = context.engine.hooks.migrate.withLock({ $0 }) else {
            return context.reply.writeError("IOERR error or timeout connecting to the client")
        }
        let replies: [RESPValue]
        do {
            replies = try transport(
                MigrationRequest(
                    host: arguments.string(1), port: Int(port),
                    timeoutMilliseconds: Int(timeout), commands: commands))
        } catch {
            switch error {
            case .connecting: return context.reply.writeError("IOERR error or timeout connecting to the client")
            case .writing: return context.reply.writeError("IOERR error or timeout writing to target instance")
            case .reading: return context.reply.writeError("IOERR error or timeout reading to target instance")
            }
        }
        let restoreReplies = replies.suffix(sent.count)
        for reply in replies.prefix(replies.count - sent.count) {
            if case .error(let message) = reply {
                return context.reply.writeError("ERR Target instance replied with error: \(message)")
            }
        }
        var firstError: String?
        for (item, reply) in zip(sent, restoreReplies) {
            if case .error(let message) = reply {
                if firstError == nil { firstError = message }
                continue
            }
            if copy { continue }
            let shard = item.database.shard(for: item.hash)
            context.lock(shard)
            item.key.withUnsafeBytes { key in
                if let slot = shard.lookup(key, hash: item.hash, now: context.now), shard.entry(at: slot) === item.entry
                {
                    shard.remove(at: slot)
                    context.logEffect { log in
                        log.argument("DEL")
                        log.argument(key)
                    }
                    context.notify(KeyspaceEvents.generic, "del", key)
                }
            }
            context.unlock(shard)
        }
        if let firstError { return context.reply.writeError("ERR Target instance replied with error: \(firstError)") }
        context.reply.writeOK()
    }
}
