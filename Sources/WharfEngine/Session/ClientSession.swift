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
    public var database: Int = 0 {
        didSet { self.info.database.store(self.database, ordering: .relaxed) }
    }
    public var protocolVersion: RESPVersion = .resp2 {
        didSet { self.info.protocolVersion.store(self.protocolVersion.rawValue, ordering: .relaxed) }
    }
    public var isAuthenticated: Bool
    /// Set by QUIT and a successful SHUTDOWN: the connection closes once the reply is sent.
    public var closeAfterReply = false
    /// Counters this connection adds to; one slab per thread.
    package let stats: StatsSlab

    public var id: Int64 { self.info.id }

    package init(info: ClientInfo, isAuthenticated: Bool, stats: StatsSlab) {
        self.info = info
        self.isAuthenticated = isAuthenticated
        self.stats = stats
    }
}
