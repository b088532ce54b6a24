import NIOCore
import WharfProtocol
import WharfStorage

/// A client's commands queued between MULTI and EXEC.
package struct QueuedTransaction {
    /// Each command's arguments, copied out of the input buffer.
    var commands: [[[UInt8]]] = []
    /// A command was refused while queueing (unknown, wrong arity …): EXEC aborts.
    var isDirty = false
}

/// A key a client WATCHes.
package struct WatchedKey {
    let database: Int
    let key: [UInt8]
    let state: WatchState
    /// The key had already expired (but was not yet removed) when WATCHed.
    let expiredWhenWatched: Bool
}

/// MULTI, EXEC, DISCARD, WATCH and UNWATCH.
///
/// EXEC takes every shard lock of every database (in the global order) before it checks
/// the watched keys and runs the queue, so no other client's command can run in between:
/// the transaction is atomic for every observer. Shard locks are recursive, so the queued
/// commands take them again as usual. The transaction's log records are framed by `MULTI`
/// and `EXEC` records; recovery applies a transaction whole or, when the log ends inside
/// it, not at all.
enum TransactionCommands {
    static let declarations: [CommandSpec] = [
        CommandSpec(
            "multi", arity: 1, flags: [.noScript, .loading, .stale, .fast, .allowBusy], acl: [.transaction],
            group: .transactions,
            since: "1.2.0", summary: "Starts a transaction.", handler: multi),
        CommandSpec(
            "exec", arity: 1, flags: [.noScript, .loading, .stale, .skipSlowlog], acl: [.transaction],
            group: .transactions,
            since: "1.2.0", summary: "Executes all commands in a transaction.",
            complexity: "Depends on commands in the transaction", handler: exec),
        CommandSpec(
            "discard", arity: 1, flags: [.noScript, .loading, .stale, .fast, .allowBusy], acl: [.transaction],
            group: .transactions,
            since: "2.0.0", summary: "Discards a transaction.",
            complexity: "O(N), when N is the number of queued commands", handler: discard),
        CommandSpec(
            "watch", arity: -2, flags: [.noScript, .loading, .stale, .fast, .allowBusy], keys: .all,
            acl: [.transaction], group: .transactions,
            since: "2.2.0", summary: "Monitors changes to keys to determine the execution of a transaction.",
            complexity: "O(1) for every key.", handler: watch),
        CommandSpec(
            "unwatch", arity: 1, flags: [.noScript, .loading, .stale, .fast, .allowBusy], acl: [.transaction],
            group: .transactions,
            since: "2.2.0", summary: "Forgets about watched keys of a transaction.", handler: unwatch),
    ]

    /// Commands that run at once between MULTI and EXEC instead of being queued.
    static let runImmediately: Set<String> = ["exec", "discard", "multi", "watch", "quit", "reset"]

    /// Queues the command in `context.arguments` (its name and arity already checked).
    static func queue(_ context: inout CommandContext, _ spec: CommandSpec) {
        var command: [[UInt8]] = []
        command.reserveCapacity(context.arguments.count)
        for index in 0..<context.arguments.count { command.append(context.arguments.bytes(index)) }
        context.session.transaction?.commands.append(command)
        context.reply.writeSimpleString("QUEUED")
    }

    /// Marks the open transaction as failed (a command was refused while queueing).
    static func markDirty(_ session: ClientSession) {
        if session.transaction != nil { session.transaction!.isDirty = true }
    }

    static func multi(_ context: inout CommandContext) {
        if context.session.transaction != nil { return context.reply.writeError("ERR MULTI calls can not be nested") }
        context.session.transaction = QueuedTransaction()
        context.session.info.setFlag(ClientFlags.inTransaction, true)
        context.reply.writeOK()
    }

    static func discard(_ context: inout CommandContext) {
        guard context.session.transaction != nil else { return context.reply.writeError("ERR DISCARD without MULTI") }
        Self.end(context.session)
        context.reply.writeOK()
    }

    private static func end(_ session: ClientSession) {
        session.transaction = nil
        session.info.setFlag(ClientFlags.inTransaction, false)
        Self.unwatchAll(session)
    }

    static func exec(_ context: inout CommandContext) {
        let session = context.session
        guard let transaction = session.transaction else { return context.reply.writeError("ERR EXEC without MULTI") }
        if transaction.isDirty {
            Self.end(session)
            return context.reply.writeError("EXECABORT Transaction discarded because of previous errors.")
        }
        let keyspace = context.engine.keyspace
        keyspace.lockAll()
        defer { keyspace.unlockAll() }
        if Self.watchedKeysChanged(session, now: context.now) {
            Self.end(session)
            return context.reply.writeNullArray()
        }
        Self.end(session)
        context.reply.writeArrayHeader(count: transaction.commands.count)
        context.inTransaction = true
        context.transactionLogged = false
        let savedArguments = context.arguments
        for command in transaction.commands {
            Self.withArguments(command) { arguments in
                context.arguments = arguments
                context.engine.execute(&context)
            }
        }
        context.arguments = savedArguments
        context.inTransaction = false
        if context.transactionLogged {
            context.transactionLogged = false
            if let log = context.resolvedLog?.takeUnretainedValue() {
                context.appendedLSN = log.append(time: context.now, database: session.database) { $0.argument("EXEC") }
            }
        }
    }

    /// Whether any watched key changed (or expired) since WATCH; called with all locks held.
    static func watchedKeysChanged(_ session: ClientSession, now: Int64) -> Bool {
        for watched in session.watched {
            if watched.state.isDirty { return true }
            if !watched.expiredWhenWatched {
                let database = session.keyspaceDatabase(watched.database)
                let changed = watched.key.withUnsafeBytes { key -> Bool in
                    let hash = database.hasher.hash(key)
                    let shard = database.shard(for: hash)
                    guard let slot = shard.table.find(key, hash: hash), let expireAt = shard.entry(at: slot).expireAt
                    else { return false }
                    return now > expireAt
                }
                if changed { return true }
            }
        }
        return false
    }

    /// Runs `body` with `command` laid out as ``CommandArguments``.
    static func withArguments(_ command: [[UInt8]], _ body: (CommandArguments) -> Void) {
        let total = command.reduce(0) { $0 + $1.count }
        let storage = UnsafeMutableRawPointer.allocate(byteCount: max(total, 1), alignment: 1)
        let spans = UnsafeMutablePointer<ArgumentSpan>.allocate(capacity: command.count)
        defer {
            storage.deallocate()
            spans.deallocate()
        }
        var offset = 0
        for (index, argument) in command.enumerated() {
            argument.withUnsafeBytes { bytes in
                if bytes.count > 0 { (storage + offset).copyMemory(from: bytes.baseAddress!, byteCount: bytes.count) }
            }
            (spans + index).initialize(to: ArgumentSpan(offset: offset, length: argument.count))
            offset += argument.count
        }
        body(CommandArguments(base: UnsafeRawPointer(storage), spans: UnsafePointer(spans), count: command.count))
    }

    static func watch(_ context: inout CommandContext) {
        let session = context.session
        if session.transaction != nil { return context.reply.writeError("ERR WATCH inside MULTI is not allowed") }
        let database = context.database
        for index in 1..<context.arguments.count {
            let key = context.arguments[index]
            if session.watched.contains(where: {
                $0.database == database.index && $0.key.withUnsafeBytes { $0.equalsBytesShared(key) }
            }) {
                continue
            }
            let hash = context.hash(key)
            let shard = database.shard(for: hash)
            context.lock(shard)
            var expired = false
            if let slot = shard.table.find(key, hash: hash), let expireAt = shard.entry(at: slot).expireAt {
                expired = context.now > expireAt
            }
            let state = WatchState()
            let bytes = Array(key)
            shard.watch(bytes, state)
            context.unlock(shard)
            session.watched.append(
                WatchedKey(database: database.index, key: bytes, state: state, expiredWhenWatched: expired))
        }
        context.reply.writeOK()
    }

    static func unwatch(_ context: inout CommandContext) {
        Self.unwatchAll(context.session)
        context.reply.writeOK()
    }

    /// Forgets every key the client watches.
    static func unwatchAll(_ session: ClientSession) {
        for watched in session.watched {
            let database = session.keyspaceDatabase(watched.database)
            let shard = watched.key.withUnsafeBytes { database.shard(for: database.hasher.hash($0)) }
            shard.lock.lock()
            shard.unwatch(watched.key, watched.state)
            shard.lock.unlock()
        }
        session.watched.removeAll()
    }
}
