package import Atomics
package import NIOCore
import Synchronization

/// What other threads hand to a connection: pub/sub messages and the reply of a blocked
/// command that another client's write served.
///
/// Whoever delivers appends under the mailbox's lock and, when the mailbox was empty, calls
/// the transport's `wake`, which drains it on the connection's own thread. A burst of
/// messages therefore costs one wake-up, not one per message.
package final class ClientMailbox: Sendable {
    struct State {
        var messages: ByteBuffer?
        var unblocked: (waiter: Waiter, reply: ByteBuffer?, requiredLSN: UInt64)?
        var wakePending = false
        /// When the backlog first passed the soft limit (monotonic ms), or 0.
        var softLimitSince: Int64 = 0
    }

    /// What ``drain()`` hands the connection.
    package struct Delivery {
        package var messages: ByteBuffer?
        package var unblocked: (waiter: Waiter, reply: ByteBuffer?, requiredLSN: UInt64)?
    }

    private let state = Mutex<State>(State())
    private let wake: @Sendable () -> Void
    /// Set when the client passed its output buffer limit; the connection closes it.
    private let overLimit = ManagedAtomic<Bool>(false)
    /// Bytes the connection has not sent yet, published by the transport after each send.
    package let unsentBytes = ManagedAtomic<Int>(0)

    /// - Parameter wake: schedules ``drain()`` on the connection's thread; may be called
    ///   from any thread.
    package init(wake: @escaping @Sendable () -> Void) {
        self.wake = wake
    }

    package var isOverLimit: Bool { self.overLimit.load(ordering: .relaxed) }

    /// Takes everything delivered so far (on the connection's thread).
    package func drain() -> Delivery {
        self.state.withLock { state in
            state.wakePending = false
            let delivery = Delivery(messages: state.messages, unblocked: state.unblocked)
            state.messages = nil
            state.unblocked = nil
            return delivery
        }
    }

    /// The reply for a blocked client that was served (or nil: it timed out elsewhere).
    package func unblock(_ waiter: Waiter, reply: ByteBuffer?, requiredLSN: UInt64) {
        let needsWake = self.state.withLock { state -> Bool in
            state.unblocked = (waiter, reply, requiredLSN)
            defer { state.wakePending = true }
            return !state.wakePending
        }
        if needsWake { self.wake() }
    }

    /// What became of a delivered message.
    package enum DeliveryResult: Equatable {
        case queued
        /// Dropped: the client is already marked to be closed.
        case dropped
        /// Dropped, and this message took the client past its limit: it will be closed.
        case cutOff
    }

    /// Queues a pub/sub message unless the client is past its output buffer limit, in
    /// which case it is marked to be closed and the message dropped (publishers never wait).
    package func deliver(_ message: ByteBuffer, limits: OutputBufferLimits.Limit) -> DeliveryResult {
        if self.overLimit.load(ordering: .relaxed) { return .dropped }
        let outcome = self.state.withLock { state -> (accepted: Bool, wake: Bool) in
            let queued = (state.messages?.readableBytes ?? 0) + self.unsentBytes.load(ordering: .relaxed)
            if limits.exceeded(total: queued + message.readableBytes, softSince: &state.softLimitSince) {
                return (false, false)
            }
            if state.messages == nil {
                state.messages = message
            } else {
                var incoming = message
                state.messages!.writeBuffer(&incoming)
            }
            defer { state.wakePending = true }
            return (true, !state.wakePending)
        }
        if !outcome.accepted {
            guard self.overLimit.compareExchange(expected: false, desired: true, ordering: .relaxed).exchanged else {
                return .dropped
            }
            // The connection sees the flag when it drains, and closes.
            self.wake()
            return .cutOff
        }
        if outcome.wake { self.wake() }
        return .queued
    }
}

extension OutputBufferLimits.Limit {
    /// Whether `total` unsent bytes break the limit: over the hard limit at once, or over
    /// the soft limit continuously for `softSeconds` (`softSince` tracks since when).
    func exceeded(total: Int, softSince: inout Int64) -> Bool {
        if self.hardBytes > 0 && total > self.hardBytes { return true }
        guard self.softBytes > 0 && total > self.softBytes else {
            softSince = 0
            return false
        }
        let now = EngineClock.monotonicNanoseconds() / 1_000_000
        if softSince == 0 {
            softSince = now
            return false
        }
        return now - softSince >= Int64(self.softSeconds) * 1000
    }
}
