#if os(Linux)
    import Atomics
    import CWharfSystem
    import Glibc
    import Logging
    import NIOCore
    import Synchronization
    import WharfEngine
    import WharfStorage

    /// One thread running an epoll loop over its share of the client connections.
    ///
    /// This is the RESP listener's fast path on Linux: per request it makes one `recv` and one
    /// `send` and does nothing else — no channel pipeline, no promise, no allocation — which is
    /// what lets a pinned core serve more requests per CPU-second than Redis (see
    /// docs/benchmarks.md). Everything a connection does happens on its loop's thread; other
    /// threads reach a loop only through ``execute(_:)``.
    final class EpollEventLoop: @unchecked Sendable {
        typealias Task = @Sendable (EpollEventLoop) -> Void

        let index: Int
        private let epfd: Int32
        private let wakeFD: Int32
        private let engine: Engine
        private let logger: Logger
        private let stats: StatsSlab
        private let allocator = ByteBufferAllocator()
        private var listeners: [Int32] = []
        /// Connections by file descriptor.
        private var connections: [EpollConnection?] = []
        private var connectionCount = 0
        private var lingering = 0
        private let tasks = Mutex<[Task]>([])
        private var stopping = false
        private var stopDeadline: Int64 = 0
        /// Where reads land when a connection has no incomplete command pending; shared by
        /// every connection of the loop so idle clients hold no input buffer.
        private var scratch: ByteBuffer
        /// Connections with replies to send once this turn's events are handled. Sending them
        /// together (as Redis does before it sleeps) lets clients receive replies in bursts,
        /// so both sides handle more requests per wake-up.
        private var needFlush: [EpollConnection] = []
        /// The write-ahead log, when persistence is on: replies wait until their records are
        /// written (and, with `appendfsync always`, synced).
        private let log: WriteAheadLog?
        /// Connections whose replies wait for the log.
        private var waiting: [EpollConnection] = []
        /// Connections in a blocking command that has a timeout.
        private var timedWaits: [EpollConnection] = []
        private let hasWaiters = Atomic<Bool>(false)
        /// Replies wait for a sync that has not been asked for yet (see the loop).
        private var syncWanted = false
        /// A sync handed to the log's flusher has not answered yet; its answer wakes the loop.
        private let flusherSyncPending = Atomic<Bool>(false)
        /// The loop is syncing on its own thread and releases its waiters itself afterwards.
        private let syncingInLoop = Atomic<Bool>(false)
        /// This many waiting connections ask for a sync at once rather than when idle.
        static let syncBatch = 64
        /// A batch with at least this many bytes not yet on disk is synced by the flusher while
        /// the loop goes on serving (see `run`); a smaller one is synced on the loop's thread.
        static let handOverBytes: UInt64 = 16 * 1024
        private let onExit: @Sendable () -> Void

        static let readSize = 16 * 1024
        /// Replies are sent once this much has accumulated, even mid-batch.
        static let eagerFlushBytes = 64 * 1024
        /// A client with this much unsent output stops being read until it catches up.
        static let pauseBytes = 256 * 1024
        static let lingerMilliseconds: Int64 = 2000
        static let drainMilliseconds: Int64 = 10_000

        init(index: Int, engine: Engine, logger: Logger, onExit: @escaping @Sendable () -> Void) throws {
            self.index = index
            self.engine = engine
            self.logger = logger
            self.onExit = onExit
            self.stats = engine.makeStatsSlab()
            self.epfd = wharf_epoll_create()
            guard self.epfd >= 0 else {
                throw ServerConfigurationError("epoll_create1 failed: \(Self.describe(-self.epfd))")
            }
            self.wakeFD = wharf_eventfd()
            guard self.wakeFD >= 0 else {
                throw ServerConfigurationError("eventfd failed: \(Self.describe(-self.wakeFD))")
            }
            _ = wharf_epoll_add(self.epfd, self.wakeFD, WHARF_EPOLLIN)
            self.scratch = self.allocator.buffer(capacity: Self.readSize)
            self.log = engine.persistence?.log
            self.log?.addDurabilityListener { [weak self] _ in
                guard let self, !self.syncingInLoop.load(ordering: .relaxed) else { return }
                guard self.hasWaiters.load(ordering: .acquiring) || self.flusherSyncPending.load(ordering: .acquiring)
                else { return }
                self.execute { loop in
                    loop.flusherSyncPending.store(false, ordering: .relaxed)
                    loop.releaseWaiting()
                }
            }
        }

        deinit {
            _ = wharf_close(self.epfd)
            _ = wharf_close(self.wakeFD)
        }

        static func describe(_ error: Int32) -> String {
            String(cString: strerror(error))
        }

        // MARK: Cross-thread entry points

        /// Runs `task` on the loop's thread.
        func execute(_ task: @escaping Task) {
            self.tasks.withLock { $0.append(task) }
            wharf_eventfd_signal(self.wakeFD)
        }

        /// Starts accepting on `fd` (shared with the other loops; the kernel wakes one of them).
        func addListener(_ fd: Int32) {
            self.execute { loop in
                loop.listeners.append(fd)
                _ = wharf_epoll_add(loop.epfd, fd, WHARF_EPOLLIN | WHARF_EPOLLEXCLUSIVE)
            }
        }

        /// Stops accepting and closes every connection once its pending replies are sent.
        func stop() {
            self.execute { loop in
                loop.stopping = true
                loop.stopDeadline = EngineClock.monotonicNanoseconds() / 1_000_000 + Self.drainMilliseconds
                for fd in loop.listeners { _ = wharf_epoll_remove(loop.epfd, fd) }
                loop.listeners.removeAll()
                for connection in loop.connections.compactMap({ $0 }) {
                    // Commands already read (held back by a slow reader) still run before closing.
                    if var input = connection.pending.take(), !connection.core.isClosing {
                        _ = connection.core.process(&input, outputLimit: Int.max)
                    }
                    loop.beginClose(connection)
                }
            }
        }

        func start() {
            BackgroundThread.start(name: "wharf-loop-\(self.index)") { self.run() }
        }

        // MARK: The loop

        private func run() {
            var fds = [Int32](repeating: 0, count: 256)
            var events = [UInt32](repeating: 0, count: 256)
            while true {
                if self.stopping && self.connectionCount == 0 { break }
                var timeout: Int32 = (self.lingering > 0 || self.stopping) ? 100 : -1
                if !self.timedWaits.isEmpty { timeout = self.waitTimeout(current: timeout) }
                let syncDue = self.syncWanted && !self.flusherSyncPending.load(ordering: .relaxed)
                if syncDue {
                    // Group commit: replies wait for a sync. Take whatever input is ready first, so
                    // one sync covers as many clients as possible, and ask for it only when the
                    // loop would otherwise sleep (or enough is waiting). While the flusher syncs,
                    // the loop sleeps as usual: the flusher's answer wakes it.
                    timeout = 0
                }
                var count = fds.withUnsafeMutableBufferPointer { fdBuffer in
                    events.withUnsafeMutableBufferPointer { eventBuffer in
                        wharf_epoll_wait(self.epfd, fdBuffer.baseAddress!, eventBuffer.baseAddress!, 256, timeout)
                    }
                }
                if count == 0 && syncDue, let log = self.log {
                    self.syncWanted = false
                    // durable first: read after it, appended cannot be behind it.
                    let durable = log.durable
                    if log.appended - durable >= Self.handOverBytes {
                        // A large batch means pipelining clients: they send more while the disk
                        // syncs, and the loop serves them meanwhile (the next batch).
                        self.askFlusherToSync()
                        continue
                    }
                    // A small batch: sync here, as Redis does, rather than pay two thread
                    // switches for a wait with nothing to overlap.
                    self.syncingInLoop.store(true, ordering: .relaxed)
                    let synced = (try? log.sync()) != nil
                    self.syncingInLoop.store(false, ordering: .relaxed)
                    if !synced { self.askFlusherToSync() }
                    self.releaseWaiting()
                    if self.lingering == 0 && !self.stopping && !self.syncWanted {
                        count = fds.withUnsafeMutableBufferPointer { fdBuffer in
                            events.withUnsafeMutableBufferPointer { eventBuffer in
                                wharf_epoll_wait(self.epfd, fdBuffer.baseAddress!, eventBuffer.baseAddress!, 256, -1)
                            }
                        }
                    }
                }
                if count < 0 {
                    if -count == EINTR { continue }
                    self.logger.critical("epoll_wait failed", metadata: ["error": "\(Self.describe(-count))"])
                    break
                }
                for position in 0..<Int(count) {
                    let fd = fds[position]
                    let event = events[position]
                    if let connection = self.connection(fd) {
                        self.handle(connection, event: event)
                    } else if fd == self.wakeFD {
                        wharf_eventfd_drain(fd)
                        self.runTasks()
                    } else if self.listeners.contains(fd) {
                        self.acceptConnections(on: fd)
                    }
                }
                if !self.timedWaits.isEmpty { self.expireWaits() }
                self.flushPending()
                if self.lingering > 0 || self.stopping { self.checkDeadlines() }
            }
            for connection in self.connections.compactMap({ $0 }) { self.close(connection) }
            self.onExit()
        }

        private func runTasks() {
            let pending = self.tasks.withLock { tasks in
                let taken = tasks
                tasks.removeAll()
                return taken
            }
            for task in pending { task(self) }
        }

        private func connection(_ fd: Int32) -> EpollConnection? {
            let index = Int(fd)
            return index < self.connections.count ? self.connections[index] : nil
        }

        // MARK: Accepting

        private func acceptConnections(on listener: Int32) {
            // A bounded batch per wake-up keeps one busy listener from starving the connections.
            for _ in 0..<64 {
                let fd = wharf_accept(listener)
                if fd < 0 {
                    if -fd == EMFILE || -fd == ENFILE {
                        self.logger.error("cannot accept: out of file descriptors")
                    }
                    return
                }
                self.adopt(fd)
            }
        }

        private func adopt(_ fd: Int32) {
            let engine = self.engine
            wharf_configure_client(
                fd, Int32(truncatingIfNeeded: engine.settings.tcpKeepaliveSeconds.load(ordering: .relaxed)))
            let id = engine.clients.makeID()
            let info = ClientInfo(
                id: id, address: Self.address(fd, peer: true), localAddress: Self.address(fd, peer: false),
                createdAt: engine.clock.nowMilliseconds(),
                close: { [weak self] in self?.execute { loop in loop.closeClient(fd: fd, id: id) } })
            let accepted = engine.clients.register(info, limit: engine.settings.maxClients.load(ordering: .relaxed))
            let session = engine.makeSession(info: info, stats: self.stats)
            session.mailbox = ClientMailbox(wake: { [weak self] in
                self?.execute { loop in loop.takeDeliveries(fd: fd, id: id) }
            })
            let core = RESPConnectionCore(
                engine: engine, session: session, output: self.allocator.buffer(capacity: 1024))
            let connection = EpollConnection(fd: fd, id: id, core: core)
            while self.connections.count <= Int(fd) { self.connections.append(nil) }
            self.connections[Int(fd)] = connection
            self.connectionCount += 1
            let status = wharf_epoll_add(self.epfd, fd, WHARF_EPOLLIN | WHARF_EPOLLRDHUP)
            if status < 0 {
                self.close(connection)
                return
            }
            if !accepted {
                // Refused clients get the error and a lingering close, so it is read, not reset.
                core.output.writeString("-ERR max number of clients reached\r\n")
                self.beginClose(connection)
                return
            }
            if self.stopping { self.beginClose(connection) }
        }

        private static func address(_ fd: Int32, peer: Bool) -> String {
            withUnsafeTemporaryAllocation(of: CChar.self, capacity: 80) { buffer in
                wharf_format_address(fd, peer ? 1 : 0, buffer.baseAddress!, 80)
                return String(cString: buffer.baseAddress!)
            }
        }

        // MARK: Events

        private func handle(_ connection: EpollConnection, event: UInt32) {
            if event & WHARF_EPOLLIN != 0 || event & (WHARF_EPOLLERR | WHARF_EPOLLHUP | WHARF_EPOLLRDHUP) != 0 {
                self.readable(connection)
            }
            if connection.isOpen && event & WHARF_EPOLLOUT != 0 {
                self.writable(connection)
            }
        }

        private func readable(_ connection: EpollConnection) {
            if connection.isLingering {
                self.discardInput(connection)
                return
            }
            if connection.isPaused || connection.core.isClosing { return }
            let received: Int
            if connection.pending == nil {
                self.scratch.clear()
                received = Self.receive(connection.fd, into: &self.scratch)
            } else {
                received = Self.receive(connection.fd, into: &connection.pending!)
            }
            if received == -Int(EAGAIN) { return }
            if received <= 0 {
                // End of stream or a reset: the peer is gone, so are its unsent replies.
                self.close(connection)
                return
            }
            connection.core.countInput(received)
            if connection.pending == nil {
                self.processInput(connection, from: &self.scratch)
                if self.scratch.readableBytes > 0 && connection.isOpen && !connection.core.isClosing {
                    // Keep only the incomplete command, in a buffer of the connection's own.
                    var own = self.allocator.buffer(capacity: max(Self.readSize, self.scratch.readableBytes))
                    own.writeBuffer(&self.scratch)
                    connection.pending = own
                }
            } else {
                var input = connection.pending.take()!
                self.processInput(connection, from: &input)
                if input.readableBytes > 0 && connection.isOpen && !connection.core.isClosing {
                    input.discardReadBytes()
                    connection.pending = input
                }
            }
            if let pending = connection.pending, connection.isOpen, !connection.core.isClosing,
                !connection.core.checkQueryBuffer(pendingBytes: pending.readableBytes)
            {
                connection.pending = nil
                self.beginClose(connection)
            }
        }

        /// Reads once into `buffer`'s free space; returns the byte count, 0 at end of stream,
        /// or a negative errno.
        private static func receive(_ fd: Int32, into buffer: inout ByteBuffer) -> Int {
            var result = 0
            buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: Self.readSize) { space in
                let count = wharf_recv(fd, space.baseAddress, space.count)
                result = Int(count)
                return count > 0 ? Int(count) : 0
            }
            return result
        }

        /// Runs the commands in `input` and sends their replies, pausing the connection when
        /// the peer is not keeping up.
        private func processInput(_ connection: EpollConnection, from input: inout ByteBuffer) {
            while connection.isOpen {
                switch connection.core.process(&input, outputLimit: Self.eagerFlushBytes) {
                case .needInput:
                    if connection.core.output.readableBytes > 0 && !connection.flushQueued {
                        connection.flushQueued = true
                        self.needFlush.append(connection)
                    }
                    return
                case .outputFull:
                    self.flush(connection)
                    if connection.isOpen && connection.core.output.readableBytes >= Self.pauseBytes {
                        connection.isPaused = true
                        if input.readableBytes > 0 {
                            var own = self.allocator.buffer(capacity: input.readableBytes)
                            own.writeBuffer(&input)
                            connection.pending = own
                        }
                        self.updateInterest(connection)
                        return
                    }
                case .close:
                    self.beginClose(connection)
                    return
                case .blocked:
                    // The rest of the input waits until the blocking command ends.
                    if input.readableBytes > 0 && connection.pending == nil {
                        var own = self.allocator.buffer(capacity: input.readableBytes)
                        own.writeBuffer(&input)
                        connection.pending = own
                    }
                    if connection.core.blockedDeadline != nil && !connection.inTimedWaits {
                        connection.inTimedWaits = true
                        self.timedWaits.append(connection)
                    }
                    if connection.core.output.readableBytes > 0 && !connection.flushQueued {
                        connection.flushQueued = true
                        self.needFlush.append(connection)
                    }
                    return
                }
            }
        }

        // MARK: Blocked clients and deliveries

        /// The epoll timeout that wakes the loop for the nearest blocking-command deadline.
        private func waitTimeout(current: Int32) -> Int32 {
            let now = EngineClock.monotonicNanoseconds() / 1_000_000
            var nearest = Int64.max
            for connection in self.timedWaits {
                if let deadline = connection.core.blockedDeadline { nearest = min(nearest, deadline) }
            }
            if nearest == Int64.max { return current }
            let wait = Int32(clamping: max(0, nearest - now))
            return current < 0 ? wait : min(current, wait)
        }

        /// Times out blocked clients whose deadline has passed and runs what they sent since.
        private func expireWaits() {
            let now = EngineClock.monotonicNanoseconds() / 1_000_000
            var index = 0
            while index < self.timedWaits.count {
                let connection = self.timedWaits[index]
                if !connection.isOpen || connection.core.blockedDeadline == nil {
                    connection.inTimedWaits = false
                    self.timedWaits.remove(at: index)
                    continue
                }
                if connection.core.expireWaitIfDue(now: now) {
                    connection.inTimedWaits = false
                    self.timedWaits.remove(at: index)
                    self.resumeInput(connection)
                    continue
                }
                index += 1
            }
        }

        /// Takes pub/sub messages and served waits delivered to the client at `fd`.
        private func takeDeliveries(fd: Int32, id: Int64) {
            guard let connection = self.connection(fd), connection.id == id, connection.isOpen else { return }
            let wasBlocked = connection.core.blockedWaiter != nil
            guard connection.core.takeDeliveries() else {
                // Like Redis: a client past its output buffer limit is closed at once.
                self.logger.warning(
                    "Client closed for overcoming of output buffer limits",
                    metadata: ["id": "\(id)", "addr": "\(connection.core.session.info.address)", "class": "pubsub"])
                self.close(connection)
                return
            }
            if wasBlocked && connection.core.blockedWaiter == nil {
                self.resumeInput(connection)
            } else if connection.core.output.readableBytes > 0 && !connection.flushQueued {
                connection.flushQueued = true
                self.needFlush.append(connection)
            }
        }

        /// A blocking command ended: run the commands that arrived meanwhile.
        private func resumeInput(_ connection: EpollConnection) {
            if var input = connection.pending.take() {
                self.processInput(connection, from: &input)
                if input.readableBytes > 0 && connection.isOpen && !connection.core.isClosing
                    && connection.pending == nil
                {
                    input.discardReadBytes()
                    connection.pending = input
                }
            }
            if connection.core.output.readableBytes > 0 && !connection.flushQueued {
                connection.flushQueued = true
                self.needFlush.append(connection)
            }
        }

        private func writable(_ connection: EpollConnection) {
            self.flush(connection)
            guard connection.isOpen, connection.core.output.readableBytes == 0 else { return }
            if connection.core.isClosing {
                self.finishClose(connection)
            } else if connection.isPaused {
                connection.isPaused = false
                if var input = connection.pending.take() {
                    self.processInput(connection, from: &input)
                    if input.readableBytes > 0 && connection.isOpen && !connection.core.isClosing
                        && connection.pending == nil
                    {
                        connection.pending = input
                    }
                }
                self.updateInterest(connection)
            }
        }

        private func flushPending() {
            if self.needFlush.isEmpty { return }
            // One write of the log per turn covers every reply of the turn.
            if let log = self.log, log.appended > log.written { log.writePending() }
            for connection in self.needFlush {
                connection.flushQueued = false
                if connection.isOpen { self.flush(connection) }
            }
            self.needFlush.removeAll(keepingCapacity: true)
        }

        /// Whether the connection's replies must wait for its log records.
        private func mustWaitForLog(_ connection: EpollConnection) -> Bool {
            guard let log = self.log else { return false }
            let required = connection.core.appendedLSN
            if required == 0 { return false }
            if required > log.written { log.writePending() }
            if required > log.written { return true }
            return log.policy == .always && required > log.durable
        }

        private func hold(_ connection: EpollConnection) {
            if !connection.isHeld {
                connection.isHeld = true
                self.waiting.append(connection)
            }
            // Published before asking for the sync, so the flusher's answer cannot be missed.
            self.hasWaiters.store(true, ordering: .releasing)
            if self.log?.policy == .always {
                if self.waiting.count >= Self.syncBatch && !self.flusherSyncPending.load(ordering: .relaxed) {
                    self.syncWanted = false
                    self.askFlusherToSync()
                } else {
                    self.syncWanted = true
                }
            }
            self.updateInterest(connection)
        }

        /// Hands the sync to the log's flusher; its durability listener wakes the loop.
        private func askFlusherToSync() {
            self.flusherSyncPending.store(true, ordering: .releasing)
            self.log?.requestSync()
        }

        private func releaseWaiting() {
            let held = self.waiting
            self.waiting.removeAll(keepingCapacity: true)
            self.hasWaiters.store(false, ordering: .releasing)
            for connection in held {
                connection.isHeld = false
                if connection.isOpen { self.writable(connection) }
            }
        }

        /// Sends as much output as the socket takes; waits for writability for the rest.
        private func flush(_ connection: EpollConnection) {
            if connection.core.output.readableBytes > 0 && self.mustWaitForLog(connection) {
                self.hold(connection)
                return
            }
            let fd = connection.fd
            var failed = false
            while connection.core.output.readableBytes > 0 {
                let sent = connection.core.output.withUnsafeReadableBytes { bytes in
                    wharf_send(fd, bytes.baseAddress, bytes.count)
                }
                if sent > 0 {
                    connection.core.output.moveReaderIndex(forwardBy: Int(sent))
                    connection.core.countOutput(Int(sent))
                } else {
                    failed = sent != -Int(EAGAIN) && sent != -Int(EINTR)
                    break
                }
            }
            if failed {
                self.close(connection)
                return
            }
            connection.core.reportUnsent(connection.core.output.readableBytes)
            if connection.core.output.readableBytes == 0 {
                if connection.core.output.capacity > 4 * Self.eagerFlushBytes {
                    connection.core.output = self.allocator.buffer(capacity: 1024)
                } else {
                    connection.core.output.clear()
                }
                if connection.core.isClosing && !connection.isLingering {
                    self.finishClose(connection)
                    return
                }
            }
            self.updateInterest(connection)
        }

        private func updateInterest(_ connection: EpollConnection) {
            guard connection.isOpen else { return }
            var wanted: UInt32 = WHARF_EPOLLRDHUP
            if !connection.isPaused && (!connection.core.isClosing || connection.isLingering) {
                wanted |= WHARF_EPOLLIN
            }
            if connection.core.output.readableBytes > 0 && !connection.isHeld { wanted |= WHARF_EPOLLOUT }
            if wanted != connection.interest {
                connection.interest = wanted
                _ = wharf_epoll_modify(self.epfd, connection.fd, wanted)
            }
        }

        // MARK: Closing

        /// Stops processing input; the connection closes once its replies are sent.
        private func beginClose(_ connection: EpollConnection) {
            guard connection.isOpen else { return }
            connection.core.beginClosing()
            connection.pending = nil
            self.flush(connection)
        }

        /// All replies are sent: half-close and read whatever the peer still sends until it
        /// closes too, so unread input does not turn our close into a reset that destroys the
        /// last reply (an error, say) before the client reads it.
        private func finishClose(_ connection: EpollConnection) {
            guard connection.isOpen, !connection.isLingering else { return }
            _ = wharf_shutdown_write(connection.fd)
            connection.isLingering = true
            connection.lingerDeadline = EngineClock.monotonicNanoseconds() / 1_000_000 + Self.lingerMilliseconds
            self.lingering += 1
            self.updateInterest(connection)
        }

        private func discardInput(_ connection: EpollConnection) {
            self.scratch.clear()
            while true {
                let received = Self.receive(connection.fd, into: &self.scratch)
                self.scratch.clear()
                if received == -Int(EAGAIN) { return }
                if received <= 0 {
                    self.close(connection)
                    return
                }
            }
        }

        private func checkDeadlines() {
            let now = EngineClock.monotonicNanoseconds() / 1_000_000
            for connection in self.connections.compactMap({ $0 }) {
                if connection.isLingering && now > connection.lingerDeadline {
                    self.close(connection)
                } else if self.stopping && now > self.stopDeadline {
                    self.close(connection)
                }
            }
        }

        private func closeClient(fd: Int32, id: Int64) {
            // The descriptor may have been reused by a newer connection; match the client too.
            guard let connection = self.connection(fd), connection.id == id else { return }
            self.beginClose(connection)
        }

        private func close(_ connection: EpollConnection) {
            guard connection.isOpen else { return }
            connection.isOpen = false
            if connection.isLingering { self.lingering -= 1 }
            _ = wharf_epoll_remove(self.epfd, connection.fd)
            _ = wharf_close(connection.fd)
            self.connections[Int(connection.fd)] = nil
            self.connectionCount -= 1
            connection.core.disconnect()
            self.engine.clients.unregister(id: connection.id)
        }
    }

    /// A client connection owned by one ``EpollEventLoop``.
    final class EpollConnection {
        let fd: Int32
        let id: Int64
        let core: RESPConnectionCore
        /// Input not yet processed: an incomplete command, or commands held while paused.
        var pending: ByteBuffer?
        var interest: UInt32 = WHARF_EPOLLIN | WHARF_EPOLLRDHUP
        var isOpen = true
        /// Not reading because the peer is not reading its replies.
        var isPaused = false
        var isLingering = false
        var lingerDeadline: Int64 = 0
        /// Queued in the loop's list of connections to flush at the end of this turn.
        var flushQueued = false
        /// Its replies wait for the log (see `EpollEventLoop.mustWaitForLog`).
        var isHeld = false
        /// Listed in the loop's blocked connections with a deadline.
        var inTimedWaits = false

        init(fd: Int32, id: Int64, core: RESPConnectionCore) {
            self.fd = fd
            self.id = id
            self.core = core
        }
    }

    extension Optional {
        /// Moves the value out, leaving nil, so a buffer stays uniquely referenced.
        mutating func take() -> Wrapped? {
            let value = self
            self = nil
            return value
        }
    }
#endif
