import NIOCore
import Synchronization
import WharfProtocol

/// Sends read-only commands to a replica the sentinels list, when
/// ``SentinelConfiguration/readFromReplicas`` is set. The replica is picked at random among
/// the healthy ones and kept until a connection to it fails; a read that cannot reach a
/// replica goes to the primary instead.
final class ReplicaReads: Sendable {
    private let resolver: SentinelResolver
    private let configuration: WharfClientConfiguration
    private let eventLoopGroup: any EventLoopGroup
    private let current = Mutex<ConnectionPool?>(nil)

    init(resolver: SentinelResolver, configuration: WharfClientConfiguration, eventLoopGroup: any EventLoopGroup) {
        self.resolver = resolver
        self.configuration = configuration
        self.eventLoopGroup = eventLoopGroup
    }

    /// Whether `command` only reads, so a replica may answer it.
    static func isReadOnly(_ command: RESPCommand) -> Bool {
        Self.readOnly.contains(command.name.uppercased())
    }

    private static let readOnly: Set<String> = [
        "GET", "MGET", "GETRANGE", "STRLEN", "EXISTS", "TTL", "PTTL", "EXPIRETIME", "PEXPIRETIME", "TYPE", "DUMP",
        "LRANGE", "LLEN", "LINDEX", "LPOS", "HGET", "HMGET", "HGETALL", "HKEYS", "HVALS", "HLEN", "HEXISTS", "HSTRLEN",
        "HRANDFIELD", "SMEMBERS", "SISMEMBER", "SMISMEMBER", "SCARD", "SRANDMEMBER", "SINTER", "SUNION", "SDIFF",
        "SINTERCARD", "ZRANGE", "ZRANGEBYSCORE", "ZRANGEBYLEX", "ZREVRANGE", "ZREVRANGEBYSCORE", "ZREVRANGEBYLEX",
        "ZSCORE", "ZMSCORE", "ZCARD", "ZCOUNT", "ZLEXCOUNT", "ZRANK", "ZREVRANK", "ZRANDMEMBER", "ZINTERCARD",
        "XRANGE", "XREVRANGE", "XLEN", "XINFO", "GETBIT", "BITCOUNT", "BITPOS", "PFCOUNT", "GEOPOS", "GEODIST",
        "GEOHASH", "GEOSEARCH", "SCAN", "HSCAN", "SSCAN", "ZSCAN", "DBSIZE", "RANDOMKEY", "SORT_RO", "BITFIELD_RO",
        "LCS", "OBJECT", "MEMORY",
    ]

    /// Runs `command` on a replica; nil when no replica could be reached (the caller then
    /// asks the primary).
    func send(_ command: RESPCommand, timeout: Duration?) async throws -> RESPValue? {
        for _ in 0..<2 {
            guard let pool = await self.pool() else { return nil }
            do {
                let connection = try await pool.sharedConnection()
                return try await connection.sendRaw(command, timeout: timeout)
            } catch let error as WharfClientError
                where error.code == .connectFailed || (error.code == .connectionLost && !error.mayHaveBeenApplied)
            {
                self.drop(pool)
            }
        }
        return nil
    }

    private func pool() async -> ConnectionPool? {
        if let pool = self.current.withLock({ $0 }) { return pool }
        guard let replicas = try? await self.resolver.replicaAddresses(), let address = replicas.randomElement() else {
            return nil
        }
        var configuration = self.configuration
        configuration.sentinel = nil
        configuration.connection.host = address.host
        configuration.connection.port = address.port
        configuration.reconnect.maximumAttempts = 1
        let pool = ConnectionPool(configuration: configuration, eventLoopGroup: self.eventLoopGroup)
        return self.current.withLock { current in
            if let existing = current {
                pool.close()
                return existing
            }
            current = pool
            return pool
        }
    }

    private func drop(_ pool: ConnectionPool) {
        self.current.withLock { current in
            if current === pool { current = nil }
        }
        pool.close()
    }

    func close() {
        self.current.withLock { current in
            current?.close()
            current = nil
        }
    }
}
