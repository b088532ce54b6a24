import NIOCore
import Synchronization
import WharfProtocol

/// A request written (or about to be written) on a connection, waiting for its replies.
/// Replies arrive in the order requests were written, so the head of the queue owns the
/// next reply.
struct PendingRequest: Sendable {
    enum Waiter {
        case single(UnsafeContinuation<RESPValue, any Error>)
        case batch(BatchCollector)
        /// Replies are stepped over, not built; the first error reply is kept.
        case discarding(UnsafeContinuation<Void, any Error>)
        /// Timed out or cancelled: its replies are read and dropped to keep the order.
        case abandoned
    }

    let id: UInt64
    var waiter: Waiter
    /// Replies still to come (more than one for a pipelined batch).
    var remainingReplies: Int
    var deadline: NIODeadline?
    var timer: Scheduled<Void>?
    /// For `.discarding`: the first error reply seen.
    var firstError: String?

    /// Hands `error` to whoever waits; the request stays in the queue if replies are still due.
    mutating func fail(_ error: WharfClientError) {
        self.timer?.cancel()
        self.timer = nil
        switch self.waiter {
        case .single(let continuation): continuation.resume(throwing: error)
        case .batch(let collector): collector.continuation.resume(throwing: error)
        case .discarding(let continuation): continuation.resume(throwing: error)
        case .abandoned: break
        }
        self.waiter = .abandoned
    }
}

/// Collects the replies of a pipelined batch. Made on the caller's thread, it passes to the
/// event loop through the outbox's lock (or is made on the loop) and is touched only there
/// afterwards, hence `@unchecked`.
final class BatchCollector: @unchecked Sendable {
    var values: [RESPValue]
    let continuation: UnsafeContinuation<[RESPValue], any Error>

    init(expecting count: Int, continuation: UnsafeContinuation<[RESPValue], any Error>) {
        self.values = []
        self.values.reserveCapacity(count)
        self.continuation = continuation
    }
}

/// The outbox behind its lock, shared by a connection (which fills it from any thread) and
/// its handler (which empties it on the event loop).
final class SharedOutbox: Sendable {
    private let state = Mutex(Outbox())
    /// Set (under the lock) when requests are added, so the loop can skip the lock when the
    /// outbox is empty — the usual case when callers run on the loop.
    let hasWork = Atomic<Bool>(false)

    func withLock<Result>(_ body: (inout Outbox) throws -> Result) rethrows -> Result {
        try self.state.withLock { try body(&$0) }
    }
}

/// Requests sent from threads other than the connection's event loop, gathered under a
/// lock until the loop writes them all in one system call.
struct Outbox: Sendable {
    var bytes = ByteBuffer()
    var requests: [PendingRequest] = []
    var flushScheduled = false
    /// Set once the connection is closed; later requests fail at once with it.
    var failure: WharfClientError?
}
