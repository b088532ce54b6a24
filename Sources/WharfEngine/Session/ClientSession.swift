import Atomics
import NIOCore
import Synchronization
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
    // Exclusivity checks are off for the session's state: it is used from its connection's
    // thread only (see the class comment), on every command.
    @exclusivity(unchecked) public var database: Int = 0 {
        didSet {
            self.info.database.store(self.database, ordering: .relaxed)
            self.currentDatabase = self.keyspace.databases[self.database]
        }
    }
    /// The selected database's object, kept so commands reach it without indexing (and
    /// without reference counting: the keyspace owns every database for the engine's life).
    @exclusivity(unchecked) package private(set) unowned(unsafe) var currentDatabase: Database
    private let keyspace: Keyspace
    @exclusivity(unchecked) public var protocolVersion: RESPVersion = .resp2 {
        didSet { self.info.protocolVersion.store(self.protocolVersion.rawValue, ordering: .relaxed) }
    }
    @exclusivity(unchecked) public var isAuthenticated: Bool
    /// Set by QUIT and a successful SHUTDOWN: the connection closes once the reply is sent.
    @exclusivity(unchecked) public var closeAfterReply = false
    /// Where other threads deliver to this client: pub/sub messages and the replies of its
    /// blocking commands. Nil for a caller without a connection: blocking commands then
    /// answer as if they timed out, and subscribing is refused.
    @exclusivity(unchecked) package var mailbox: ClientMailbox?
    /// Channels, patterns and shard channels this client subscribes to.
    @exclusivity(unchecked) package var subscriptions = ClientSubscriptions()
    /// The commands queued since MULTI (nil: not in a transaction).
    @exclusivity(unchecked) package var transaction: QueuedTransaction?
    /// Keys WATCHed for the next EXEC.
    @exclusivity(unchecked) package var watched: [WatchedKey] = []
    /// In MONITOR mode: receives every command, may not touch the keyspace.
    @exclusivity(unchecked) package var isMonitor = false
    /// CLIENT REPLY: whether replies are sent, suppressed, or suppressed once.
    @exclusivity(unchecked) package var replyMode = ReplyMode.on

    package enum ReplyMode {
        case on, off
        /// Set by CLIENT REPLY SKIP: its own reply and the next command's are dropped.
        case skipNext
        /// The command about to run has its reply dropped.
        case skipThis
    }
    /// Counters this connection adds to; one slab per thread.
    package unowned(unsafe) let stats: StatsSlab
    /// Keeps the slab alive; ``stats`` is the unretained view commands use.
    private let statsOwner: StatsSlab

    public var id: Int64 { self.info.id }

    /// Database `index` of the keyspace this session belongs to.
    package func keyspaceDatabase(_ index: Int) -> Database {
        self.keyspace.databases[index]
    }

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

/// A client's pub/sub subscriptions (its own view; the hub keeps the reverse index).
package struct ClientSubscriptions {
    package var channels = Set<[UInt8]>()
    package var patterns = Set<[UInt8]>()
    package var shardChannels = Set<[UInt8]>()

    subscript(kind: SubscriptionKind) -> Set<[UInt8]> {
        get {
            switch kind {
            case .channel: return self.channels
            case .pattern: return self.patterns
            case .shardChannel: return self.shardChannels
            }
        }
        set {
            switch kind {
            case .channel: self.channels = newValue
            case .pattern: self.patterns = newValue
            case .shardChannel: self.shardChannels = newValue
            }
        }
    }

    /// Channels and patterns, the count SUBSCRIBE replies carry (shard channels count apart).
    package var count: Int { self.channels.count + self.patterns.count }

    /// Whether the client is in subscribed mode (RESP2 then limits its commands).
    package var isActive: Bool { !self.channels.isEmpty || !self.patterns.isEmpty || !self.shardChannels.isEmpty }
}
