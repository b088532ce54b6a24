/// How to reach a Redis Cluster.
///
/// ```swift
/// var configuration = WharfClientConfiguration()
/// configuration.cluster = ClusterConfiguration(seeds: [ServerAddress(host: "10.0.0.1", port: 7000)])
/// let client = WharfClient(configuration: configuration)
/// ```
public struct ClusterConfiguration: Sendable, Hashable {
    /// Nodes to ask for the slot map; any one that answers is enough.
    public var seeds: [ServerAddress]
    /// Redirections (`MOVED`, `ASK`, `TRYAGAIN`) followed for one command before
    /// ``WharfClientError/Code/redirectLoop``.
    public var maximumRedirects: Int

    public init(seeds: [ServerAddress], maximumRedirects: Int = 8) {
        self.seeds = seeds
        self.maximumRedirects = maximumRedirects
    }
}
