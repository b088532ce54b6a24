import NIOCore
import Synchronization
import Atomics
public import WharfProtocol

/// The state of one client connection that commands read and change: selected database,
/// protocol version, authentication, and the request to close after replying.
///
/// Owned by the connection and used from its thread only; what other clients may see is
/// mirrored into ``info``.
public final class ClientSession {
    public let info: ClientInfo
    /// ``info`` without reference counting, for per-command updates.
    package unowned(unsafe) let infoFast: ClientInfo
    public var database: Int = 0 {
        didSet {
            self.info.database.store(self.database, ordering: .relaxed)
            self.currentDatabase = self.keyspace.databases[self.database]
        }
    }
    /// The selected database's object, kept so commands reach it without indexing (and
    /// without reference counting: the keyspace owns every database for the engine's life).
    package private(set) unowned(unsafe) var currentDatabase: Database
    private let keyspace: Keyspace
    public var protocolVersion: RESPVersion = .resp2 {
        didSet { self.info.protocolVersion.store(self.protocolVersion.rawValue, ordering: .relaxed) }
    }
    public var isAuthenticated: Bool
    /// Set by QUIT and a successful SHUTDOWN: the connection closes once the reply is sent.
    public var closeAfterReply = false
    /// Counters this connection adds to; one slab per thread.
    package unowned(unsafe) let stats: StatsSlab
    /// Keeps the slab alive; ``stats`` is the unretained view commands use.
    private let statsOwner: StatsSlab

    public var id: Int64 { self.info.id }

    package init(info: ClientInfo, isAuthenticated: Bool, stats: StatsSlab, keyspace: Keyspace) {
        self.info = info
        self.infoFast = info
        self.isAuthenticated = isAuthenticated
        self.stats = stats
        self.statsOwner = stats
        self.keyspace = keyspace
        self.currentDatabase = keyspace.databases[0]
    }
}
