import Atomics
import NIOCore
import Synchronization
public import WharfProtocol
import WharfStorage

/// Everything a command handler works with: the engine, the calling client's session, the
/// arguments, and the reply writer.
///
/// A connection keeps one context for its whole life and refills ``arguments`` for each
/// command, so the reply buffer inside stays uniquely owned and is written without copies.
public struct CommandContext {
    /// The engine and session, unretained: handlers touch them on every command and a
    /// context is passed `inout`, which would otherwise make each access retain them.
    /// ``owners`` keeps both alive for the context's life.
    public unowned(unsafe) let engine: Engine
    public unowned(unsafe) let session: ClientSession
    private let owners: (Engine, ClientSession)
    /// The engine's settings, unretained like ``engine``.
    package unowned(unsafe) let settings: EngineSettings
    /// The write-ahead log, once resolved (it opens after the engine is built). Unmanaged:
    /// the engine's persistence keeps it alive, and calling through an `unowned(unsafe)`
    /// reference would retain and release it around every append.
    var resolvedLog: Unmanaged<WriteAheadLog>?
    /// The engine's `notify-keyspace-events` flags, read before anything else a
    /// notification costs (usually they are off).
    let notifyFlags: UnsafeAtomic<Int>
    /// The session's statistics counters, as a value (no reference counting per use).
    let counters: StatsCounters
    public var reply: RESPReplyWriter
    /// The current command's arguments; valid only while it runs.
    public var arguments: CommandArguments
    /// The command's time (Unix ms), read once when it starts, as Redis does, so every key it
    /// touches sees the same instant.
    package var now: Int64 = 0
    /// The time a connection read for its current batch of commands. When set, commands
    /// use it instead of reading the clock each (one clock read per batch, as Redis caches
    /// its time per event-loop turn); when nil each command reads the clock.
    public var batchTime: Int64?
    /// Counts constant-time commands so one in ``Engine/timingSampleRate`` is timed.
    var timingCountdown = 0
    /// Set while the log is being replayed: effects are not logged again.
    package var replaying = false
    /// The log position just past the last record this client's commands appended; its
    /// replies may be sent once the log has written (or synced) that far.
    public var appendedLSN: UInt64 = 0
    /// Keys that received data while clients wait on them; served after the command.
    package var readyKeys: [WaitKey] = []
    /// Set by a blocking command that found nothing: the connection waits for this client.
    package var blockedWaiter: Waiter?
    /// Set when CLIENT PAUSE postponed the command: the connection keeps it unconsumed and
    /// runs it again when the wait ends.
    public var postponed = false
    /// Set while EXEC runs the queued commands (blocking commands do not block then).
    package var inTransaction = false
    /// Set while a caller (EXEC) already holds every shard lock the command needs.
    package var locksHeld = false
    /// Whether the running EXEC has logged its opening `MULTI` record.
    package var transactionLogged = false

    public init(engine: Engine, session: ClientSession, reply: RESPReplyWriter) {
        self.engine = engine
        self.session = session
        self.owners = (engine, session)
        self.settings = engine.settings
        self.notifyFlags = engine.settings.notifyKeyspaceEvents
        self.counters = session.stats.counters
        self.reply = reply
        self.arguments = CommandArguments(base: Self.emptyBase, spans: Self.emptySpans, count: 0)
    }

    nonisolated(unsafe) private static let emptyBase = UnsafeRawPointer(
        UnsafeMutableRawPointer.allocate(byteCount: 1, alignment: 1))
    nonisolated(unsafe) private static let emptySpans = UnsafePointer(
        UnsafeMutablePointer<ArgumentSpan>.allocate(capacity: 1))
}

// MARK: - Helpers for handlers

extension CommandContext {
    @inline(__always)
    package var database: Database {
        self.session.currentDatabase
    }

    @inline(__always)
    package func hash(_ key: UnsafeRawBufferPointer) -> UInt64 {
        self.engine.keyspace.hasher.hash(key)
    }

    @inline(__always)
    package func lock(_ shard: Shard) {
        if !self.locksHeld { shard.lock.lock() }
    }

    @inline(__always)
    package func unlock(_ shard: Shard) {
        if !self.locksHeld { shard.lock.unlock() }
    }

    /// Locks the shards of `database` that hold the given key hashes, in ascending order.
    package func lock(_ selection: ShardSelection, in database: Database) {
        if self.locksHeld { return }
        selection.forEach { database.shards[$0].lock.lock() }
    }

    package func unlock(_ selection: ShardSelection, in database: Database) {
        if self.locksHeld { return }
        selection.forEachReversed { database.shards[$0].lock.unlock() }
    }

    /// Looks a key up for reading: counts a keyspace hit or miss and records the access.
    @inline(__always)
    package func lookupRead(_ shard: Shard, _ key: UnsafeRawBufferPointer, hash: UInt64, touch: Bool = true) -> Entry? {
        guard let slot = self.lookupReadSlot(shard, key, hash: hash, touch: touch) else { return nil }
        return shard.entry(at: slot)
    }

    /// ``lookupRead(_:_:hash:)`` returning the slot, for commands that then change the entry.
    @inline(__always)
    package func lookupReadSlot(_ shard: Shard, _ key: UnsafeRawBufferPointer, hash: UInt64, touch: Bool = true) -> Int?
    {
        guard let slot = shard.lookup(key, hash: hash, now: self.now) else {
            self.counters.add(.keyspaceMisses)
            self.notify(KeyspaceEvents.keyMiss, "keymiss", key)
            return nil
        }
        self.counters.add(.keyspaceHits)
        if touch { self.touch(shard.entry(at: slot)) }
        return slot
    }

    /// Records an access to `entry` in its LRU/LFU clock.
    @inline(__always)
    package func touch(_ entry: Entry) {
        let settings = self.settings
        if !settings.tracksLFU.load(ordering: .relaxed) {
            entry.accessClock = AccessTracking.lruClock(now: self.now)
        } else {
            AccessTracking.touch(
                entry, now: self.now, lfu: true,
                logFactor: settings.lfuLogFactor.load(ordering: .relaxed),
                decayTime: settings.lfuDecayTime.load(ordering: .relaxed))
        }
    }

    /// The access clock value for a new entry.
    @inline(__always)
    package var initialAccessClock: UInt32 {
        AccessTracking.initial(now: self.now, lfu: self.settings.tracksLFU.load(ordering: .relaxed))
    }

    // MARK: Common replies

    /// The reply to `<COMMAND> HELP`, in Redis's layout.
    package mutating func replyHelp(command: String, lines: [String]) {
        self.reply.writeArrayHeader(count: lines.count + 3)
        self.reply.writeSimpleString("\(command) <subcommand> [<arg> [value] [opt] ...]. Subcommands are:")
        for line in lines { self.reply.writeSimpleString(line) }
        self.reply.writeSimpleString("HELP")
        self.reply.writeSimpleString("    Print this help.")
    }

    package mutating func replyWrongType() {
        self.reply.writeError("WRONGTYPE Operation against a key holding the wrong kind of value")
    }

    package mutating func replySyntaxError() {
        self.reply.writeError("ERR syntax error")
    }

    package mutating func replyNotInteger() {
        self.reply.writeError("ERR value is not an integer or out of range")
    }

    package mutating func replyNotFloat() {
        self.reply.writeError("ERR value is not a valid float")
    }

    /// Argument `index` as an integer, or replies with Redis's error and returns nil.
    package mutating func integerArgument(_ index: Int) -> Int64? {
        if let value = DecimalInteger.parse(self.arguments[index]) { return value }
        self.replyNotInteger()
        return nil
    }
}
