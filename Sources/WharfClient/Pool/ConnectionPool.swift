import NIOCore
import Synchronization

/// The connections of a ``WharfClient``: a few shared ones that pipeline every caller's
/// commands, and others lent out one caller at a time (blocking commands, transactions,
/// subscriptions). Its state is a value behind a `Mutex`; work that may wait (connecting,
/// resuming a waiter) happens after the lock is released.
final class ConnectionPool: Sendable {
    private enum SharedSlot {
        case connecting(Task<WharfConnection, any Error>)
        case ready(WharfConnection)
    }

    private struct Waiter {
        let id: UInt64
        /// nil hands the caller a reservation: it connects a new connection itself.
        let continuation: CheckedContinuation<WharfConnection?, any Error>
    }

    private struct State {
        var shared: [SharedSlot?]
        var nextShared = 0
        var idle: [WharfConnection] = []
        /// Lent connections, and reservations for ones being opened to be lent.
        var lent = 0
        var waiters = CircularBuffer<Waiter>()
        /// Connections outside the count (subscriptions), closed with the pool.
        var dedicated: [ObjectIdentifier: WharfConnection] = [:]
        /// Connections lent out now, closed when the primary changes.
        var lentConnections: [ObjectIdentifier: WharfConnection] = [:]
        /// Watches the sentinels for failovers once the first connection is made.
        var sentinelWatcher: Task<Void, Never>?
        var nextWaiterID: UInt64 = 0
        var closed = false

        /// Shared slots count whether open or not: they are the pool's minimum.
        var total: Int { self.shared.count + self.idle.count + self.lent }
    }

    private let configuration: WharfClientConfiguration
    private let eventLoopGroup: any EventLoopGroup
    private let state: Mutex<State>
    private let sentinel: SentinelResolver?

    init(configuration: WharfClientConfiguration, eventLoopGroup: any EventLoopGroup) {
        self.configuration = configuration
        self.eventLoopGroup = eventLoopGroup
        self.sentinel = configuration.sentinel.map {
            SentinelResolver(configuration: $0, connection: configuration.connection, eventLoopGroup: eventLoopGroup)
        }
        self.state = Mutex(State(shared: Array(repeating: nil, count: max(1, configuration.minimumConnections))))
    }

    // MARK: Shared connections

    /// A connection for a pipelined command, chosen round-robin; opened on first use.
    func sharedConnection() async throws -> WharfConnection {
        let slot = try self.state.withLock { state throws(WharfClientError) -> SharedSlot in
            if state.closed { throw WharfClientError(.clientClosed, "the client was closed") }
            let index = state.nextShared % state.shared.count
            state.nextShared &+= 1
            if case .ready(let connection) = state.shared[index], connection.isActive {
                return .ready(connection)
            }
            if case .connecting(let task) = state.shared[index] { return .connecting(task) }
            // Empty or closed: start (re)connecting. Creating a task runs none of its code here.
            let task = Task { try await self.connectWithRetries() }
            state.shared[index] = .connecting(task)
            return .connecting(task)
        }
        switch slot {
        case .ready(let connection): return connection
        case .connecting(let task):
            do {
                let connection = try await task.value
                self.state.withLock { state in
                    for index in state.shared.indices {
                        if case .connecting(let pending) = state.shared[index], pending == task {
                            state.shared[index] = .ready(connection)
                        }
                    }
                }
                return connection
            } catch {
                self.state.withLock { state in
                    for index in state.shared.indices {
                        if case .connecting(let pending) = state.shared[index], pending == task {
                            state.shared[index] = nil
                        }
                    }
                }
                throw error
            }
        }
    }

    // MARK: Lent connections

    /// Lends a connection for the caller's use alone; give it back with ``giveBack(_:)``.
    func lend() async throws -> WharfConnection {
        let decision = try self.state.withLock { state throws(WharfClientError) -> Decision in
            if state.closed { throw WharfClientError(.clientClosed, "the client was closed") }
            while let connection = state.idle.popLast() {
                if connection.isActive {
                    state.lent += 1
                    return .use(connection)
                }
            }
            if state.total < self.configuration.maximumConnections {
                state.lent += 1
                return .connect
            }
            guard state.waiters.count < self.configuration.maximumWaiters else {
                throw WharfClientError(
                    .poolExhausted,
                    "pool exhausted: \(self.configuration.maximumConnections) connections in use (maximumConnections) "
                        + "and \(state.waiters.count) callers waiting (maximumWaiters)")
            }
            state.nextWaiterID &+= 1
            return .wait(state.nextWaiterID)
        }
        let connection = try await self.lent(decision)
        self.state.withLock { $0.lentConnections[ObjectIdentifier(connection)] = connection }
        return connection
    }

    private enum Decision {
        case use(WharfConnection)
        case connect
        case wait(UInt64)
    }

    private func lent(_ decision: Decision) async throws -> WharfConnection {
        switch decision {
        case .use(let connection): return try await self.checked(connection)
        case .connect: return try await self.connectReserved()
        case .wait(let id):
            let timeout = self.configuration.leaseTimeout
            let timer = Task {
                try await Task.sleep(for: timeout)
                self.expireWaiter(id)
            }
            defer { timer.cancel() }
            let handed = try await withCheckedThrowingContinuation { continuation in
                let closed = self.state.withLock { state -> Bool in
                    if state.closed { return true }
                    state.waiters.append(Waiter(id: id, continuation: continuation))
                    return false
                }
                if closed { continuation.resume(throwing: WharfClientError(.clientClosed, "the client was closed")) }
            }
            if let connection = handed { return try await self.checked(connection) }
            return try await self.connectReserved()
        }
    }

    /// Returns a lent connection: to the next waiter, to the idle list, or (if it died) away.
    func giveBack(_ connection: WharfConnection) {
        enum Next {
            case none
            case handTo(Waiter, WharfConnection?)
            case close
        }
        let next = self.state.withLock { state -> Next in
            state.lentConnections[ObjectIdentifier(connection)] = nil
            if state.closed {
                state.lent -= 1
                return .close
            }
            if let waiter = state.waiters.popFirst() {
                // The lent count stays: the waiter takes over this connection or its reservation.
                return .handTo(waiter, connection.isActive ? connection : nil)
            }
            state.lent -= 1
            if connection.isActive { state.idle.append(connection) }
            return .none
        }
        switch next {
        case .none: break
        case .handTo(let waiter, let connection): waiter.continuation.resume(returning: connection)
        case .close: connection.close()
        }
    }

    private func expireWaiter(_ id: UInt64) {
        let waiter = self.state.withLock { state -> Waiter? in
            guard let index = state.waiters.firstIndex(where: { $0.id == id }) else { return nil }
            return state.waiters.remove(at: index)
        }
        waiter?.continuation.resume(
            throwing: WharfClientError(
                .poolExhausted,
                "pool exhausted: no connection free within \(self.configuration.leaseTimeout) (leaseTimeout); "
                    + "\(self.configuration.maximumConnections) connections in use (maximumConnections)"))
    }

    /// Opens a connection for a reservation already counted in `lent`.
    private func connectReserved() async throws -> WharfConnection {
        do {
            return try await self.connectWithRetries()
        } catch {
            self.releaseReservation()
            throw error
        }
    }

    private func releaseReservation() {
        let waiter = self.state.withLock { state -> Waiter? in
            if let waiter = state.waiters.popFirst() { return waiter }
            state.lent -= 1
            return nil
        }
        waiter?.continuation.resume(returning: nil)
    }

    /// A connection idle for long is checked with PING first; a dead one is replaced.
    private func checked(_ connection: WharfConnection) async throws -> WharfConnection {
        guard connection.idleTime > self.configuration.healthCheckAfterIdle else { return connection }
        do {
            _ = try await connection.send(RESPCommand("PING"), timeout: self.configuration.connection.connectTimeout)
            return connection
        } catch {
            connection.close()
            return try await self.connectReserved()
        }
    }

    // MARK: Connecting and closing

    /// Connects (to the primary the sentinels name, with Sentinel), retrying with
    /// exponential backoff and jitter.
    func connectWithRetries() async throws -> WharfConnection {
        var attempt = 0
        while true {
            attempt += 1
            do {
                guard let sentinel = self.sentinel else {
                    return try await WharfConnection.connect(
                        to: self.configuration.connection, on: self.eventLoopGroup.next())
                }
                let connection = try await sentinel.connectToPrimary(on: self.eventLoopGroup.next())
                self.startWatchingSentinels(sentinel)
                return connection
            } catch let error as WharfClientError where error.code == .connectFailed {
                if attempt >= self.configuration.reconnect.maximumAttempts { throw error }
                try await Task.sleep(for: self.configuration.reconnect.delay(afterAttempt: attempt))
            }
        }
    }

    /// A connection kept by its user for as long as it lives (a subscription's); it does not
    /// count against `maximumConnections` but is closed with the pool.
    func connectDedicated() async throws -> WharfConnection {
        if self.state.withLock({ $0.closed }) { throw WharfClientError(.clientClosed, "the client was closed") }
        let connection = try await self.connectWithRetries()
        let closed = self.state.withLock { state -> Bool in
            if state.closed { return true }
            state.dedicated = state.dedicated.filter { $0.value.isActive }
            state.dedicated[ObjectIdentifier(connection)] = connection
            return false
        }
        if closed {
            connection.close()
            throw WharfClientError(.clientClosed, "the client was closed")
        }
        return connection
    }

    private func startWatchingSentinels(_ sentinel: SentinelResolver) {
        self.state.withLock { state in
            guard state.sentinelWatcher == nil, !state.closed else { return }
            let backoff = self.configuration.reconnect
            state.sentinelWatcher = Task {
                await sentinel.watch(backoff: backoff) { [weak self] _ in self?.primaryChanged() }
            }
        }
    }

    /// A failover happened: every connection goes (to the old primary), and the next
    /// command connects to the new one.
    func primaryChanged() {
        let connections = self.state.withLock { state -> [WharfConnection] in
            var connections = state.idle + Array(state.lentConnections.values)
            for case .ready(let connection)? in state.shared { connections.append(connection) }
            state.idle = []
            return connections
        }
        let failover = WharfClientError(
            .connectionLost, "the primary changed (failover); the connection to the old one was closed",
            mayHaveBeenApplied: true)
        for connection in connections { connection.close(failing: failover) }
    }

    func close() {
        let (connections, waiters) = self.state.withLock { state -> ([WharfConnection], [Waiter]) in
            state.closed = true
            state.sentinelWatcher?.cancel()
            state.sentinelWatcher = nil
            var connections = state.idle + state.dedicated.values
            state.dedicated = [:]
            for case .ready(let connection)? in state.shared { connections.append(connection) }
            state.idle = []
            state.shared = state.shared.map { _ in nil }
            let waiters = Array(state.waiters)
            state.waiters = []
            return (connections, waiters)
        }
        for connection in connections { connection.close() }
        for waiter in waiters {
            waiter.continuation.resume(throwing: WharfClientError(.clientClosed, "the client was closed"))
        }
    }
}
