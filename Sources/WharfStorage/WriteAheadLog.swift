import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// When the log's data reaches the disk.
public enum FsyncPolicy: String, Sendable, CaseIterable {
    /// A reply is sent only after its record is on disk (group commit by the flusher).
    case always
    /// Records reach the operating system before the reply; the disk once a second.
    case everysec
    /// Records reach the operating system before the reply; the OS decides when to write them.
    case no
}

/// The write-ahead log: records appended in memory under a short lock, written to the
/// current segment file by the threads that serve clients (before they send replies), and
/// made durable by a flusher thread according to the ``FsyncPolicy``.
///
/// Three positions describe it, all LSNs (byte offsets in the whole log):
/// `appended` (in memory), `written` (handed to the OS), `durable` (on disk). A reply may
/// leave once `written` (or, with `always`, `durable`) covers every record it depends on.
///
/// When a write fails (disk full, I/O error) nothing is lost from memory: the unwritten
/// bytes are kept, the file is cut back to its last whole record, ``failure`` says why, and
/// the flusher retries until the disk accepts them again.
public final class WriteAheadLog: @unchecked Sendable {
    private struct AppendState {
        var buffer = AppendBuffer()
        var lsn: UInt64
    }

    private struct WriterState {
        var segment: MappedSegment
        /// Bytes that must still reach the segment, oldest first.
        var backlog = AppendBuffer()
        var spare = AppendBuffer()
        /// Segments finished since the last sync; the next sync makes them durable.
        var retired: [StorageFile] = []
        /// A segment was created since the last sync: its directory entry must be synced.
        var directoryDirty = false
    }

    public let layout: StorageLayout
    public let segmentLimit: Int
    private let appendState: Mutex<AppendState>
    private let writer: Mutex<WriterState>
    private let appendedPosition: Atomic<UInt64>
    private let writtenPosition: Atomic<UInt64>
    private let durablePosition: Atomic<UInt64>
    private let policyIndex: Atomic<Int>
    private let failed = Atomic<Bool>(false)
    private let failureText = Mutex<String?>(nil)
    private let listeners = Mutex<[@Sendable (UInt64) -> Void]>([])
    private let wakeup = ConditionSignal()
    private let running = Atomic<Bool>(true)
    private let flusherDone = ConditionSignal()
    private let flusherExited = Atomic<Bool>(false)
    /// Zero-filled segments for `appendfsync always`, made ahead of rotations.
    private let preparer: SegmentPreparer
    private let syncRequested = Atomic<Bool>(false)
    private let syncCount = Atomic<Int>(0)

    /// Completed fsyncs, for INFO and tests.
    public var syncs: Int { self.syncCount.load(ordering: .relaxed) }

    /// Segments that reused the file of an obsolete one (see ``reuse(_:)``), for INFO and tests.
    public var reusedSegments: Int { self.preparer.reused }

    /// Opens the log for appending at `lsn`: continues `segment` (whose records end exactly
    /// at `lsn`) or, if nil, starts a new segment there.
    public init(
        layout: StorageLayout, lsn: UInt64, continuing segment: (start: UInt64, path: String)?, policy: FsyncPolicy,
        segmentLimit: Int = 64 * 1024 * 1024
    ) throws(StorageError) {
        self.layout = layout
        self.segmentLimit = segmentLimit
        let size = segmentLimit + LogRecordFormat.segmentHeaderSize
        // With `always`, the segment written first is zero-filled now (once, at start-up),
        // and the next ones ahead of time.
        let zeroFilled = policy == .always
        let current: MappedSegment
        if let segment, try Self.isVersion1(segment) {
            // Records appended now have LSN-keyed checksums: they go to a new segment.
            if segment.start == lsn { try StorageFiles.remove(segment.path) }
            current = try MappedSegment.create(layout: layout, start: lsn, size: size, zeroFilled: zeroFilled)
            try current.file.syncData()
            try StorageFiles.syncDirectory(layout.directory)
        } else if let segment {
            current = try MappedSegment.open(
                path: segment.path, start: segment.start, used: Int(lsn - segment.start), size: size,
                zeroFilled: zeroFilled)
        } else {
            current = try MappedSegment.create(layout: layout, start: lsn, size: size, zeroFilled: zeroFilled)
            try current.file.syncData()
            try StorageFiles.syncDirectory(layout.directory)
        }
        self.writer = Mutex(WriterState(segment: current))
        self.appendState = Mutex(AppendState(lsn: lsn))
        self.appendedPosition = Atomic(lsn)
        self.writtenPosition = Atomic(lsn)
        self.durablePosition = Atomic(lsn)
        self.policyIndex = Atomic(FsyncPolicy.allCases.firstIndex(of: policy)!)
        self.preparer = SegmentPreparer(layout: layout, size: size)
        if policy == .always { self.preparer.request() }
        BackgroundThread.start(name: "wharf-wal-flush") { [self] in self.runFlusher() }
    }

    private static func isVersion1(_ segment: (start: UInt64, path: String)) throws(StorageError) -> Bool {
        let file = try StorageFile.openForReading(segment.path)
        defer { file.close() }
        let header = try file.read(count: LogRecordFormat.segmentHeaderSize, at: 0)
        return LogRecordFormat.version(ofHeader: header, start: segment.start) == 1
    }

    deinit {
        self.appendState.withLock { $0.buffer.deallocate() }
        self.writer.withLock {
            $0.backlog.deallocate()
            $0.spare.deallocate()
        }
    }

    // MARK: Positions and state

    public var appended: UInt64 { self.appendedPosition.load(ordering: .acquiring) }
    public var written: UInt64 { self.writtenPosition.load(ordering: .acquiring) }
    public var durable: UInt64 { self.durablePosition.load(ordering: .acquiring) }

    public var policy: FsyncPolicy {
        get { FsyncPolicy.allCases[self.policyIndex.load(ordering: .relaxed)] }
        set {
            self.policyIndex.store(FsyncPolicy.allCases.firstIndex(of: newValue)!, ordering: .relaxed)
            if newValue == .always { self.preparer.request() } else { self.preparer.discard() }
            self.wakeup.signal()
        }
    }

    /// Why the last write or fsync failed, while the log cannot write; nil when healthy.
    public var failure: String? {
        self.failed.load(ordering: .relaxed) ? self.failureText.withLock { $0 } : nil
    }

    public var isFailing: Bool { self.failed.load(ordering: .relaxed) }

    /// Offers the segment file at `path`, which a snapshot has made obsolete, for reuse as
    /// a later segment instead of deleting it. With `always`, writing into a file whose
    /// blocks are already written spares the zero-filling of a new one; the log takes it (it
    /// is renamed, and the caller must not delete it) when it is whole and of the current
    /// format, up to two at a time.
    ///
    /// - Returns: whether the log took the file.
    public func reuse(_ path: String) -> Bool {
        self.policy == .always && self.preparer.offer(path)
    }

    /// The start LSN of the segment being appended to.
    public var currentSegmentStart: UInt64 { self.writer.withLock { $0.segment.start } }

    // MARK: Appending

    /// Appends one record; `body` writes its arguments. Called with the shard locks of the
    /// command held, so records of one key are in execution order.
    ///
    /// - Returns: the LSN just past the record.
    @discardableResult
    public func append(time: Int64, database: Int, _ body: (inout LogRecordWriter) -> Void) -> UInt64 {
        self.appendState.withLock { state in
            let start = state.buffer.count
            let prefix = LogRecordFormat.headerSize + LogRecordFormat.payloadPrefixSize
            state.buffer.reserve(prefix)
            // crc and length are filled in last; count after the arguments are written.
            state.buffer.set(time, at: start + 8)
            state.buffer.set(UInt32(truncatingIfNeeded: database), at: start + 16)
            state.buffer.advance(by: prefix)
            let count = withUnsafeMutablePointer(to: &state.buffer) { pointer in
                var writer = LogRecordWriter(buffer: pointer)
                body(&writer)
                return writer.count
            }
            let payloadLength = state.buffer.count - start - LogRecordFormat.headerSize
            state.buffer.set(UInt32(truncatingIfNeeded: payloadLength), at: start + 4)
            state.buffer.set(count, at: start + LogRecordFormat.headerSize + 12)
            // One pass over the length field and the payload, which are contiguous.
            let crc = CRC32C.checksum(
                UnsafeRawBufferPointer(start: state.buffer.base + start + 4, count: payloadLength + 4))
            state.buffer.set(LogRecordFormat.keyedChecksum(crc, lsn: state.lsn), at: start)
            state.lsn += UInt64(state.buffer.count - start)
            self.appendedPosition.store(state.lsn, ordering: .releasing)
            return state.lsn
        }
    }

    // MARK: Writing

    /// Hands every appended record to the operating system. Threads that serve clients call
    /// this before sending replies, so an acknowledged write survives a process crash.
    ///
    /// - Returns: false when the write failed (see ``failure``); the records stay queued.
    @discardableResult
    public func writePending() -> Bool {
        if self.written == self.appended && !self.isFailing { return true }
        return self.writer.withLock { state in self.writeLocked(&state) }
    }

    private func writeLocked(_ state: inout WriterState) -> Bool {
        var target: UInt64 = 0
        self.appendState.withLock { append in
            swap(&append.buffer, &state.spare)
            target = append.lsn
        }
        if state.backlog.count == 0 {
            swap(&state.backlog, &state.spare)
        } else {
            state.backlog.append(state.spare.bytes)
            state.spare.reset()
        }
        if state.backlog.count == 0 { return true }
        let writing = self.policy == .always
        do throws(StorageError) {
            if try !state.segment.append(state.backlog.bytes, writing: writing) {
                try self.rotateLocked(&state, minimumCapacity: state.backlog.count)
                let copied = try state.segment.append(state.backlog.bytes, writing: writing)
                precondition(copied, "a new segment holds the pending records")
            }
        } catch {
            // Nothing was lost: the records wait in the backlog until they can be written.
            self.recordFailure("\(error.reason)")
            return false
        }
        state.backlog.reset()
        self.writtenPosition.store(target, ordering: .releasing)
        if self.failed.load(ordering: .relaxed) {
            self.clearFailure()
            // Replies held while the disk refused writes can go now.
            let listeners = self.listeners.withLock { $0 }
            for listener in listeners { listener(self.durable) }
        }
        return true
    }

    /// Continues in a new segment starting at ``written``, large enough for `minimumCapacity`.
    private func rotateLocked(_ state: inout WriterState, minimumCapacity: Int) throws(StorageError) {
        let size = max(self.segmentLimit, minimumCapacity) + LogRecordFormat.segmentHeaderSize
        let next: MappedSegment
        if self.policy == .always {
            // A prepared zero-filled file when there is one; else an ordinary segment now.
            if let prepared = self.preparer.take(size: size) {
                next = try MappedSegment.adopt(prepared, layout: self.layout, start: self.written)
            } else {
                next = try MappedSegment.create(layout: self.layout, start: self.written, size: size)
            }
            self.preparer.request()
        } else {
            next = try MappedSegment.create(layout: self.layout, start: self.written, size: size)
        }
        // A finished segment keeps only its records, unless its blocks are all written (then
        // it stays whole, to be reused once a snapshot covers it). The reader knows where its
        // records end from the next segment's start.
        try? state.segment.finish(truncating: !state.segment.keepsBlocks)
        state.retired.append(state.segment.file)
        state.segment = next
        state.directoryDirty = true
    }

    /// Starts a new segment at the current position after copying everything appended. The
    /// caller guarantees nothing is appended meanwhile (it holds every shard lock), so the
    /// new segment starts exactly at ``appended``; a snapshot at that LSN then makes all
    /// older segments removable. Nothing is synced here, so the caller's locks are held only
    /// for copies and a file creation: call ``sync()`` after releasing them.
    public func rotate() throws(StorageError) {
        var failure: StorageError?
        self.writer.withLock { state in
            guard self.writeLocked(&state) else {
                failure = StorageError(
                    path: state.segment.path, operation: "write", reason: self.failure ?? "write failed")
                return
            }
            if state.segment.used == 0 { return }
            do throws(StorageError) {
                try self.rotateLocked(&state, minimumCapacity: 0)
            } catch {
                failure = error
            }
        }
        if let failure { throw failure }
    }

    // MARK: Syncing

    /// Asks the flusher to make everything written durable now (group commit for `always`).
    public func requestSync() {
        self.syncRequested.store(true, ordering: .releasing)
        self.wakeup.signal()
    }

    /// Calls `listener` (on the flusher or a writing thread) each time the durable position
    /// advances, and when writing resumes after a failure.
    public func addDurabilityListener(_ listener: @escaping @Sendable (UInt64) -> Void) {
        self.listeners.withLock { $0.append(listener) }
    }

    /// Writes and syncs everything now, on the calling thread.
    public func sync() throws(StorageError) {
        guard self.writePending() else {
            throw StorageError(
                path: self.layout.directory, operation: "write log", reason: self.failure ?? "write failed")
        }
        try self.syncWritten()
    }

    private func syncWritten() throws(StorageError) {
        var current: StorageFile?
        var retired: [StorageFile] = []
        var directoryDirty = false
        var target: UInt64 = 0
        var failure: StorageError?
        self.writer.withLock { state in
            target = self.written
            do throws(StorageError) { current = try state.segment.file.duplicate() } catch { failure = error }
            retired = state.retired
            state.retired.removeAll()
            directoryDirty = state.directoryDirty
            state.directoryDirty = false
        }
        if let failure { throw failure }
        defer { current?.close() }
        if target <= self.durable && retired.isEmpty && !directoryDirty { return }
        // fdatasync runs outside the writer lock: clients keep appending meanwhile.
        for (index, file) in retired.enumerated() {
            do throws(StorageError) {
                try file.syncData()
            } catch {
                let unsynced = Array(retired[index...])
                self.writer.withLock { $0.retired.insert(contentsOf: unsynced, at: 0) }
                if directoryDirty { self.writer.withLock { $0.directoryDirty = true } }
                throw error
            }
            file.close()
        }
        if directoryDirty {
            do throws(StorageError) {
                try StorageFiles.syncDirectory(self.layout.directory)
            } catch {
                self.writer.withLock { $0.directoryDirty = true }
                throw error
            }
        }
        try current!.syncData()
        self.syncCount.add(1, ordering: .relaxed)
        self.advanceDurable(to: target)
    }

    private func advanceDurable(to lsn: UInt64) {
        var current = self.durable
        while lsn > current {
            let (exchanged, original) = self.durablePosition.compareExchange(
                expected: current, desired: lsn, ordering: .acquiringAndReleasing)
            if exchanged { break }
            current = original
        }
        let listeners = self.listeners.withLock { $0 }
        for listener in listeners { listener(self.durable) }
    }

    private func recordFailure(_ text: String) {
        self.failureText.withLock { $0 = text }
        self.failed.store(true, ordering: .relaxed)
    }

    private func clearFailure() {
        self.failed.store(false, ordering: .relaxed)
        self.failureText.withLock { $0 = nil }
    }

    private func runFlusher() {
        var lastSync = Self.monotonicMilliseconds()
        while self.running.load(ordering: .acquiring) {
            let policy = self.policy
            let timeout: Int64 =
                self.isFailing
                ? 100 : (policy == .always ? 1000 : max(1, 1000 - (Self.monotonicMilliseconds() - lastSync)))
            self.wakeup.wait(milliseconds: timeout)
            if !self.running.load(ordering: .acquiring) { break }
            // Loops write before they reply; this catches records nobody wrote yet.
            if !self.writePending() { continue }
            let now = Self.monotonicMilliseconds()
            let requested = self.syncRequested.exchange(false, ordering: .acquiringAndReleasing)
            let due =
                (policy == .always && (requested || self.written > self.durable))
                || (policy == .everysec && now - lastSync >= 1000)
            if due && self.written > self.durable {
                do {
                    try self.syncWritten()
                    if self.isFailing && self.written == self.appended { self.clearFailure() }
                } catch {
                    self.recordFailure("\(error.reason)")
                }
            } else if requested {
                // Whoever asked may be waiting on a position that was already durable.
                let listeners = self.listeners.withLock { $0 }
                for listener in listeners { listener(self.durable) }
            }
            if policy == .everysec && now - lastSync >= 1000 { lastSync = now }
        }
        self.flusherExited.store(true, ordering: .releasing)
        self.flusherDone.signal()
    }

    /// Writes and syncs what is left, stops the flusher and closes the segment.
    public func close() throws(StorageError) {
        self.running.store(false, ordering: .releasing)
        self.wakeup.signal()
        while !self.flusherExited.load(ordering: .acquiring) { self.flusherDone.wait(milliseconds: 50) }
        self.preparer.stop()
        try self.sync()
        self.writer.withLock { state in
            try? state.segment.finish(truncating: true)
            state.segment.file.close()
        }
    }

    static func monotonicMilliseconds() -> Int64 {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return Int64(spec.tv_sec) * 1000 + Int64(spec.tv_nsec) / 1_000_000
    }
}
