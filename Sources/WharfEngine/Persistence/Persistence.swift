import Atomics
import NIOCore
import Synchronization
import WharfProtocol
public import WharfStorage

/// How the engine persists its data.
public struct PersistenceOptions: Sendable {
    public var directory: String
    /// Keep a write-ahead log (`appendonly yes`); without it only snapshots persist data.
    public var appendOnly = true
    public var fsync: FsyncPolicy = .everysec
    /// Cut the log at damage instead of refusing to start.
    public var repair = false
    public var segmentSize = 64 * 1024 * 1024

    public init(directory: String) {
        self.directory = directory
    }
}

/// What start-up recovery did, for the log and INFO.
public struct RecoveryReport: Sendable {
    public var snapshotPath: String?
    public var snapshotKeys = 0
    public var logRecords = 0
    public var logBytes = 0
    public var replayErrors = 0
    public var tornTail: String?
    /// A transaction cut off at the end of the log (the crash came before its EXEC).
    public var incompleteTransaction: String?
    public var repaired: String?
    public var milliseconds: Int64 = 0
    public var peakResidentBytes = 0
    public var keys = 0

    public var summary: String {
        var parts: [String] = []
        if let snapshotPath { parts.append("loaded \(self.snapshotKeys) keys from \(snapshotPath)") }
        parts.append("replayed \(self.logRecords) log records (\(self.logBytes) bytes)")
        parts.append("\(self.keys) keys in \(self.milliseconds) ms, peak RSS \(self.peakResidentBytes / 1_048_576) MB")
        return parts.joined(separator: "; ")
    }
}

/// Start-up could not recover the data directory; the message names the file and offset.
public struct RecoveryError: Error, Sendable, CustomStringConvertible {
    public let description: String
}

/// Durability for one engine: the write-ahead log, snapshots and recovery.
///
/// Every write command records its effect in the log while it holds its shard locks (see
/// ``CommandContext/logEffect(_:)``); replies wait until the record is written (or, with
/// `appendfsync always`, durable). A snapshot takes every shard lock for an instant to copy
/// the tables (copy-on-write, O(1) each) and rotate the log, then serializes in the
/// background; once it lands, the log segments it covers are deleted.
public final class Persistence: @unchecked Sendable {
    public let options: PersistenceOptions
    public let layout: StorageLayout
    /// Set once by ``recover(into:)`` before any client is served; nil without `appendonly`.
    public private(set) var log: WriteAheadLog?
    unowned(unsafe) var engine: Engine?
    private let state = Mutex<State>(State())
    private var backupCounter = 0

    struct State {
        var snapshotInProgress = false
        var lastSaveTime: Int64 = 0
        var lastSaveStatusOK = true
        var lastSaveError: String?
        var lastSaveMilliseconds: Int64 = -1
        var saves = 0
        var snapshotLSN: UInt64 = 0
        var snapshotSize = 0
        var changesAtLastSave = 0
        var recovery = RecoveryReport()
        var backups: [Int: (path: String, size: Int, lsn: UInt64)] = [:]
    }

    public init(options: PersistenceOptions) {
        self.options = options
        self.layout = StorageLayout(directory: options.directory)
    }

    var isFailing: Bool { self.log?.isFailing ?? false }
    var failure: String? { self.log?.failure }

    // MARK: Recovery

    /// Loads the newest snapshot and replays the log after it, then opens the log for
    /// appending. Call once, before serving.
    @discardableResult
    public func recover(into engine: Engine) throws -> RecoveryReport {
        precondition(self.engine === engine, "recover into the engine this persistence belongs to")
        let started = EngineClock.monotonicNanoseconds()
        try StorageFiles.createDirectory(self.layout.directory)
        for leftover in try self.layout.temporaryFiles() { try StorageFiles.remove(leftover) }
        for name in try StorageFiles.list(self.layout.directory)
        where name.hasPrefix("backup-") && name.hasSuffix(".wsnap") {
            try StorageFiles.remove("\(self.layout.directory)/\(name)")
        }
        var report = RecoveryReport()
        var lsn: UInt64 = 0
        let snapshots = try self.layout.snapshots()
        if let newest = snapshots.last {
            do {
                _ = try SnapshotReader.validate(path: newest.path)
            } catch let damage as SnapshotDamage {
                throw RecoveryError(
                    description:
                        "\(damage.description). The log before it was removed when it was written, so it cannot be rebuilt; restore a backup (wharf restore)."
                )
            }
            report.snapshotKeys = try self.loadSnapshot(newest.path, into: engine)
            report.snapshotPath = newest.path
            lsn = newest.lsn
            self.state.withLock {
                $0.snapshotLSN = newest.lsn
                $0.snapshotSize = StorageFiles.size(newest.path)
                $0.lastSaveTime = (try? SnapshotReader(path: newest.path).createdAt).map { $0 / 1000 } ?? 0
            }
        }
        if snapshots.isEmpty {
            // As Redis: without a snapshot, the `save` rules count from start-up.
            self.state.withLock { $0.lastSaveTime = engine.clock.nowMilliseconds() / 1000 }
        }
        let replayer = LogReplayer(engine: engine, start: lsn)
        var scan: LogScanResult
        do {
            scan = try LogReader.read(self.layout, from: lsn, repair: self.options.repair) { record in
                try replayer.apply(record)
            }
        } catch let damage as LogDamage {
            throw RecoveryError(description: damage.description)
        }
        if let open = replayer.openTransaction {
            // The log ends inside MULTI … EXEC: the crash came mid-transaction, which was
            // never acknowledged. Cut it off, as Redis reverts an incomplete MULTI.
            scan.lastSegment = try LogReader.truncate(self.layout, to: open.start)
            scan.endLSN = open.start
            report.incompleteTransaction =
                "discarded an incomplete transaction at the end of the log (\(open.records) records from LSN \(open.start))"
        }
        report.logRecords = scan.records
        report.logBytes = scan.bytes
        report.replayErrors = replayer.errors
        if let torn = scan.tornTail {
            report.tornTail =
                "truncated a torn record at the end of \(torn.path) at offset \(torn.offset) (\(torn.bytes) bytes cut, to the end of the file)"
        }
        if let repaired = scan.repaired {
            report.repaired =
                "repaired \(repaired.path): cut at offset \(repaired.offset) (\(repaired.reason)), dropped \(repaired.droppedBytes) bytes"
        }
        engine.stats.reset()
        if self.options.appendOnly {
            self.log = try WriteAheadLog(
                layout: self.layout, lsn: scan.endLSN, continuing: scan.lastSegment, policy: self.options.fsync,
                segmentLimit: self.options.segmentSize)
        }
        report.keys = engine.keyspace.databases.reduce(0) { $0 + $1.count() }
        report.milliseconds = (EngineClock.monotonicNanoseconds() - started) / 1_000_000
        report.peakResidentBytes = ProcessMemory.peakResidentBytes()
        self.state.withLock { $0.recovery = report }
        let leftoverSegments = try self.layout.segments()
        if !self.options.appendOnly && !leftoverSegments.isEmpty {
            // The log of an earlier `appendonly yes` run is folded into a snapshot and removed.
            try self.snapshot(background: false)
        }
        return report
    }

    /// DEBUG RELOAD: loads the newest snapshot into the running engine (the caller holds
    /// every shard lock and has emptied the keyspace, unless merging). Returns the keys loaded.
    package func reloadNewestSnapshot() throws -> Int {
        guard let engine = self.engine, let newest = try self.layout.snapshots().last else { return 0 }
        return try self.loadSnapshot(newest.path, into: engine)
    }

    private func loadSnapshot(_ path: String, into engine: Engine) throws -> Int {
        let reader = try SnapshotReader(path: path)
        let access = AccessTracking.initial(
            now: engine.clock.nowMilliseconds(), lfu: engine.settings.tracksLFU.load(ordering: .relaxed))
        var database: Database?
        var loaded = 0
        loop: while true {
            switch try SnapshotCodec.read(from: reader, access: access) {
            case .database(let index):
                guard index < engine.keyspace.databases.count else {
                    throw RecoveryError(
                        description:
                            "snapshot \(path) has database \(index) but only \(engine.keyspace.databases.count) are configured (databases)"
                    )
                }
                database = engine.keyspace.databases[index]
            case .entry(let entry):
                guard let database else {
                    throw SnapshotDamage(path: path, offset: 0, reason: "entry before any database marker")
                }
                let hash = engine.keyspace.hasher.hash(entry.key)
                let shard = database.shard(for: hash)
                shard.lock.lock()
                if let slot = shard.table.find(entry.key, hash: hash) {
                    shard.replace(at: slot, with: entry)
                } else {
                    shard.insert(entry, hash: hash)
                }
                shard.lock.unlock()
                loaded += 1
            case .end:
                break loop
            }
        }
        let recorded = try reader.finish()
        guard recorded == UInt64(loaded) else {
            throw SnapshotDamage(
                path: path, offset: 0, reason: "trailer counts \(recorded) entries, body has \(loaded)")
        }
        return loaded
    }

    // MARK: Snapshots

    /// What a snapshot is for.
    enum SnapshotPurpose {
        /// Replaces the current snapshot and lets the log before it go.
        case save
        /// A point-in-time copy to a file of its own.
        case backup(path: String)
    }

    /// Takes a snapshot: an instant with every shard locked to copy the tables and rotate
    /// the log, then serialization (on a background thread when `background`).
    ///
    /// - Returns: false when a snapshot is already being written.
    @discardableResult
    public func snapshot(background: Bool) throws -> Bool {
        try self.snapshot(purpose: .save, background: background) != nil
    }

    func snapshot(purpose: SnapshotPurpose, background: Bool) throws -> (lsn: UInt64, path: String)? {
        guard let engine = self.engine else { return nil }
        if case .save = purpose {
            let started = self.state.withLock { state -> Bool in
                if state.snapshotInProgress { return false }
                state.snapshotInProgress = true
                return true
            }
            guard started else { return nil }
        }
        let captured: CapturedKeyspace
        do {
            engine.keyspace.lockAll()
            defer { engine.keyspace.unlockAll() }
            if case .save = purpose { try self.log?.rotate() }
            let lsn = self.log?.appended ?? self.state.withLock { $0.snapshotLSN }
            captured = CapturedKeyspace(engine: engine, lsn: lsn)
        } catch {
            self.finishSave(ok: false, error: "\(error)", lsn: nil, size: 0, milliseconds: 0)
            throw error
        }
        let path: String
        switch purpose {
        case .save: path = self.layout.snapshotPath(at: captured.lsn)
        case .backup(let backupPath): path = backupPath
        }
        let changes = engine.stats.totals()[.changes]
        let work = { [self] () throws -> Void in
            let started = EngineClock.monotonicNanoseconds()
            do {
                // The log before the snapshot's position must be durable before it is deleted.
                try self.log?.sync()
                let size = try captured.write(to: path, now: engine.clock.nowMilliseconds())
                if case .save = purpose {
                    try self.removeCovered(by: captured.lsn)
                    self.finishSave(
                        ok: true, error: nil, lsn: captured.lsn, size: size,
                        milliseconds: (EngineClock.monotonicNanoseconds() - started) / 1_000_000, changes: changes)
                }
            } catch {
                if case .save = purpose {
                    self.finishSave(ok: false, error: "\(error)", lsn: nil, size: 0, milliseconds: 0)
                }
                throw error
            }
        }
        if background {
            BackgroundThread.start(name: "wharf-snapshot") { try? work() }
        } else {
            try work()
        }
        return (captured.lsn, path)
    }

    private func finishSave(ok: Bool, error: String?, lsn: UInt64?, size: Int, milliseconds: Int64, changes: Int = 0) {
        let now = (self.engine?.clock.nowMilliseconds() ?? 0) / 1000
        self.state.withLock { state in
            state.snapshotInProgress = false
            state.lastSaveStatusOK = ok
            state.lastSaveError = error
            if ok {
                state.lastSaveTime = now
                state.lastSaveMilliseconds = milliseconds
                state.saves += 1
                state.changesAtLastSave = changes
                if let lsn {
                    state.snapshotLSN = lsn
                    state.snapshotSize = size
                }
            }
        }
    }

    /// Deletes the log segments and older snapshots a new snapshot at `lsn` makes redundant
    /// (segments the log can reuse are given to it instead).
    private func removeCovered(by lsn: UInt64) throws {
        for segment in try self.layout.segments().reversed() where segment.start < lsn {
            if self.log?.reuse(segment.path) == true { continue }
            try StorageFiles.remove(segment.path)
        }
        for snapshot in try self.layout.snapshots() where snapshot.lsn < lsn {
            try StorageFiles.remove(snapshot.path)
        }
        try StorageFiles.syncDirectory(self.layout.directory)
    }

    public var isSnapshotInProgress: Bool { self.state.withLock { $0.snapshotInProgress } }

    /// Unix seconds of the last successful snapshot (LASTSAVE).
    public var lastSaveTime: Int64 { self.state.withLock { $0.lastSaveTime } }

    // MARK: Background work

    /// Starts a snapshot when the log has outgrown the last one (auto-aof-rewrite-percentage
    /// and -min-size) or a `save` rule is due. Called from the engine's cron.
    func cron(now: Int64) {
        guard let engine = self.engine, !self.isSnapshotInProgress else { return }
        let settings = engine.settings
        if let log = self.log {
            let (base, size) = self.state.withLock { ($0.snapshotLSN, $0.snapshotSize) }
            let grown = Int(log.appended - base)
            let percentage = settings.autoRewritePercentage.load(ordering: .relaxed)
            let minimum = settings.autoRewriteMinSize.load(ordering: .relaxed)
            if percentage > 0 && grown >= minimum && grown >= size * percentage / 100 {
                _ = try? self.snapshot(background: true)
                return
            }
        }
        let rules = settings.saveRules.withLock { $0 }
        guard !rules.isEmpty else { return }
        let (lastSave, changesAtSave) = self.state.withLock { ($0.lastSaveTime, $0.changesAtLastSave) }
        let changes = engine.stats.totals()[.changes] - changesAtSave
        for rule in rules where changes >= rule.changes && now / 1000 - lastSave >= rule.seconds {
            _ = try? self.snapshot(background: true)
            return
        }
    }

    /// Writes and syncs the log, then closes it (shutdown).
    public func close() throws {
        try self.log?.close()
    }

    // MARK: Backups

    /// Starts a backup: a consistent snapshot written to a file of its own in the data
    /// directory, to be read in pieces with ``readBackup(id:offset:count:)``.
    func startBackup() throws -> (id: Int, size: Int, lsn: UInt64) {
        let id = self.state.withLock { _ in
            self.backupCounter += 1
            return self.backupCounter
        }
        let path = "\(self.layout.directory)/backup-\(id).wsnap"
        guard let taken = try self.snapshot(purpose: .backup(path: path), background: false) else {
            throw RecoveryError(description: "backup failed: no engine")
        }
        let size = StorageFiles.size(path)
        self.state.withLock { $0.backups[id] = (path, size, taken.lsn) }
        return (id, size, taken.lsn)
    }

    func readBackup(id: Int, offset: Int, count: Int) throws -> [UInt8]? {
        guard let backup = self.state.withLock({ $0.backups[id] }) else { return nil }
        let file = try StorageFile.openForReading(backup.path)
        let length = max(0, min(count, backup.size - offset))
        var bytes = [UInt8](repeating: 0, count: length)
        let read = try bytes.withUnsafeMutableBytes { try file.read(into: $0, at: offset) }
        return Array(bytes.prefix(read))
    }

    func endBackup(id: Int) -> Bool {
        guard let backup = self.state.withLock({ $0.backups.removeValue(forKey: id) }) else { return false }
        try? StorageFiles.remove(backup.path)
        return true
    }

    // MARK: INFO

    func infoFields() -> [(String, String)] {
        let state = self.state.withLock { $0 }
        let changes = (self.engine?.stats.totals()[.changes] ?? 0) - state.changesAtLastSave
        var fields: [(String, String)] = [
            ("loading", "0"),
            ("async_loading", "0"),
            ("rdb_changes_since_last_save", "\(changes)"),
            ("rdb_bgsave_in_progress", state.snapshotInProgress ? "1" : "0"),
            ("rdb_last_save_time", "\(state.lastSaveTime)"),
            ("rdb_last_bgsave_status", state.lastSaveStatusOK ? "ok" : "err"),
            ("rdb_last_bgsave_time_sec", "\(state.lastSaveMilliseconds < 0 ? -1 : state.lastSaveMilliseconds / 1000)"),
            ("rdb_saves", "\(state.saves)"),
            ("aof_enabled", self.log == nil ? "0" : "1"),
            ("aof_rewrite_in_progress", state.snapshotInProgress ? "1" : "0"),
            ("aof_last_bgrewrite_status", state.lastSaveStatusOK ? "ok" : "err"),
            ("aof_last_write_status", self.isFailing ? "err" : "ok"),
        ]
        if let log = self.log {
            fields += [
                ("aof_current_size", "\(log.appended - state.snapshotLSN)"),
                ("aof_base_size", "\(state.snapshotSize)"),
                ("wal_fsync_policy", log.policy.rawValue),
                ("wal_appended_lsn", "\(log.appended)"),
                ("wal_written_lsn", "\(log.written)"),
                ("wal_durable_lsn", "\(log.durable)"),
                ("wal_fsync_lag_bytes", "\(log.appended - log.durable)"),
                ("wal_fsyncs", "\(log.syncs)"),
                ("wal_segments", "\((try? self.layout.segments().count) ?? 0)"),
                ("wal_segments_reused", "\(log.reusedSegments)"),
            ]
            if let failure = log.failure { fields.append(("wal_last_error", failure)) }
        }
        fields += [
            ("snapshot_lsn", "\(state.snapshotLSN)"),
            ("snapshot_size", "\(state.snapshotSize)"),
            ("loading_time_ms", "\(state.recovery.milliseconds)"),
            ("loading_keys", "\(state.recovery.keys)"),
            ("loading_log_records", "\(state.recovery.logRecords)"),
            ("loading_peak_rss", "\(state.recovery.peakResidentBytes)"),
        ]
        if let error = state.lastSaveError { fields.append(("rdb_last_error", error)) }
        return fields
    }
}

/// The tables of every shard, copied (copy-on-write) while all shards were locked, and
/// the log position they correspond to.
struct CapturedKeyspace: @unchecked Sendable {
    let lsn: UInt64
    let databases: [(index: Int, tables: [EntryTable])]

    init(engine: Engine, lsn: UInt64) {
        self.lsn = lsn
        self.databases = engine.keyspace.databases.map { database in
            (database.index, database.shards.map { $0.table })
        }
    }

    /// Serializes into a snapshot file at `path`; returns its size. Keys already expired
    /// at `now` are left out.
    func write(to path: String, now: Int64) throws -> Int {
        let writer = try SnapshotWriter(path: path, lsn: self.lsn, createdAt: now)
        var entries: UInt64 = 0
        do {
            for (index, tables) in self.databases where tables.contains(where: { $0.count > 0 }) {
                SnapshotCodec.writeDatabase(index, into: writer)
                for table in tables {
                    var failure: (any Error)?
                    table.forEachEntry { entry in
                        if failure != nil { return }
                        if let expireAt = entry.expireAt, now > expireAt { return }
                        SnapshotCodec.write(entry, into: writer)
                        entries += 1
                        do { try writer.flushIfNeeded() } catch { failure = error }
                    }
                    if let failure { throw failure }
                }
            }
            SnapshotCodec.finishBody(into: writer)
            return try writer.finish(entries: entries)
        } catch {
            writer.abandon()
            throw error
        }
    }
}

/// Applies log records to the engine during recovery, each at the time it first ran.
final class LogReplayer {
    private let engine: Engine
    private let session: ClientSession
    private var context: CommandContext
    private(set) var errors = 0
    private var spans: UnsafeMutablePointer<ArgumentSpan>
    private var spanCapacity = 64
    /// Where the record being applied starts (the previous one's end).
    private var position: UInt64
    /// Records of a MULTI … EXEC seen so far, applied together at EXEC.
    private var transaction: [(time: Int64, database: Int, arguments: [[UInt8]])]?
    private var transactionStart: UInt64 = 0

    /// A transaction the log ends inside: where its MULTI starts and how many records followed.
    var openTransaction: (start: UInt64, records: Int)? {
        self.transaction.map { (self.transactionStart, $0.count) }
    }

    init(engine: Engine, start: UInt64) {
        self.engine = engine
        self.session = engine.makeSession(address: "log-replay")
        self.context = CommandContext(
            engine: engine, session: self.session, reply: RESPReplyWriter(buffer: ByteBuffer()))
        self.context.replaying = true
        self.spans = .allocate(capacity: self.spanCapacity)
        self.position = start
    }

    deinit {
        self.spans.deallocate()
    }

    func apply(_ record: LogRecord) throws {
        defer { self.position = record.endLSN }
        guard record.database < self.engine.keyspace.databases.count else {
            throw RecoveryError(
                description:
                    "log record for database \(record.database) but only \(self.engine.keyspace.databases.count) are configured (databases)"
            )
        }
        if record.arguments.count == 1 {
            let name = record.arguments[0]
            if name.equalsIgnoringCase("MULTI") {
                self.transaction = []
                self.transactionStart = self.position
                return
            }
            if name.equalsIgnoringCase("EXEC"), let queued = self.transaction {
                self.transaction = nil
                for command in queued {
                    TransactionCommands.withArguments(command.arguments) { arguments in
                        self.run(time: command.time, database: command.database, arguments)
                    }
                }
                return
            }
        }
        if self.transaction != nil {
            self.transaction!.append((record.time, record.database, record.arguments.map { Array($0) }))
            return
        }
        let count = record.arguments.count
        if count > self.spanCapacity {
            self.spans.deallocate()
            self.spanCapacity = count
            self.spans = .allocate(capacity: count)
        }
        // All arguments lie in one payload buffer; spans are offsets from the first.
        let base = record.arguments[0].baseAddress ?? UnsafeRawPointer(bitPattern: 1)!
        for (index, argument) in record.arguments.enumerated() {
            let start = argument.baseAddress.map { $0 - base } ?? 0
            self.spans[index] = ArgumentSpan(offset: start, length: argument.count)
        }
        self.run(
            time: record.time, database: record.database, CommandArguments(base: base, spans: self.spans, count: count))
    }

    private func run(time: Int64, database: Int, _ arguments: CommandArguments) {
        if self.session.database != database { self.session.database = database }
        self.context.batchTime = time
        self.context.arguments = arguments
        self.engine.execute(&self.context)
        if self.context.reply.buffer.getInteger(at: self.context.reply.buffer.readerIndex, as: UInt8.self)
            == UInt8(ascii: "-")
        {
            self.errors += 1
        }
        self.context.reply.buffer.clear()
    }
}
