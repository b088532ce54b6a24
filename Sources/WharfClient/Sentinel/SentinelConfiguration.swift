/// A server's address.
public struct ServerAddress: Sendable, Hashable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    public var description: String { "\(self.host):\(self.port)" }
}

/// How to find a primary through Redis Sentinel.
///
/// ```swift
/// var configuration = WharfClientConfiguration()
/// configuration.sentinel = SentinelConfiguration(
///     sentinels: [ServerAddress(host: "10.0.0.1", port: 26379), ServerAddress(host: "10.0.0.2", port: 26379)],
///     primaryName: "mymaster")
/// let client = WharfClient(configuration: configuration)
/// ```
public struct SentinelConfiguration: Sendable, Hashable {
    /// Sentinels to ask, in turn, until one answers.
    public var sentinels: [ServerAddress]
    /// The name the sentinels monitor the primary under (`sentinel monitor NAME …`).
    public var primaryName: String
    /// Credentials for the sentinels themselves, when they require them.
    public var sentinelUsername: String?
    public var sentinelPassword: String?
    /// Send read-only commands (GET, LRANGE, XRANGE …) to a healthy replica, which may lag
    /// the primary; everything else, and any read no replica can take, goes to the primary.
    public var readFromReplicas: Bool

    public init(
        sentinels: [ServerAddress], primaryName: String, sentinelUsername: String? = nil,
        sentinelPassword: String? = nil, readFromReplicas: Bool = false
    ) {
        self.sentinels = sentinels
        self.primaryName = primaryName
        self.sentinelUsername = sentinelUsername
        self.sentinelPassword = sentinelPassword
        self.readFromReplicas = readFromReplicas
    }
}
