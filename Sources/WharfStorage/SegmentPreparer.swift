import CWharfSystem
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Prepares the next log segment ahead of time on a thread of its own: a file of the
/// segment's size, reserved and written with zeros, then synced. With `appendfsync always`
/// the log writes records into such a file, so each per-batch `fdatasync` flushes data
/// alone (see ``MappedSegment``); filling 64 MB takes ~100 ms, which must not happen while
/// a rotation holds the log (or, for a snapshot, every shard).
///
/// Segment files a snapshot made obsolete are kept as spares (`wal-spare-N.tmp`) instead:
/// their blocks are written already, so reusing one costs a rename where a new file costs
/// the segment's size in zeros written to the disk next to the log. Zero-filling happens
/// only when there is no spare, and stops when one arrives.
final class SegmentPreparer: Sendable {
    /// A file whose blocks are all written, waiting to become a segment.
    struct Prepared: @unchecked Sendable {
        let file: StorageFile
        let size: Int
    }

    private struct State {
        var ready: Prepared?
        /// Obsolete segments given back for reuse, oldest first.
        var spares: [Prepared] = []
        var spareCounter = 0
        var wanted = false
        var running = true
        /// The thread starts on the first request: a log that never syncs every batch has none.
        var started = false
        var exited = false
    }

    private let path: String
    private let directory: String
    private let size: Int
    private let state = Mutex(State())
    private let reusedCount = Atomic<Int>(0)

    /// Spares taken to become segments.
    var reused: Int { self.reusedCount.load(ordering: .relaxed) }
    private let wakeup = ConditionSignal()
    private let done = ConditionSignal()

    /// Prepares files of `size` bytes as `wal-next.tmp` in `layout`'s directory (a leftover
    /// from a crash is a temporary file, removed at start-up).
    init(layout: StorageLayout, size: Int) {
        self.path = "\(layout.directory)/wal-next.tmp"
        self.directory = layout.directory
        self.size = size
    }

    /// Asks for a prepared file, if there is none yet.
    func request() {
        let (ask, start) = self.state.withLock { state -> (Bool, Bool) in
            guard state.ready == nil, state.spares.isEmpty, !state.wanted, state.running else { return (false, false) }
            state.wanted = true
            defer { state.started = true }
            return (true, !state.started)
        }
        if start { BackgroundThread.start(name: "wharf-wal-prepare") { [self] in self.run() } }
        if ask { self.wakeup.signal() }
    }

    /// A spare or the prepared file, if one holds at least `size` bytes; the caller owns it.
    func take(size: Int) -> Prepared? {
        self.state.withLock { state -> Prepared? in
            if let index = state.spares.firstIndex(where: { $0.size >= size }) {
                self.reusedCount.add(1, ordering: .relaxed)
                return state.spares.remove(at: index)
            }
            guard let ready = state.ready, ready.size >= size else { return nil }
            state.ready = nil
            return ready
        }
    }

    /// Keeps the obsolete segment at `path` as a spare, if it is whole (as large as a new
    /// segment), of the current format, and fewer than two spares are waiting.
    ///
    /// - Returns: whether the file was taken (renamed; the caller must not delete it).
    func offer(_ path: String) -> Bool {
        let number = self.state.withLock { state -> Int? in
            guard state.running, state.spares.count < 2 else { return nil }
            state.spareCounter += 1
            return state.spareCounter
        }
        guard let number else { return false }
        let sparePath = "\(self.directory)/wal-spare-\(number).tmp"
        let size: Int
        do throws(StorageError) {
            let old = try StorageFile.openForReading(path)
            let magic = try old.read(count: LogRecordFormat.segmentMagic.count, at: 0)
            size = try old.size()
            old.close()
            // A version 1 file's old records could pass for new ones; a short one has
            // blocks to allocate again.
            guard magic == LogRecordFormat.segmentMagic, size >= self.size else { return false }
            try StorageFiles.rename(path, to: sparePath)
        } catch {
            return false
        }
        // From here the segment is gone from the log; a spare that cannot be kept is deleted.
        let file = try? StorageFile.openForReadWrite(sparePath)
        let kept =
            file.map { file in
                self.state.withLock { state -> Bool in
                    guard state.running else { return false }
                    state.spares.append(Prepared(file: file, size: size))
                    return true
                }
            } ?? false
        if !kept {
            file?.close()
            try? StorageFiles.remove(sparePath)
        }
        // A fill in progress is no longer needed.
        self.wakeup.signal()
        return true
    }

    /// Stops the thread and removes unused prepared files and spares.
    func stop() {
        let started = self.state.withLock { state -> Bool in
            state.running = false
            return state.started
        }
        self.wakeup.signal()
        while started && !self.state.withLock({ $0.exited }) { self.done.wait(milliseconds: 50) }
        self.discard()
    }

    /// Removes the prepared file and the spares, which only `always` uses (the policy
    /// changed; a fill already under way still finishes).
    func discard() {
        let unused = self.state.withLock { state -> [Prepared] in
            defer {
                state.ready = nil
                state.spares.removeAll()
            }
            return (state.ready.map { [$0] } ?? []) + state.spares
        }
        for file in unused {
            file.file.close()
            try? StorageFiles.remove(file.file.path)
        }
    }

    private func run() {
        // Filling ahead of time must not take the CPU or the disk from serving clients: it
        // runs while the server waits (for a sync, say). Refused (by a container's policy,
        // say), it merely competes like any other thread.
        _ = wharf_make_thread_background()
        while true {
            self.wakeup.wait(milliseconds: 1000)
            let (running, wanted, spare) = self.state.withLock { ($0.running, $0.wanted, !$0.spares.isEmpty) }
            if !running { break }
            guard wanted else { continue }
            if spare {
                self.state.withLock { $0.wanted = false }
                continue
            }
            // A failure (a full disk, say) leaves nothing prepared: the log then creates its
            // next segment the ordinary way, and asks again later.
            let prepared = self.prepare()
            self.state.withLock { state in
                state.ready = prepared
                state.wanted = false
            }
        }
        self.state.withLock { $0.exited = true }
        self.done.signal()
    }

    private func prepare() -> Prepared? {
        var created: StorageFile?
        do throws(StorageError) {
            let file = try StorageFile.createReadWrite(self.path)
            created = file
            try MappedSegment.reserve(file, size: self.size)
            let filled = try MappedSegment.fillWithZeros(file, from: 0, to: self.size, gradually: true) {
                self.state.withLock { !$0.running || !$0.spares.isEmpty }
            }
            guard filled else {
                file.close()
                try? StorageFiles.remove(self.path)
                return nil
            }
            return Prepared(file: file, size: self.size)
        } catch {
            created?.close()
            try? StorageFiles.remove(self.path)
            return nil
        }
    }
}
