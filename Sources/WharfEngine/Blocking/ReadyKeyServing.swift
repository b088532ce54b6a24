import NIOCore
import WharfProtocol

/// Serving blocked clients once a command has put data in the keys they wait on.
///
/// A write that may satisfy a waiter calls ``CommandContext/signalReady(_:database:)``;
/// after the command has finished and released its locks, the engine serves the waiters of
/// each signalled key in arrival order, each under the key's shard lock, for as long as
/// the key has data. The waiter's operation runs in the writer's thread and is logged like
/// the plain command it amounts to (`LPOP`, `LMOVE`, `ZPOPMIN`), so replay needs no notion
/// of blocking. The reply goes to the waiter's connection through its mailbox.
extension Engine {
    /// Serves the waiters of every key in `context.readyKeys` (including keys a served
    /// BLMOVE pushes to, which are appended as it goes).
    package func serveReadyKeys(_ context: inout CommandContext) {
        var index = 0
        while index < context.readyKeys.count {
            let key = context.readyKeys[index]
            index += 1
            // In arrival order; once a consuming waiter finds nothing, the consuming ones
            // behind it would not either, but XREAD waiters (which take nothing) still may.
            var exhausted = false
            for waiter in self.blocking.waiters(on: key) {
                let consumes = waiter.operation.consumes
                if consumes && exhausted { continue }
                if !self.serve(waiter, on: key, &context) && consumes { exhausted = true }
            }
        }
        context.readyKeys.removeAll(keepingCapacity: true)
    }

    /// Tries to serve `waiter` from `key`. Returns false when the key has nothing for it
    /// (so later waiters that consume need not be tried).
    private func serve(_ waiter: Waiter, on key: WaitKey, _ context: inout CommandContext) -> Bool {
        guard let host = waiter.host else {
            // The connection is gone without cancelling (it always cancels; be safe).
            self.blocking.remove(waiter)
            return true
        }
        let session = context.session
        let callerDatabase = session.database
        if callerDatabase != key.database { session.database = key.database }
        defer { if session.database != callerDatabase { session.database = callerDatabase } }
        let callerLSN = context.appendedLSN
        var reply = RESPReplyWriter(buffer: ByteBuffer(), version: waiter.protocolVersion)
        let outcome: ServeOutcome = key.key.withUnsafeBytes { keyBytes in
            switch waiter.operation {
            case .listPop(let fromLeft, let count):
                return ListCommands.serve(
                    &context, waiter, key: keyBytes, fromLeft: fromLeft, count: count, reply: &reply)
            case .listMove(let destination, let fromLeft, let toLeft):
                return destination.withUnsafeBytes { destinationBytes in
                    ListCommands.serveMove(
                        &context, waiter, key: keyBytes, destination: destinationBytes, fromLeft: fromLeft,
                        toLeft: toLeft, reply: &reply)
                }
            case .sortedSetPop(let minimum, let count):
                return SortedSetCommands.serve(
                    &context, waiter, key: keyBytes, minimum: minimum, count: count, reply: &reply)
            case .streamRead(let ids, let count):
                return StreamCommands.serveRead(&context, waiter, key: keyBytes, ids: ids, count: count, reply: &reply)
            case .streamGroupRead(let group, let consumer, let count, let noAck):
                return StreamGroupCommands.serveGroupRead(
                    &context, waiter, key: keyBytes, group: group, consumer: consumer, count: count, noAck: noAck,
                    reply: &reply)
            case .pause:
                // Paused clients wait on no key; the pause's end releases them.
                return ServeOutcome.empty
            }
        }
        switch outcome {
        case .empty:
            context.appendedLSN = callerLSN
            return false
        case .finishedElsewhere:
            self.blocking.remove(waiter)
            return true
        case .served:
            break
        }
        let requiredLSN = context.appendedLSN
        context.appendedLSN = callerLSN
        self.blocking.remove(waiter)
        host.unblock(waiter, reply: reply.buffer, requiredLSN: requiredLSN)
        return true
    }
}

/// What serving one waiter came to.
package enum ServeOutcome {
    /// The key has nothing for this waiter (missing, or of another type).
    case empty
    /// The waiter timed out or disconnected meanwhile.
    case finishedElsewhere
    /// The waiter got its reply.
    case served
}
