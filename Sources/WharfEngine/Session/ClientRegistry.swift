package import Atomics
import NIOCore
import Synchronization

/// Every connected client, for CLIENT LIST/KILL and INFO clients.
///
/// Connections register when accepted and unregister when closed; the lock is taken only
/// then and by the commands that list clients, never per command.
public final class ClientRegistry: Sendable {
    private let clients = Mutex<[Int64: ClientInfo]>([:])
    private let nextID = ManagedAtomic<Int64>(1)
    package let totalConnections = ManagedAtomic<Int>(0)
    package let rejectedConnections = ManagedAtomic<Int>(0)

    public init() {}

    /// A fresh client ID (IDs are never reused).
    public func makeID() -> Int64 {
        self.nextID.loadThenWrappingIncrement(ordering: .relaxed)
    }

    /// Adds a client unless `limit` clients are connected already.
    ///
    /// - Returns: false when the client was refused because of the limit.
    public func register(_ client: ClientInfo, limit: Int) -> Bool {
        let added = self.clients.withLock { clients in
            if clients.count >= limit { return false }
            clients[client.id] = client
            return true
        }
        if added {
            self.totalConnections.wrappingIncrement(ordering: .relaxed)
        } else {
            self.rejectedConnections.wrappingIncrement(ordering: .relaxed)
        }
        return added
    }

    public func unregister(id: Int64) {
        _ = self.clients.withLock { $0.removeValue(forKey: id) }
    }

    /// Connected clients. A killed client counts as gone at once, as in Redis, although its
    /// socket closes a moment later on its own loop.
    public var count: Int { self.clients.withLock { $0.values.reduce(0) { $0 + ($1.isKilled ? 0 : 1) } } }

    /// All clients not killed, ordered by ID.
    public func all() -> [ClientInfo] {
        self.clients.withLock { Array($0.values) }.filter { !$0.isKilled }.sorted { $0.id < $1.id }
    }

    public func client(id: Int64) -> ClientInfo? {
        self.clients.withLock { $0[id] }
    }
}
