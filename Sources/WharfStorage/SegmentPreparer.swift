#if canImport(Glibc)
import Glibc
#endif
import CWharfSystem
import Synchronization

/// Prepares the next log segment ahead of time on a thread of its own: a file of the
/// segment's size, reserved and written with zeros, then synced. With `appendfsync always`
/// the log writes records into such a file, so each per-batch `fdatasync` flushes data
/// alone (see ``MappedSegment``); filling 64 MB takes ~100 ms, which must not happen while
/// a rotation holds the log (or, for a snapshot, every shard).
final class SegmentPreparer: Sendable {
    /// A zero-filled file waiting to become a segment.
    struct Prepared: @unchecked Sendable {
        let file: StorageFile
        let size: Int
    }

    private struct State {
        var ready: Prepared?
        var wanted = false
        var running = true
        /// The thread starts on the first request: a log that never syncs every batch has none.
        var started = false
        var exited = false
    }

    private let path: String
    private let size: Int
    private let state = Mutex(State())
    private let wakeup = ConditionSignal()
    private let done = ConditionSignal()

    /// Prepares files of `size` bytes as `wal-next.tmp` in `layout`'s directory (a leftover
    /// from a crash is a temporary file, removed at start-up).
    init(layout: StorageLayout, size: Int) {
        self.path = "\(layout.directory)/wal-next.tmp"
        self.size = size
    }

    /// Asks for a prepared file, if there is none yet.
    func request() {
        let (ask, start) = self.state.withLock { state -> (Bool, Bool) in
            guard state.ready == nil, !state.wanted, state.running else { return (false, false) }
            state.wanted = true
            defer { state.started = true }
            return (true, !state.started)
        }
        if start { BackgroundThread.start(name: "wharf-wal-prepare") { [self] in self.run() } }
        if ask { self.wakeup.signal() }
    }

    /// The prepared file if it is ready and holds at least `size` bytes; the caller owns it.
    func take(size: Int) -> Prepared? {
        self.state.withLock { state -> Prepared? in
            guard let ready = state.ready, ready.size >= size else { return nil }
            state.ready = nil
            return ready
        }
    }

    /// Stops the thread and removes an unused prepared file.
    func stop() {
        let started = self.state.withLock { state -> Bool in
            state.running = false
            return state.started
        }
        self.wakeup.signal()
        while started && !self.state.withLock({ $0.exited }) { self.done.wait(milliseconds: 50) }
        if let unused = self.state.withLock({ state -> Prepared? in
            defer { state.ready = nil }
            return state.ready
        }) {
            unused.file.close()
            try? StorageFiles.remove(self.path)
        }
    }

    private func run() {
        // Filling ahead of time must not take the CPU or the disk from serving clients: it
        // runs while the server waits (for a sync, say). Refused (by a container's policy,
        // say), it merely competes like any other thread.
        _ = wharf_make_thread_background()
        while true {
            self.wakeup.wait(milliseconds: 1000)
            let (running, wanted) = self.state.withLock { ($0.running, $0.wanted) }
            if !running { break }
            guard wanted else { continue }
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
            try MappedSegment.fillWithZeros(file, from: 0, to: self.size, gradually: true)
            return Prepared(file: file, size: self.size)
        } catch {
            created?.close()
            try? StorageFiles.remove(self.path)
            return nil
        }
    }
}
