public import WharfClient

/// Where a ``Wharf`` handle keeps its data. Containers behave the same on every backend;
/// switching is a change of this one value.
///
/// ```swift
/// let tests = try await Wharf.open(.embedded(inMemory: true))
/// let local = try await Wharf.open(.embedded(directory: "./wharf-data"))
/// let shared = try await Wharf.open(.redis("redis://cache.internal:6379"))
/// ```
public struct WharfBackend: Sendable {
    enum Kind: Sendable {
        case embedded(directory: String?, fsync: Durability)
        case client(WharfClientConfiguration, name: String)
    }
    let kind: Kind

    /// How often the embedded engine's log is synced to disk, as `appendfsync` on the server.
    public enum Durability: String, Sendable {
        /// Each write returns once its log record is on disk (group commit across tasks).
        case always
        /// Records are written at once and synced every second (the server's default).
        case everysec
        /// Records are written at once; the operating system syncs them.
        case no
    }

    /// The engine in this process, durable in `directory` (created if missing) with the
    /// server's storage: write-ahead log, snapshots, crash recovery.
    public static func embedded(directory: String, durability: Durability = .everysec) -> WharfBackend {
        WharfBackend(kind: .embedded(directory: directory, fsync: durability))
    }

    /// The engine in this process. `inMemory: true` keeps nothing on disk (for tests);
    /// `false` uses a fresh temporary directory, removed when the handle closes.
    public static func embedded(inMemory: Bool) -> WharfBackend {
        WharfBackend(kind: .embedded(directory: inMemory ? nil : "", fsync: .everysec))
    }

    /// A `wharf serve` at `url` (`wharf://host:port` or `redis://…`).
    public static func server(_ url: String) throws -> WharfBackend {
        try .client(url: url, name: "wharf")
    }

    /// A Redis or Valkey server at `url` (`redis://[user:password@]host:port[/db]`, `rediss://`).
    public static func redis(_ url: String) throws -> WharfBackend {
        try .client(url: url, name: "redis")
    }

    /// Redis behind Sentinel: the sentinels (`host:port`) are asked for `primaryName`'s
    /// current primary, and again after a failover.
    public static func redisSentinel(sentinels: [String], primaryName: String) throws -> WharfBackend {
        var configuration = WharfClientConfiguration()
        configuration.sentinel = SentinelConfiguration(
            sentinels: try sentinels.map(Self.address), primaryName: primaryName)
        return WharfBackend(kind: .client(configuration, name: "redis-sentinel"))
    }

    /// A Redis Cluster reached through any of `seeds` (`host:port`); commands go to the node
    /// that owns their key's slot, and each container keeps its keys in one slot.
    public static func redisCluster(seeds: [String]) throws -> WharfBackend {
        var configuration = WharfClientConfiguration()
        configuration.cluster = ClusterConfiguration(seeds: try seeds.map(Self.address))
        return WharfBackend(kind: .client(configuration, name: "redis-cluster"))
    }

    /// Any backend the client can reach, configured in full (pool size, timeouts, TLS …).
    public static func client(_ configuration: WharfClientConfiguration, name: String = "redis") -> WharfBackend {
        WharfBackend(kind: .client(configuration, name: name))
    }

    private static func client(url: String, name: String) throws -> WharfBackend {
        do {
            return WharfBackend(kind: .client(try WharfClientConfiguration(url: url), name: name))
        } catch {
            throw WharfError(.invalidConfiguration, "\(url): \(error.message)")
        }
    }

    private static func address(_ text: String) throws -> ServerAddress {
        let parts = text.split(separator: ":")
        guard parts.count == 2, let port = Int(parts[1]), (1...65535).contains(port) else {
            throw WharfError(.invalidConfiguration, "'\(text)' is not a host:port address")
        }
        return ServerAddress(host: String(parts[0]), port: port)
    }

    /// The backend's name in metrics, traces and health (`embedded`, `wharf`, `redis` …).
    var name: String {
        switch self.kind {
        case .embedded: return "embedded"
        case .client(_, let name): return name
        }
    }
}
