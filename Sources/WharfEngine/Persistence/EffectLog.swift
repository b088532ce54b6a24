import WharfProtocol
package import WharfStorage

/// How write commands record their effects in the write-ahead log.
///
/// The rule every command family follows: log the **effect** that makes replay
/// deterministic, appended while the command still holds its shard locks (so the log's
/// order is the execution order for every key), and only when something changed.
/// - A command whose result depends only on the data and its time is logged as received
///   (INCR, APPEND, DEL, RENAME …): replay runs each record at the time it first ran.
/// - Relative times become absolute (`EX 10` → `PXAT <ms>`, EXPIRE → PEXPIREAT); an expiry in
///   the past is logged as the DEL it caused.
/// - Results that replay could compute differently are logged as their outcome
///   (INCRBYFLOAT → `SET … KEEPTTL`, a chosen random member → that member).
/// - Expiry of a key on access or by the sweep is not logged: replay at the original times
///   reproduces it.
extension CommandContext {
    /// Logs the command exactly as received.
    @inline(__always)
    package mutating func logCommand() {
        let arguments = self.arguments
        self.logEffect { writer in
            for index in 0..<arguments.count { writer.argument(arguments[index]) }
        }
    }

    /// Whether the log refuses writes now (a full disk, say).
    @inline(__always)
    package mutating func logIsFailing() -> Bool {
        guard self.resolveLog() else { return false }
        return self.resolvedLog.unsafelyUnwrapped._withUnsafeGuaranteedRef { $0.isFailing }
    }

    /// Finds the engine's log once per context; false when there is none.
    @inline(__always)
    private mutating func resolveLog() -> Bool {
        if self.resolvedLog != nil { return true }
        guard let log = self.engine.persistence?.log else { return false }
        self.resolvedLog = Unmanaged.passUnretained(log)
        return true
    }

    /// Logs a rewritten effect; `body` writes its arguments. `database` defaults to the
    /// client's selected one (serving a blocked client logs in that client's database).
    @inline(__always)
    package mutating func logEffect(database: Int? = nil, _ body: (inout LogRecordWriter) -> Void) {
        self.counters.add(.changes)
        if self.replaying { return }
        guard self.resolveLog() else { return }
        let time = self.now
        let database = database ?? self.session.database
        if self.inTransaction && !self.transactionLogged {
            // EXEC's effects are framed by MULTI … EXEC so replay applies all or none.
            self.transactionLogged = true
            _ = self.resolvedLog.unsafelyUnwrapped._withUnsafeGuaranteedRef {
                $0.append(time: time, database: database) { $0.argument("MULTI") }
            }
        }
        self.appendedLSN = self.resolvedLog.unsafelyUnwrapped._withUnsafeGuaranteedRef {
            $0.append(time: time, database: database, body)
        }
    }

    /// Logs the records `body` writes as one unit, framed by MULTI … EXEC so replay applies
    /// all or none (inside EXEC, whose framing already covers them, as they come). `body`
    /// must only log.
    package mutating func logTogether(_ body: (inout CommandContext) -> Void) {
        if self.inTransaction || self.replaying { return body(&self) }
        self.inTransaction = true
        self.transactionLogged = false
        body(&self)
        self.inTransaction = false
        guard self.transactionLogged else { return }
        self.transactionLogged = false
        if let log = self.resolvedLog?.takeUnretainedValue() {
            self.appendedLSN = log.append(time: self.now, database: self.session.database) { $0.argument("EXEC") }
        }
    }
}
