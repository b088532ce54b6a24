import Atomics
import Synchronization
import WharfProtocol

/// CLIENT PAUSE: until a deadline, commands that write (WRITE) or all commands (ALL) wait,
/// as in Redis. A postponed command is left in its connection's input and its client waits
/// like a blocked one; the pause's end (its deadline, or CLIENT UNPAUSE) releases it and the
/// command runs then. Without a pause a command pays one relaxed load.
package final class ClientPause: Sendable {
    package enum Mode: Int, Sendable {
        case write = 1
        case all = 2
    }

    private struct State {
        var until: Int64 = 0
        var mode = Mode.write
        var waiters: [Waiter] = []
    }

    private let state = Mutex(State())
    /// The pause's end in monotonic milliseconds; 0 when there is none.
    private let until = ManagedAtomic<Int64>(0)

    static func monotonicMilliseconds() -> Int64 { EngineClock.monotonicNanoseconds() / 1_000_000 }

    /// Starts or extends a pause: a later end and the stricter mode win, as in Redis.
    package func pause(milliseconds: Int64, mode: Mode) {
        let end = Self.monotonicMilliseconds() &+ milliseconds
        self.state.withLock { state in
            if state.until == 0 || mode.rawValue > state.mode.rawValue { state.mode = mode }
            state.until = max(state.until, end)
            self.until.store(state.until, ordering: .relaxed)
        }
    }

    /// Ends the pause and releases every postponed client.
    package func unpause() {
        let waiters = self.state.withLock { state -> [Waiter] in
            state.until = 0
            self.until.store(0, ordering: .relaxed)
            defer { state.waiters.removeAll() }
            return state.waiters
        }
        for waiter in waiters where waiter.claim() {
            waiter.host?.unblock(waiter, reply: nil, requiredLSN: 0)
        }
    }

    @inline(__always)
    package var isActive: Bool { self.until.load(ordering: .relaxed) != 0 }

    /// Whether `spec` from this client must wait now; if so `context` gets the waiter.
    package func postpones(_ spec: CommandSpec, _ context: inout CommandContext) -> Bool {
        let now = Self.monotonicMilliseconds()
        let decision = self.state.withLock { state -> (Bool, Int64, Bool) in
            if state.until == 0 { return (false, 0, false) }
            if now >= state.until { return (false, 0, true) }
            let writes = !spec.flags.isDisjoint(with: [.write, .mayReplicate])
            return (state.mode == .all || writes, state.until, false)
        }
        if decision.2 {
            self.unpause()
            return false
        }
        guard decision.0, let host = context.session.mailbox, !context.inTransaction else { return false }
        let waiter = Waiter(
            clientID: context.session.id, database: context.session.database, keys: [], operation: .pause,
            protocolVersion: context.reply.version, deadline: decision.1, host: host)
        self.state.withLock { $0.waiters.append(waiter) }
        context.blockedWaiter = waiter
        context.postponed = true
        return true
    }
}
