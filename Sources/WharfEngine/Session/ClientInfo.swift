import NIOCore
package import Atomics
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

    package let lastInteraction: ManagedAtomic<Int64>
    package let lastCommand = ManagedAtomic<Int>(-1)
    package let database = ManagedAtomic<Int>(0)
    package let protocolVersion = ManagedAtomic<Int>(2)
    package let queryBufferBytes = ManagedAtomic<Int>(0)
    package let outputBufferBytes = ManagedAtomic<Int>(0)
    package let killed = ManagedAtomic<Bool>(false)
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
        self.lastInteraction = ManagedAtomic(createdAt)
        self.closer = Mutex(close)
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

    /// Asks the connection to close (CLIENT KILL, SHUTDOWN). Safe from any thread.
    public func kill() {
        self.killed.store(true, ordering: .relaxed)
        let close = self.closer.withLock { $0 }
        close?()
    }
}
