import Atomics
import NIOCore
import Synchronization
public import WharfProtocol

/// What SHUTDOWN asked for.
public struct ShutdownRequest: Sendable, Hashable {
    /// `SAVE` / `NOSAVE`, or nil when neither was given.
    public var save: Bool?
    public var now: Bool
    public var force: Bool
}

/// Hooks through which the engine reaches the layer that hosts it, which it otherwise
/// knows nothing of (sockets, processes).
public final class EngineHooks: Sendable {
    /// Performs SHUTDOWN; returns an error message to reply with, or nil when shutting down.
    let shutdown = Mutex<(@Sendable (ShutdownRequest) -> String?)?>(nil)
    /// Extra `INFO server` fields from the host (port, executable, config file).
    let serverInfo = Mutex<(@Sendable () -> [(String, String)])?>(nil)

    public func onShutdown(_ handler: @escaping @Sendable (ShutdownRequest) -> String?) {
        self.shutdown.withLock { $0 = handler }
    }

    public func onServerInfo(_ provider: @escaping @Sendable () -> [(String, String)]) {
        self.serverInfo.withLock { $0 = provider }
    }

    /// Sends MIGRATE's commands to another server and returns its replies in order.
    let migrate = Mutex<(@Sendable (MigrationRequest) throws(MigrationFailure) -> [RESPValue])?>(nil)

    /// Provides MIGRATE's connection to other servers (the engine opens no sockets).
    public func onMigrate(_ transport: @escaping @Sendable (MigrationRequest) throws(MigrationFailure) -> [RESPValue]) {
        self.migrate.withLock { $0 = transport }
    }
}

/// What MIGRATE asks the host to send: pipelined commands to `host:port`, each step
/// (connect, send, every reply) within `timeoutMilliseconds`.
public struct MigrationRequest: Sendable {
    public let host: String
    public let port: Int
    public let timeoutMilliseconds: Int
    public let commands: [[[UInt8]]]
}

/// Why MIGRATE's exchange failed, for Redis's IOERR replies.
public enum MigrationFailure: Error, Sendable {
    case connecting
    case writing
    case reading
}

/// The Wharf engine: keyspace, command table, sessions and statistics. It executes
/// commands synchronously on the caller's thread, locking only the shards of the keys a
/// command touches, and knows nothing of sockets.
///
/// ```swift
/// let engine = Engine()
/// let session = engine.makeSession(address: "embedded")
/// var context = CommandContext(engine: engine, session: session, reply: RESPReplyWriter(buffer: ByteBuffer()))
/// // fill context.arguments, then:
/// engine.execute(&context)
/// ```
public final class Engine: @unchecked Sendable {
    public let settings: EngineSettings
    public let clock: EngineClock
    public let clients: ClientRegistry
    public let hooks = EngineHooks()
    package let keyspace: Keyspace
    package let commands: CommandTable
    package let stats: EngineStats
    package let startedAt: Int64
    package let startedMonotonic: Int64
    private let cron = Mutex<CronState>(CronState())
    /// Identifies this run, as Redis's `run_id`.
    package let runID: String
    /// Durability (log, snapshots); nil for a purely in-memory engine.
    public let persistence: Persistence?
    /// Clients blocked on keys (BLPOP, BZPOPMIN …).
    package let blocking = BlockingRegistry()
    /// Pub/sub subscriptions and delivery.
    package let pubsub: PubSubHub
    /// Clients in MONITOR mode.
    package let monitors = MonitorHub()
    /// Keys whose stream went while clients may wait on them, to be served (and told) after
    /// the command; touched only when a stream goes and someone is blocked.
    private let streamWakeups = Mutex<[WaitKey]>([])
    private let streamWakeupsPending = ManagedAtomic<Bool>(false)

    private func noteStreamGone(_ key: UnsafeRawBufferPointer, database: Int) {
        guard self.blocking.hasWaiters else { return }
        self.streamWakeups.withLock { $0.append(WaitKey(database: database, key: Array(key))) }
        self.streamWakeupsPending.store(true, ordering: .relaxed)
    }

    private func noteFlushed(database: Int) {
        guard self.blocking.hasWaiters else { return }
        let keys = self.blocking.waitedKeys(inDatabase: database)
        guard !keys.isEmpty else { return }
        self.streamWakeups.withLock { $0.append(contentsOf: keys.map { WaitKey(database: database, key: $0) }) }
        self.streamWakeupsPending.store(true, ordering: .relaxed)
    }

    /// Moves the pending stream wake-ups into `context`'s ready keys.
    private func takeStreamWakeups(_ context: inout CommandContext) {
        guard self.streamWakeupsPending.exchange(false, ordering: .relaxed) else { return }
        let keys = self.streamWakeups.withLock { keys in
            defer { keys.removeAll() }
            return keys
        }
        context.readyKeys.append(contentsOf: keys)
    }

    /// In-process callers waiting for durable log records.
    package let durabilityWaiters = DurabilityWaiters()

    /// CLIENT PAUSE and UNPAUSE.
    package let pause = ClientPause()

    /// DEBUG SET-ACTIVE-EXPIRE: whether the cron sweeps expired keys.
    let activeExpiryEnabled = ManagedAtomic<Bool>(true)
    /// SLOWLOG and LATENCY's records.
    package let slowlog = SlowLog()
    package let latency = LatencyMonitor()

    struct CronState {
        var expiryPosition = 0
        var opsSamples: [(time: Int64, count: Int)] = []
        var peakMemory = 0
    }

    public init(
        settings: EngineSettings = EngineSettings(), clock: EngineClock = .system, persistence: Persistence? = nil
    ) {
        self.settings = settings
        self.clock = clock
        self.clients = ClientRegistry()
        self.keyspace = Keyspace(
            databaseCount: settings.databases, shardsPerDatabase: settings.shards, hasher: .process)
        self.commands = CommandTable(Engine.declarations)
        self.stats = EngineStats(commandCount: self.commands.all.count)
        self.pubsub = PubSubHub(
            stats: self.stats.sharedSlab, limit: { [settings] in settings.outputBufferLimits.withLock { $0.pubsub } })
        self.startedAt = clock.nowMilliseconds()
        self.startedMonotonic = EngineClock.monotonicNanoseconds()
        Ticks.start()
        self.runID = (0..<40).map { _ in String("0123456789abcdef".randomElement()!) }.joined()
        self.persistence = persistence
        persistence?.engine = self
        for database in self.keyspace.databases {
            let index = database.index
            for shard in database.shards {
                // Unowned: the engine owns the keyspace and so outlives every shard.
                shard.onExpired = { [unowned self] key in
                    self.notify(KeyspaceEvents.expired, "expired", key: key, database: index)
                }
                shard.onInserted = { [unowned self] key in
                    self.notify(KeyspaceEvents.newKey, "new", key: key, database: index)
                }
                shard.onStreamGone = { [unowned self] key in self.noteStreamGone(key, database: index) }
                shard.onFlushed = { [unowned self] in self.noteFlushed(database: index) }
            }
        }
    }

    /// Releases what a departing client held: subscriptions and watched keys.
    package func disconnect(_ session: ClientSession) {
        if session.isMonitor {
            self.monitors.remove(id: session.id)
            session.isMonitor = false
        }
        if session.subscriptions.isActive { PubSubCommands.removeAll(session, hub: self.pubsub) }
        if !session.watched.isEmpty { TransactionCommands.unwatchAll(session) }
    }

    /// Every command family's declarations; the one list the command table is built from.
    static var declarations: [CommandSpec] {
        ConnectionCommands.declarations + ServerCommands.declarations + ReplicationCommands.declarations
            + ModuleCommands.declarations + MemoryCommands.declarations + MonitorCommands.declarations
            + SlowlogCommands.declarations + LatencyCommands.declarations + DebugCommands.declarations
            + LolwutCommand.declarations + MigrateCommand.declarations
            + KeyCommands.declarations
            + DumpCommands.declarations
            + StringCommands.declarations + BitmapCommands.declarations + HyperLogLogCommands.declarations
            + PersistenceCommands.declarations
            + ListCommands.declarations + HashCommands.declarations + SetCommands.declarations
            + SortedSetCommands.declarations + GeoCommands.declarations + SortCommands.declarations
            + StreamCommands.declarations + StreamGroupCommands.declarations
            + StreamInfoCommands.declarations + PubSubCommands.declarations + TransactionCommands.declarations
    }

    /// A statistics slab for one thread that will run commands (an event loop).
    package func makeStatsSlab() -> StatsSlab {
        self.stats.makeSlab()
    }

    /// A session for a new client. Pass a per-thread slab from ``makeStatsSlab()`` when the
    /// caller runs all its commands on one thread; otherwise a shared, atomic one is used.
    package func makeSession(info: ClientInfo, stats: StatsSlab? = nil) -> ClientSession {
        ClientSession(
            info: info, isAuthenticated: !self.settings.hasPassword.load(ordering: .relaxed),
            stats: stats ?? self.stats.sharedSlab, keyspace: self.keyspace)
    }

    /// A session for an in-process caller.
    public func makeSession(address: String) -> ClientSession {
        let info = ClientInfo(
            id: self.clients.makeID(), address: address, localAddress: "", createdAt: self.clock.nowMilliseconds(),
            close: nil)
        return self.makeSession(info: info)
    }

    // MARK: Executing

    /// Runs the command in `context.arguments` and writes its reply.
    @inline(__always)
    public func execute(_ context: inout CommandContext) {
        let session = context.session
        let before = session.replyMode
        let mark = context.reply.buffer.writerIndex
        self.run(&context)
        if before == .on && session.replyMode == .on { return }
        self.applyReplyMode(&context, mark: mark)
    }

    /// CLIENT REPLY OFF and SKIP: drops the reply just written when it is not to be sent.
    private func applyReplyMode(_ context: inout CommandContext, mark: Int) {
        let session = context.session
        var drop = false
        switch session.replyMode {
        case .on: drop = false
        case .off: drop = true
        case .skipNext:
            drop = true
            session.replyMode = .skipThis
        case .skipThis:
            drop = true
            session.replyMode = .on
        }
        if drop { context.reply.buffer.moveWriterIndex(to: mark) }
    }

    private func run(_ context: inout CommandContext) {
        let arguments = context.arguments
        // Strong references, retained once here: calls through unowned(unsafe) ones would
        // retain and release at every use.
        let session = context.session
        let stats = context.counters
        guard arguments.count > 0 else { return }
        guard let found = self.commands.lookupUnretained(arguments[0]) else {
            TransactionCommands.markDirty(session)
            self.replyUnknownCommand(&context)
            stats.add(.errorReplies)
            self.stats.countError("ERR".utf8)
            return
        }
        var spec = found.takeUnretainedValue()
        if !spec.subcommands.isEmpty {
            // A container with a handler of its own (COMMAND) runs it when given no subcommand.
            if arguments.count < 2 && spec.handler == nil {
                self.reject(&context, spec, "ERR wrong number of arguments for '\(spec.fullName)' command")
                return
            }
            if arguments.count >= 2, let sub = self.commands.subcommand(of: spec, named: arguments[1]) {
                spec = sub
            } else if arguments.count >= 2 {
                let name = String(decoding: arguments[1].prefix(128), as: UTF8.self)
                self.reject(&context, spec, "ERR unknown subcommand '\(name)'. Try \(spec.name.uppercased()) HELP.")
                return
            }
        }
        if !spec.acceptsArgumentCount(arguments.count) {
            self.reject(&context, spec, "ERR wrong number of arguments for '\(spec.fullName)' command")
            return
        }
        if !session.isAuthenticated && !spec.flags.contains(.noAuth) {
            self.reject(&context, spec, "NOAUTH Authentication required.")
            return
        }
        if session.transaction != nil && !spec.runsInTransaction {
            // Between MULTI and EXEC commands are queued, not run.
            TransactionCommands.queue(&context, spec)
            return
        }
        if session.isMonitor && !spec.flags.isDisjoint(with: [.write, .readonly, .mayReplicate]) {
            // A monitor is a replica in Redis, and replicas may not touch the keyspace.
            self.reject(&context, spec, "ERR Replica can't interact with the keyspace")
            return
        }
        if session.subscriptions.isActive && context.reply.version == .resp2 && !spec.allowedWhileSubscribed {
            self.reject(
                &context, spec,
                "ERR Can't execute '\(spec.fullName)': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context"
            )
            return
        }
        if self.pause.isActive && !context.replaying && self.pause.postpones(spec, &context) { return }
        if spec.flags.contains(.write), !context.replaying, context.logIsFailing(), let persistence = self.persistence {
            // As Redis: writes are refused while the log cannot be written; reads go on.
            self.reject(
                &context, spec, "MISCONF Errors writing to the AOF file: \(persistence.failure ?? "unknown error")")
            return
        }
        // A relaxed store is a plain store; CLIENT LIST shows it (also for the client asking).
        session.infoFast.lastCommand.store(spec.index, ordering: .relaxed)
        // Cheap commands (O(1) or flagged fast) are timed on one call in eight (scaled up
        // when counted); reading the time-stamp counter twice costs as much as a whole GET.
        var timed = true
        let sampled = spec.isConstantTime && !self.settings.timesEveryCommand.load(ordering: .relaxed)
        if sampled {
            context.timingCountdown &+= 1
            timed = context.timingCountdown & (Self.timingSampleRate - 1) == 0
        }
        let start = timed ? Ticks.now() : 0
        context.now = context.batchTime ?? self.clock.nowMilliseconds()
        let mark = context.reply.buffer.writerIndex
        spec.handler.unsafelyUnwrapped(&context)
        if timed {
            let elapsed = Int(truncatingIfNeeded: Ticks.now() &- start)
            stats.add(command: spec.index, .ticks, sampled ? elapsed &* Self.timingSampleRate : elapsed)
            self.noteDuration(&context, spec, ticks: elapsed, weight: sampled ? Self.timingSampleRate : 1)
        }
        if self.streamWakeupsPending.load(ordering: .relaxed) && !context.inTransaction {
            self.takeStreamWakeups(&context)
        }
        if !context.readyKeys.isEmpty && !context.inTransaction { self.serveReadyKeys(&context) }
        // As Redis: admin commands (MONITOR, CONFIG, DEBUG …) are not shown to monitors.
        if self.monitors.isActive && spec.flags.isDisjoint(with: [.skipMonitor, .admin]) {
            self.monitors.feed(
                arguments, database: session.database, address: session.info.address,
                limit: self.settings.outputBufferLimits.withLock { $0.replica })
        }
        stats.add(.commandsProcessed)
        stats.add(command: spec.index, .calls)
        if context.reply.buffer.getInteger(at: mark, as: UInt8.self) == UInt8(ascii: "-") {
            stats.add(command: spec.index, .failed)
            stats.add(.errorReplies)
            let buffer = context.reply.buffer
            buffer.withUnsafeReadableBytes { bytes in
                self.stats.countError(bytes[(mark - buffer.readerIndex + 1)...].prefix(80))
            }
        }
    }

    /// Feeds a command's duration to the latency histogram, the slow log and the latency
    /// monitor; the last two are touched only by commands slow enough for them.
    @inline(__always)
    private func noteDuration(_ context: inout CommandContext, _ spec: CommandSpec, ticks: Int, weight: Int) {
        let settings = self.settings
        let microseconds = Int(Double(ticks) * Ticks.nanosecondsPerTick / 1000)
        if settings.latencyTracking.load(ordering: .relaxed) {
            context.counters.addLatency(command: spec.index, microseconds: microseconds, weight: weight)
        }
        let slowerThan = settings.slowlogSlowerThan.load(ordering: .relaxed)
        if slowerThan >= 0 && microseconds >= slowerThan && !spec.flags.contains(.skipSlowlog) {
            let info = context.session.info
            self.slowlog.record(
                context.arguments, microseconds: microseconds, time: context.now, address: info.address,
                name: info.name, limit: settings.slowlogMaxLength.load(ordering: .relaxed))
        }
        let threshold = settings.latencyMonitorThreshold.load(ordering: .relaxed)
        if threshold > 0 && microseconds / 1000 >= threshold {
            self.latency.record(
                spec.flags.contains(.fast) ? "fast-command" : "command", milliseconds: microseconds / 1000,
                time: context.now)
        }
    }

    /// One constant-time command in this many is timed for INFO commandstats.
    static let timingSampleRate = 8

    private func reject(_ context: inout CommandContext, _ spec: CommandSpec, _ message: String) {
        // A command refused while queueing makes EXEC abort, as in Redis.
        TransactionCommands.markDirty(context.session)
        context.reply.writeError(message)
        context.session.stats.add(command: spec.index, .rejected)
        context.session.stats.add(.errorReplies)
        self.stats.countError(message.utf8)
    }

    /// `ERR unknown command 'x', with args beginning with: 'a' 'b' `, truncated as Redis does.
    private func replyUnknownCommand(_ context: inout CommandContext) {
        let arguments = context.arguments
        var listed = ""
        var index = 1
        while index < arguments.count && listed.utf8.count < 128 {
            let room = 128 - listed.utf8.count
            listed += "'\(String(decoding: arguments[index].prefix(room), as: UTF8.self))' "
            index += 1
        }
        let name = String(decoding: arguments[0].prefix(128), as: UTF8.self)
        context.reply.writeError("ERR unknown command '\(name)', with args beginning with: \(listed)")
    }

    // MARK: Background work

    /// Periodic work, called `hz` times a second by the host: active expiry and the
    /// operations-per-second sample.
    public func runCron() {
        let now = self.clock.nowMilliseconds()
        let hz = max(1, self.settings.hz.load(ordering: .relaxed))
        // Like Redis: the sweep may use up to 25% of each cron period.
        let budget = Int64(1_000_000_000 / hz / 4)
        if self.activeExpiryEnabled.load(ordering: .relaxed) {
            _ = self.activeExpireCycle(now: now, budgetNanoseconds: budget)
        }
        if self.streamWakeupsPending.load(ordering: .relaxed) {
            // Streams the sweep expired: their blocked readers are told from here.
            var context = CommandContext(
                engine: self, session: self.makeSession(address: "cron"), reply: RESPReplyWriter(buffer: ByteBuffer()))
            context.now = now
            self.takeStreamWakeups(&context)
            self.serveReadyKeys(&context)
        }
        self.persistence?.cron(now: now)
        let processed = self.stats.totals()[.commandsProcessed]
        let monotonic = EngineClock.monotonicNanoseconds()
        let memory = ProcessMemory.allocatedBytes()
        self.cron.withLock { state in
            state.opsSamples.append((monotonic, processed))
            if state.opsSamples.count > 16 { state.opsSamples.removeFirst(state.opsSamples.count - 16) }
            state.peakMemory = max(state.peakMemory, memory)
        }
    }

    /// Deletes expired keys, sampling keys with a TTL in every shard of every database until
    /// few of those sampled have expired or the time budget is spent (Redis's adaptive cycle).
    ///
    /// - Returns: the number of keys deleted.
    @discardableResult
    public func activeExpireCycle(now: Int64, budgetNanoseconds: Int64) -> Int {
        let effort = self.settings.activeExpireEffort.load(ordering: .relaxed)
        let perLoop = 20 + 5 * (effort - 1)
        let acceptableStalePercent = 10 - effort + 1
        let deadline = EngineClock.monotonicNanoseconds() + budgetNanoseconds
        let shardsPerDatabase = self.keyspace.shardsPerDatabase
        let totalShards = self.keyspace.databases.count * shardsPerDatabase
        let startPosition = self.cron.withLock { $0.expiryPosition }
        var expiredTotal = 0
        var visited = 0
        while visited < totalShards {
            let position = (startPosition + visited) % totalShards
            let shard = self.keyspace.databases[position / shardsPerDatabase].shards[position % shardsPerDatabase]
            while true {
                shard.lock.lock()
                let result =
                    shard.volatileCount == 0 ? (examined: 0, expired: 0) : shard.sweepExpired(now: now, limit: perLoop)
                shard.lock.unlock()
                expiredTotal += result.expired
                if result.examined == 0 || result.expired * 100 <= result.examined * acceptableStalePercent { break }
                if EngineClock.monotonicNanoseconds() > deadline { break }
            }
            visited += 1
            if EngineClock.monotonicNanoseconds() > deadline { break }
        }
        self.cron.withLock { $0.expiryPosition = (startPosition + visited) % max(totalShards, 1) }
        return expiredTotal
    }

    /// Keys removed because they expired, in all databases.
    package var expiredKeys: Int {
        var total = 0
        for database in self.keyspace.databases {
            for shard in database.shards {
                shard.lock.lock()
                total += shard.expiredKeys
                shard.lock.unlock()
            }
        }
        return total
    }

    /// Zeroes the per-shard counters (CONFIG RESETSTAT).
    package func resetKeyspaceCounters() {
        for database in self.keyspace.databases {
            for shard in database.shards {
                shard.lock.lock()
                shard.expiredKeys = 0
                shard.lock.unlock()
            }
        }
    }

    /// Operations per second over the recent cron samples.
    package var instantaneousOpsPerSecond: Int {
        self.cron.withLock { state in
            guard let first = state.opsSamples.first, let last = state.opsSamples.last, last.time > first.time else {
                return 0
            }
            return Int(Double(last.count - first.count) / (Double(last.time - first.time) / 1e9))
        }
    }

    package var peakMemory: Int {
        max(self.cron.withLock { $0.peakMemory }, ProcessMemory.allocatedBytes())
    }
}
