import Atomics
import DequeModule
import NIOCore
import Synchronization
package import WharfProtocol

/// What a blocked client waits to do once one of its keys has data.
package enum BlockedOperation: Sendable {
    /// BLPOP/BRPOP (`count` nil: reply `[key, element]`) and BLMPOP (reply `[key, [elements]]`).
    case listPop(fromLeft: Bool, count: Int?)
    /// BLMOVE and BRPOPLPUSH: reply the element moved.
    case listMove(destination: [UInt8], fromLeft: Bool, toLeft: Bool)
    /// BZPOPMIN/BZPOPMAX (`count` nil: reply `[key, member, score]`) and BZMPOP.
    case sortedSetPop(minimum: Bool, count: Int?)
    /// XREAD: the entries after `ids` (one per key); reading consumes nothing, so every
    /// such waiter of a key is served.
    case streamRead(ids: [StreamID], count: Int)
    /// XREADGROUP with `>`: new entries for the group, delivered to the consumer.
    case streamGroupRead(group: [UInt8], consumer: [UInt8], count: Int, noAck: Bool)
    /// A command postponed by CLIENT PAUSE: it runs again, unchanged, when the pause ends.
    case pause

    /// Whether serving this waiter takes data that any waiter behind it would want (list and
    /// sorted-set pops); stream waiters are each tried, as their groups and IDs differ.
    var consumes: Bool {
        switch self {
        case .listPop, .listMove, .sortedSetPop: return true
        case .streamRead, .streamGroupRead, .pause: return false
        }
    }
}

/// One blocked client.
package final class Waiter: @unchecked Sendable {
    package let clientID: Int64
    package let database: Int
    package let keys: [[UInt8]]
    package let operation: BlockedOperation
    package let protocolVersion: RESPVersion
    /// Monotonic milliseconds after which the client times out; nil waits forever.
    package let deadline: Int64?
    /// Where the reply goes; weak, so a closed connection is not kept alive by its wait.
    package weak var host: ClientMailbox?
    private let finished = ManagedAtomic<Bool>(false)

    package init(
        clientID: Int64, database: Int, keys: [[UInt8]], operation: BlockedOperation, protocolVersion: RESPVersion,
        deadline: Int64?, host: ClientMailbox
    ) {
        self.clientID = clientID
        self.database = database
        self.keys = keys
        self.operation = operation
        self.protocolVersion = protocolVersion
        self.deadline = deadline
        self.host = host
    }

    /// Ends the wait exactly once: the first of serving, timing out or cancelling wins.
    package func claim() -> Bool {
        self.finished.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged
    }

    package var isFinished: Bool { self.finished.load(ordering: .acquiring) }
}

/// A key in one database that clients may wait on.
package struct WaitKey: Hashable, Sendable {
    package let database: Int
    package let key: [UInt8]
}

/// Every blocked client, queued per key in arrival order (Redis serves the longest waiting
/// first). Registration happens while the command holds its keys' shard locks, and a push
/// signals readiness under the same locks, so no wake-up can be missed.
package final class BlockingRegistry: Sendable {
    private let queues = Mutex<[WaitKey: Deque<Waiter>]>([:])
    private let waiting = ManagedAtomic<Int>(0)

    /// Whether any client waits; pushes check this before doing any blocking work.
    @inline(__always)
    package var hasWaiters: Bool { self.waiting.load(ordering: .relaxed) > 0 }

    /// Number of blocked clients (INFO clients' `blocked_clients`).
    package var count: Int { self.waiting.load(ordering: .relaxed) }

    package func register(_ waiter: Waiter) {
        self.queues.withLock { queues in
            for key in waiter.keys {
                queues[WaitKey(database: waiter.database, key: key), default: []].append(waiter)
            }
        }
        self.waiting.wrappingIncrement(ordering: .relaxed)
    }

    /// Takes `waiter` out of every queue (after it was served, timed out or cancelled).
    package func remove(_ waiter: Waiter) {
        let removed = self.queues.withLock { queues -> Bool in
            var found = false
            for key in waiter.keys {
                let waitKey = WaitKey(database: waiter.database, key: key)
                guard var queue = queues[waitKey] else { continue }
                if let index = queue.firstIndex(where: { $0 === waiter }) {
                    queue.remove(at: index)
                    found = true
                }
                queues[waitKey] = queue.isEmpty ? nil : queue
            }
            return found
        }
        if removed { self.waiting.wrappingDecrement(ordering: .relaxed) }
    }

    /// The unfinished waits of one client (CLIENT UNBLOCK).
    package func waiters(ofClient id: Int64) -> [Waiter] {
        self.queues.withLock { queues in
            var found: [Waiter] = []
            for queue in queues.values {
                for waiter in queue
                where waiter.clientID == id && !waiter.isFinished && !found.contains(where: { $0 === waiter }) {
                    found.append(waiter)
                }
            }
            return found
        }
    }

    /// Every key of `database` that clients wait on (SWAPDB re-checks them).
    package func waitedKeys(inDatabase database: Int) -> [[UInt8]] {
        self.queues.withLock { queues in queues.keys.filter { $0.database == database }.map(\.key) }
    }

    /// The unfinished waiters on `key`, longest-waiting first.
    package func waiters(on key: WaitKey) -> [Waiter] {
        self.queues.withLock { queues in
            guard let queue = queues[key] else { return [] }
            return queue.filter { !$0.isFinished }
        }
    }

}

extension CommandContext {
    /// Notes that `key` (in the current database, unless another is named) received data
    /// blocked clients may want; they are served once the command has finished.
    @inline(__always)
    package mutating func signalReady(_ key: UnsafeRawBufferPointer, database: Int? = nil) {
        if self.engine.blocking.hasWaiters {
            self.readyKeys.append(WaitKey(database: database ?? self.session.database, key: Array(key)))
        }
    }

    /// Blocks the client on the keys at `keyIndices` (called with their shard locks held,
    /// after finding them all empty). With `timeout` 0 it waits forever. Inside a
    /// transaction, or where the connection cannot block, the timeout reply is sent at once.
    package mutating func block(keys keyIndices: [Int], timeout: Double, operation: BlockedOperation) {
        guard !self.inTransaction, let host = self.session.mailbox else {
            Self.writeTimeoutReply(operation, into: &self.reply)
            return
        }
        let deadline: Int64? =
            timeout > 0 ? EngineClock.monotonicNanoseconds() / 1_000_000 + Int64((timeout * 1000).rounded(.up)) : nil
        let waiter = Waiter(
            clientID: self.session.id, database: self.session.database,
            keys: keyIndices.map { Array(self.arguments[$0]) }, operation: operation,
            protocolVersion: self.reply.version, deadline: deadline, host: host)
        self.engine.blocking.register(waiter)
        self.blockedWaiter = waiter
    }

    /// The reply of a blocking command that timed out: a null array (nil for BLMOVE).
    package static func writeTimeoutReply(_ operation: BlockedOperation, into reply: inout RESPReplyWriter) {
        switch operation {
        case .listMove: reply.writeNull()
        // A postponed command answers when it runs again.
        case .pause: break
        default: reply.writeNullArray()
        }
    }

    /// Parses a blocking timeout in seconds (sub-second allowed), with Redis's errors.
    package mutating func timeoutArgument(_ index: Int) -> Double? {
        guard let value = RESPDouble.parse(self.arguments[index]), value.isFinite else {
            self.reply.writeError("ERR timeout is not a float or out of range")
            return nil
        }
        guard value >= 0 else {
            self.reply.writeError("ERR timeout is negative")
            return nil
        }
        return value
    }
}
