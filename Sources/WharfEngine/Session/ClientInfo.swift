package import Atomics
import NIOCore
import Synchronization

/// What other connections may learn about a client (CLIENT LIST, CLIENT KILL, INFO): the
/// part of a session that is shared across threads.
///
/// The owning connection updates the per-command fields with relaxed atomic stores, so
/// nothing on the command path takes a lock; names change rarely and sit behind a mutex.
public final class ClientInfo: Sendable {
    public let id: Int64
    public let address: String
    public let localAddress: String
    /// Unix milliseconds when the connection was accepted.
    public let createdAt: Int64

    package let lastInteraction: UnsafeAtomic<Int64>
    package let lastCommand = UnsafeAtomic<Int>.create(-1)
    package let database = UnsafeAtomic<Int>.create(0)
    package let protocolVersion = UnsafeAtomic<Int>.create(2)
    package let queryBufferBytes = UnsafeAtomic<Int>.create(0)
    package let outputBufferBytes = UnsafeAtomic<Int>.create(0)
    package let killed = UnsafeAtomic<Bool>.create(false)
    /// ``ClientFlags`` bits: blocked, subscribed, in MULTI (CLIENT LIST, idle timeout).
    package let flags = UnsafeAtomic<Int>.create(0)
    private let names = Mutex<Names>(Names())
    private let closer: Mutex<(@Sendable () -> Void)?>

    struct Names {
        var name = ""
        var libraryName = ""
        var libraryVersion = ""
        var user = "default"
    }

    public init(id: Int64, address: String, localAddress: String, createdAt: Int64, close: (@Sendable () -> Void)?) {
        self.id = id
        self.address = address
        self.localAddress = localAddress
        self.createdAt = createdAt
        self.lastInteraction = UnsafeAtomic<Int64>.create(createdAt)
        self.closer = Mutex(close)
    }

    deinit {
        self.database.destroy()
        self.killed.destroy()
        self.flags.destroy()
        self.lastCommand.destroy()
        self.lastInteraction.destroy()
        self.outputBufferBytes.destroy()
        self.protocolVersion.destroy()
        self.queryBufferBytes.destroy()
    }

    public var name: String {
        get { self.names.withLock { $0.name } }
        set { self.names.withLock { $0.name = newValue } }
    }

    public var libraryName: String {
        get { self.names.withLock { $0.libraryName } }
        set { self.names.withLock { $0.libraryName = newValue } }
    }

    public var libraryVersion: String {
        get { self.names.withLock { $0.libraryVersion } }
        set { self.names.withLock { $0.libraryVersion = newValue } }
    }

    public var user: String {
        get { self.names.withLock { $0.user } }
        set { self.names.withLock { $0.user = newValue } }
    }

    /// Whether CLIENT KILL (or shutdown) has asked this client to close.
    public var isKilled: Bool { self.killed.load(ordering: .relaxed) }

    /// Asks the connection to close (CLIENT KILL, SHUTDOWN). Safe from any thread.
    public func kill() {
        self.killed.store(true, ordering: .relaxed)
        let close = self.closer.withLock { $0 }
        close?()
    }
}

/// States of a client other clients can see (CLIENT LIST `flags`).
package enum ClientFlags {
    package static let blocked = 1
    package static let subscribed = 2
    package static let inTransaction = 4

    /// Redis's letters: `b` blocked, `P` pub/sub, `x` MULTI; `N` when none.
    package static func letters(_ bits: Int) -> String {
        var text = ""
        if bits & Self.blocked != 0 { text += "b" }
        if bits & Self.subscribed != 0 { text += "P" }
        if bits & Self.inTransaction != 0 { text += "x" }
        return text.isEmpty ? "N" : text
    }
}

extension ClientInfo {
    /// Sets or clears one of the ``ClientFlags`` bits (from the client's own thread).
    package func setFlag(_ flag: Int, _ on: Bool) {
        let current = self.flags.load(ordering: .relaxed)
        self.flags.store(on ? current | flag : current & ~flag, ordering: .relaxed)
    }
}
