import Synchronization
import WharfProtocol

/// In RESP3, the subscriptions of a client share one of its pooled connections: messages
/// arrive as push messages beside ordinary replies. The registry counts, per channel,
/// pattern and shard channel, how many subscriptions want it, subscribes when the first
/// one does and unsubscribes after the last, hands each message to the subscriptions that
/// asked for it, and after the connection is lost subscribes everything again on the next.
final class SharedSubscriptions: Sendable {
    enum Kind: Hashable, Sendable, CaseIterable {
        case channel
        case pattern
        case shardChannel

        var subscribe: String {
            switch self {
            case .channel: "SUBSCRIBE"
            case .pattern: "PSUBSCRIBE"
            case .shardChannel: "SSUBSCRIBE"
            }
        }

        var unsubscribe: String {
            switch self {
            case .channel: "UNSUBSCRIBE"
            case .pattern: "PUNSUBSCRIBE"
            case .shardChannel: "SUNSUBSCRIBE"
            }
        }
    }

    private struct Member {
        let subscription: WharfSubscription
        var names: [Kind: Set<String>] = [:]
    }

    private struct State {
        var members: [ObjectIdentifier: Member] = [:]
        var counts: [Kind: [String: Int]] = [:]
        var connection: WharfConnection?
        var reconnecting = false
        /// For the commands sent on the current connection.
        var confirmations = SubscriptionConfirmations()
    }

    private let pool: ConnectionPool
    private let backoff: Backoff
    private let state = Mutex(State())

    init(pool: ConnectionPool, backoff: Backoff) {
        self.pool = pool
        self.backoff = backoff
    }

    /// Adds or removes names for `subscription`; returns once the server confirmed what had
    /// to be sent (nothing when other subscriptions already hold the names).
    func change(_ subscription: WharfSubscription, _ kind: Kind, _ names: [String], add: Bool) async throws {
        guard !names.isEmpty else { return }
        let connection = try await self.connection()
        let (send, target) = self.state.withLock { state -> ([String], Int) in
            let id = ObjectIdentifier(subscription)
            var member = state.members[id] ?? Member(subscription: subscription)
            var send: [String] = []
            for name in names {
                let had = member.names[kind, default: []].contains(name)
                if add && !had {
                    member.names[kind, default: []].insert(name)
                    state.counts[kind, default: [:]][name, default: 0] += 1
                    if state.counts[kind]?[name] == 1 { send.append(name) }
                } else if !add && had {
                    member.names[kind]?.remove(name)
                    state.counts[kind]?[name, default: 1] -= 1
                    if state.counts[kind]?[name] == 0 {
                        state.counts[kind]?[name] = nil
                        send.append(name)
                    }
                }
            }
            state.members[id] = member
            return (send, state.confirmations.expect(send.count))
        }
        guard !send.isEmpty else { return }
        var command = RESPCommand(add ? kind.subscribe : kind.unsubscribe)
        command.append(contentsOf: send)
        connection.sendWithoutReply(command)
        await self.waitForConfirmations(target)
    }

    /// Forgets `subscription`, unsubscribing what no other subscription wants.
    func remove(_ subscription: WharfSubscription) {
        let (connection, commands) = self.state.withLock { state -> (WharfConnection?, [RESPCommand]) in
            guard let member = state.members.removeValue(forKey: ObjectIdentifier(subscription)) else {
                return (nil, [])
            }
            var commands: [RESPCommand] = []
            for (kind, names) in member.names {
                var gone: [String] = []
                for name in names {
                    state.counts[kind]?[name, default: 1] -= 1
                    if state.counts[kind]?[name] == 0 {
                        state.counts[kind]?[name] = nil
                        gone.append(name)
                    }
                }
                if !gone.isEmpty {
                    var command = RESPCommand(kind.unsubscribe)
                    command.append(contentsOf: gone)
                    commands.append(command)
                    _ = state.confirmations.expect(gone.count)
                }
            }
            return (state.connection, commands)
        }
        for command in commands { connection?.sendWithoutReply(command) }
    }

    /// The shared connection, with this registry receiving its push messages.
    private func connection() async throws -> WharfConnection {
        if let connection = self.state.withLock({ $0.connection }), connection.isActive { return connection }
        let connection = try await self.pool.sharedConnection()
        try await connection.setPushReceiver(arraysArePushes: false) { [weak self] value in
            self?.receive(value)
        } onClose: { [weak self] _ in
            self?.lost(connection)
        }
        self.state.withLock { state in
            if state.connection !== connection {
                state.connection = connection
                state.confirmations.reset()
            }
        }
        return connection
    }

    /// The shared connection closed: resubscribe on the next one, or end every subscription
    /// if none can be had.
    private func lost(_ connection: WharfConnection) {
        let (start, waiters) = self.state.withLock { state -> (Bool, [CheckedContinuation<Void, Never>]) in
            guard state.connection === connection else { return (false, []) }
            state.connection = nil
            let waiters = state.confirmations.releaseAll()
            if state.reconnecting || state.members.isEmpty { return (false, waiters) }
            state.reconnecting = true
            return (true, waiters)
        }
        for waiter in waiters { waiter.resume() }
        guard start else { return }
        Task { await self.resubscribe() }
    }

    private func resubscribe() async {
        var attempt = 0
        while true {
            attempt += 1
            do {
                let connection = try await self.connection()
                let (commands, target, members) = self.state.withLock {
                    state -> ([RESPCommand], Int, [WharfSubscription]) in
                    var commands: [RESPCommand] = []
                    for kind in Kind.allCases {
                        let names = (state.counts[kind] ?? [:]).keys.sorted()
                        guard !names.isEmpty else { continue }
                        var command = RESPCommand(kind.subscribe)
                        command.append(contentsOf: names)
                        commands.append(command)
                        _ = state.confirmations.expect(names.count)
                    }
                    state.reconnecting = false
                    return (commands, state.confirmations.target, state.members.values.map(\.subscription))
                }
                for command in commands { connection.sendWithoutReply(command) }
                await self.waitForConfirmations(target)
                for subscription in members { subscription.deliver(.resubscribed) }
                return
            } catch let error as WharfClientError where error.code == .clientClosed {
                self.endAll(error)
                return
            } catch {
                if attempt >= self.backoff.maximumAttempts {
                    self.endAll(error)
                    return
                }
                try? await Task.sleep(for: self.backoff.delay(afterAttempt: attempt))
            }
        }
    }

    private func endAll(_ error: any Error) {
        let members = self.state.withLock { state -> [WharfSubscription] in
            state.reconnecting = false
            let members = state.members.values.map(\.subscription)
            state.members = [:]
            state.counts = [:]
            return members
        }
        for subscription in members { subscription.end(throwing: error) }
    }

    private func waitForConfirmations(_ target: Int) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let ready = self.state.withLock { state -> Bool in
                if state.confirmations.reached(target) || state.connection == nil { return true }
                state.confirmations.wait(for: target, continuation)
                return false
            }
            if ready { continuation.resume() }
        }
    }

    /// Runs on the connection's event loop for every push message.
    private func receive(_ value: RESPValue) {
        switch PubSubPush(value) {
        case .message(let message, let kind, let name)?:
            let receivers = self.state.withLock { state in
                state.members.values.filter { $0.names[kind]?.contains(name) == true }.map(\.subscription)
            }
            for subscription in receivers { subscription.deliver(message) }
        case .confirmation?:
            for continuation in self.state.withLock({ $0.confirmations.confirm() }) { continuation.resume() }
        case nil:
            break
        }
    }
}
