/// Everything a ``WharfClient`` needs: where the server is, how to greet it, and how the
/// pool behaves.
///
/// ```swift
/// var configuration = try WharfClientConfiguration(url: "redis://app:secret@127.0.0.1:6379/2")
/// configuration.maximumConnections = 32
/// configuration.commandTimeout = .seconds(2)
/// ```
public struct WharfClientConfiguration: Sendable {
    /// Host, port, credentials, protocol and limits of each connection.
    public var connection: WharfConnection.Configuration
    /// Connections that carry pipelined commands, opened on first use and kept.
    public var minimumConnections: Int
    /// All connections together, including those lent out for blocking commands,
    /// transactions and subscriptions.
    public var maximumConnections: Int
    /// How long a caller waits for a connection to be lent before ``WharfClientError/Code/poolExhausted``.
    public var leaseTimeout: Duration
    /// Callers allowed to wait for a connection at once; more fail at once with ``WharfClientError/Code/poolExhausted``.
    public var maximumWaiters: Int
    /// Applied to every command that does not give its own; nil waits as long as it takes.
    public var commandTimeout: Duration?
    /// A lent connection unused for this long is checked with PING before it is handed out.
    public var healthCheckAfterIdle: Duration
    /// Waits between attempts to (re)connect.
    public var reconnect: Backoff
    /// Metrics and tracing of commands (off by default).
    public var instrumentation = WharfClientInstrumentation()
    /// Find the primary through Redis Sentinel instead of `connection`'s host and port
    /// (which still give the credentials, database and limits).
    public var sentinel: SentinelConfiguration?
    /// Route commands across a Redis Cluster found from these seeds instead of using
    /// `connection`'s host and port (which still give the credentials and limits).
    public var cluster: ClusterConfiguration?
    /// True for `rediss://`: the connection needs TLS, which
    /// ``WharfConnection/Configuration/channelInitializer`` must set up.
    public var requiresTLS: Bool

    public init(
        connection: WharfConnection.Configuration = .init(), minimumConnections: Int = 1,
        maximumConnections: Int = 16, leaseTimeout: Duration = .seconds(5), maximumWaiters: Int = 1024,
        commandTimeout: Duration? = nil, healthCheckAfterIdle: Duration = .seconds(30), reconnect: Backoff = .init()
    ) {
        self.connection = connection
        self.minimumConnections = minimumConnections
        self.maximumConnections = maximumConnections
        self.leaseTimeout = leaseTimeout
        self.maximumWaiters = maximumWaiters
        self.commandTimeout = commandTimeout
        self.healthCheckAfterIdle = healthCheckAfterIdle
        self.reconnect = reconnect
        self.requiresTLS = false
    }

    /// Reads `redis://[user[:password]@]host[:port][/database][?protocol=2|3&name=NAME]`.
    /// `wharf://` is the same; `rediss://` asks for TLS.
    public init(url: String) throws(WharfClientError) {
        self.init()
        func invalid(_ why: String) -> WharfClientError {
            WharfClientError(.invalidConfiguration, "invalid URL '\(url)': \(why)")
        }
        guard let schemeEnd = url.firstRange(of: "://") else {
            throw invalid("no scheme (redis://, rediss://, wharf://)")
        }
        switch url[..<schemeEnd.lowerBound].lowercased() {
        case "redis", "wharf": break
        case "rediss": self.requiresTLS = true
        case let other: throw invalid("unknown scheme '\(other)'")
        }
        var rest = url[schemeEnd.upperBound...]
        var query: Substring = ""
        if let mark = rest.firstIndex(of: "?") {
            query = rest[rest.index(after: mark)...]
            rest = rest[..<mark]
        }
        var path: Substring = ""
        if let slash = rest.firstIndex(of: "/") {
            path = rest[rest.index(after: slash)...]
            rest = rest[..<slash]
        }
        if let at = rest.lastIndex(of: "@") {
            let credentials = rest[..<at]
            rest = rest[rest.index(after: at)...]
            if let colon = credentials.firstIndex(of: ":") {
                let user = try Self.percentDecoded(credentials[..<colon], url: url)
                self.connection.username = user.isEmpty ? nil : user
                self.connection.password = try Self.percentDecoded(
                    credentials[credentials.index(after: colon)...], url: url)
            } else if !credentials.isEmpty {
                // `redis://secret@host`: a lone credential is the password, as redis-cli reads it.
                self.connection.password = try Self.percentDecoded(credentials, url: url)
            }
        }
        if rest.hasPrefix("[") {  // [IPv6]:port
            guard let close = rest.firstIndex(of: "]") else { throw invalid("unclosed '[' in host") }
            self.connection.host = String(rest[rest.index(after: rest.startIndex)..<close])
            rest = rest[rest.index(after: close)...]
            if rest.hasPrefix(":") {
                guard let port = Int(rest.dropFirst()), (1...65535).contains(port) else { throw invalid("bad port") }
                self.connection.port = port
            }
        } else if let colon = rest.lastIndex(of: ":") {
            guard let port = Int(rest[rest.index(after: colon)...]), (1...65535).contains(port) else {
                throw invalid("bad port")
            }
            self.connection.port = port
            self.connection.host = String(rest[..<colon])
        } else if !rest.isEmpty {
            self.connection.host = String(rest)
        }
        if !path.isEmpty {
            guard let database = Int(path), database >= 0 else { throw invalid("database '\(path)' is not a number") }
            self.connection.database = database
        }
        for pair in query.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1)
            let value = parts.count > 1 ? try Self.percentDecoded(parts[1], url: url) : ""
            switch parts[0] {
            case "protocol":
                guard value == "2" || value == "3" else { throw invalid("protocol must be 2 or 3") }
                self.connection.protocolVersion = Int(value)!
            case "name", "client_name": self.connection.clientName = value
            default: throw invalid("unknown option '\(parts[0])'")
            }
        }
    }

    private static func percentDecoded(_ text: Substring, url: String) throws(WharfClientError) -> String {
        var bytes: [UInt8] = []
        var iterator = text.utf8.makeIterator()
        while let byte = iterator.next() {
            guard byte == UInt8(ascii: "%") else {
                bytes.append(byte)
                continue
            }
            guard let high = iterator.next().flatMap(Self.hexValue), let low = iterator.next().flatMap(Self.hexValue)
            else { throw WharfClientError(.invalidConfiguration, "invalid URL '\(url)': bad percent escape") }
            bytes.append(high << 4 | low)
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}
