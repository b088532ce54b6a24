/// Redis 7.0's configuration keys that have no parameter of Wharf's own, with Redis's
/// defaults, value kinds, ranges and mutability (read off Redis 7.0.15's own CONFIG GET and
/// the errors of its CONFIG SET). They are all accepted, so tools that set them at start do
/// not fail; those of features Wharf does not have log a warning when set.
enum RedisParameters {
    static let all: [RedisParameter] = [
        RedisParameter(
            "acl-pubsub-default", "resetchannels", .choice(["allchannels", "resetchannels"]), mutable: true,
            honoured: false),
        RedisParameter("aclfile", "", .text, mutable: false, honoured: false),
        RedisParameter("acllog-max-len", "128", .integer(0, Int.max), mutable: true, honoured: false),
        RedisParameter("active-defrag-cycle-max", "25", .integer(1, 99), mutable: true, honoured: false),
        RedisParameter("active-defrag-cycle-min", "1", .integer(1, 99), mutable: true, honoured: false),
        RedisParameter("active-defrag-ignore-bytes", "104857600", .memory, mutable: true, honoured: false),
        RedisParameter("active-defrag-max-scan-fields", "1000", .integer(1, Int.max), mutable: true, honoured: false),
        RedisParameter("active-defrag-threshold-lower", "10", .integer(0, 1000), mutable: true, honoured: false),
        RedisParameter("active-defrag-threshold-upper", "100", .integer(0, 1000), mutable: true, honoured: false),
        RedisParameter("activedefrag", "no", .bool, mutable: true, honoured: false),
        RedisParameter("activerehashing", "yes", .bool, mutable: true, honoured: true),
        RedisParameter("always-show-logo", "no", .bool, mutable: false, honoured: false),
        RedisParameter("aof-disable-auto-gc", "no", .bool, mutable: true, honoured: false),
        RedisParameter("aof-load-truncated", "yes", .bool, mutable: true, honoured: false),
        RedisParameter("aof-rewrite-incremental-fsync", "yes", .bool, mutable: true, honoured: false),
        RedisParameter("aof-timestamp-enabled", "no", .bool, mutable: true, honoured: false),
        RedisParameter("aof-use-rdb-preamble", "yes", .bool, mutable: true, honoured: false),
        RedisParameter("aof_rewrite_cpulist", "", .text, mutable: false, honoured: false),
        RedisParameter("appenddirname", "appendonlydir", .text, mutable: false, honoured: false),
        RedisParameter("appendfilename", "appendonly.aof", .text, mutable: false, honoured: false),
        RedisParameter("bgsave_cpulist", "", .text, mutable: false, honoured: false),
        RedisParameter("bind-source-addr", "", .text, mutable: true, honoured: false),
        RedisParameter("bio_cpulist", "", .text, mutable: false, honoured: false),
        RedisParameter("busy-reply-threshold", "5000", .integer(0, Int.max), mutable: true, honoured: true),
        RedisParameter("cluster-allow-pubsubshard-when-down", "yes", .bool, mutable: true, honoured: false),
        RedisParameter("cluster-allow-reads-when-down", "no", .bool, mutable: true, honoured: false),
        RedisParameter("cluster-allow-replica-migration", "yes", .bool, mutable: true, honoured: false),
        RedisParameter("cluster-announce-bus-port", "0", .integer(0, 65535), mutable: true, honoured: false),
        RedisParameter("cluster-announce-hostname", "", .text, mutable: true, honoured: false),
        RedisParameter("cluster-announce-ip", "", .text, mutable: true, honoured: false),
        RedisParameter("cluster-announce-port", "0", .integer(0, 65535), mutable: true, honoured: false),
        RedisParameter("cluster-announce-tls-port", "0", .integer(0, 65535), mutable: true, honoured: false),
        RedisParameter("cluster-config-file", "nodes.conf", .text, mutable: false, honoured: false),
        RedisParameter("cluster-enabled", "no", .bool, mutable: false, honoured: false),
        RedisParameter("cluster-link-sendbuf-limit", "0", .memory, mutable: true, honoured: false),
        RedisParameter("cluster-migration-barrier", "1", .integer(0, 2_147_483_647), mutable: true, honoured: false),
        RedisParameter("cluster-node-timeout", "15000", .integer(0, Int.max), mutable: true, honoured: false),
        RedisParameter("cluster-port", "0", .integer(Int.min, Int.max), mutable: false, honoured: false),
        RedisParameter(
            "cluster-preferred-endpoint-type", "ip", .choice(["ip", "hostname", "unknown-endpoint"]), mutable: true,
            honoured: false),
        RedisParameter("cluster-replica-no-failover", "no", .bool, mutable: true, honoured: false),
        RedisParameter(
            "cluster-replica-validity-factor", "10", .integer(0, 2_147_483_647), mutable: true, honoured: false),
        RedisParameter("cluster-require-full-coverage", "yes", .bool, mutable: true, honoured: false),
        RedisParameter("cluster-slave-no-failover", "no", .bool, mutable: true, honoured: false),
        RedisParameter(
            "cluster-slave-validity-factor", "10", .integer(0, 2_147_483_647), mutable: true, honoured: false),
        RedisParameter("crash-log-enabled", "yes", .bool, mutable: true, honoured: false),
        RedisParameter("crash-memcheck-enabled", "yes", .bool, mutable: true, honoured: false),
        RedisParameter("daemonize", "no", .bool, mutable: false, honoured: false),
        RedisParameter("dbfilename", "dump.rdb", .text, mutable: false, honoured: true),
        RedisParameter("disable-thp", "yes", .bool, mutable: false, honoured: false),
        RedisParameter("dynamic-hz", "yes", .bool, mutable: true, honoured: true),
        RedisParameter("enable-debug-command", "no", .choice(["no", "yes", "local"]), mutable: false, honoured: true),
        RedisParameter("enable-module-command", "no", .choice(["no", "yes", "local"]), mutable: false, honoured: true),
        RedisParameter(
            "enable-protected-configs", "no", .choice(["no", "yes", "local"]), mutable: false, honoured: false),
        RedisParameter("ignore-warnings", "", .text, mutable: true, honoured: false),
        RedisParameter("io-threads", "1", .integer(Int.min, Int.max), mutable: false, honoured: false),
        RedisParameter("io-threads-do-reads", "no", .bool, mutable: false, honoured: false),
        RedisParameter("jemalloc-bg-thread", "yes", .bool, mutable: true, honoured: false),
        RedisParameter("latency-monitor-threshold", "0", .integer(0, Int.max), mutable: true, honoured: true),
        RedisParameter("latency-tracking", "yes", .bool, mutable: true, honoured: true),
        RedisParameter("latency-tracking-info-percentiles", "50 99 99.9", .percentiles, mutable: true, honoured: true),
        RedisParameter("lazyfree-lazy-eviction", "no", .bool, mutable: true, honoured: true),
        RedisParameter("lazyfree-lazy-expire", "no", .bool, mutable: true, honoured: true),
        RedisParameter("lazyfree-lazy-server-del", "no", .bool, mutable: true, honoured: true),
        RedisParameter("lazyfree-lazy-user-del", "no", .bool, mutable: true, honoured: true),
        RedisParameter("lazyfree-lazy-user-flush", "no", .bool, mutable: true, honoured: true),
        RedisParameter("list-compress-depth", "0", .integer(0, 2_147_483_647), mutable: true, honoured: false),
        RedisParameter("logfile", "", .text, mutable: false, honoured: false),
        RedisParameter("lua-time-limit", "5000", .integer(0, Int.max), mutable: true, honoured: true),
        RedisParameter("masterauth", "", .text, mutable: true, honoured: false),
        RedisParameter("masteruser", "", .text, mutable: true, honoured: false),
        RedisParameter("maxmemory", "0", .memory, mutable: true, honoured: false),
        RedisParameter("maxmemory-clients", "0", .text, mutable: true, honoured: false),
        RedisParameter("maxmemory-eviction-tenacity", "10", .integer(0, 100), mutable: true, honoured: false),
        RedisParameter("maxmemory-samples", "5", .integer(1, 2_147_483_647), mutable: true, honoured: false),
        RedisParameter("min-replicas-max-lag", "10", .integer(0, 2_147_483_647), mutable: true, honoured: false),
        RedisParameter("min-replicas-to-write", "0", .integer(0, 2_147_483_647), mutable: true, honoured: false),
        RedisParameter("min-slaves-max-lag", "10", .integer(0, 2_147_483_647), mutable: true, honoured: false),
        RedisParameter("min-slaves-to-write", "0", .integer(0, 2_147_483_647), mutable: true, honoured: false),
        RedisParameter("no-appendfsync-on-rewrite", "no", .bool, mutable: true, honoured: false),
        RedisParameter(
            "oom-score-adj", "no", .choice(["no", "yes", "relative", "absolute"]), mutable: true, honoured: false),
        RedisParameter("oom-score-adj-values", "0 200 800", .text, mutable: true, honoured: false),
        RedisParameter("pidfile", "", .text, mutable: false, honoured: false),
        RedisParameter(
            "proc-title-template", "{title} {listen-addr} {server-mode}", .text, mutable: true, honoured: false),
        RedisParameter(
            "propagation-error-behavior", "ignore", .choice(["ignore", "panic", "panic-on-replicas"]), mutable: true,
            honoured: false),
        RedisParameter("protected-mode", "yes", .bool, mutable: true, honoured: true),
        RedisParameter("rdb-del-sync-files", "no", .bool, mutable: true, honoured: false),
        RedisParameter("rdb-save-incremental-fsync", "yes", .bool, mutable: true, honoured: false),
        RedisParameter("rdbchecksum", "yes", .bool, mutable: false, honoured: true),
        RedisParameter("rdbcompression", "yes", .bool, mutable: true, honoured: true),
        RedisParameter("repl-backlog-size", "1048576", .memory, mutable: true, honoured: false),
        RedisParameter("repl-backlog-ttl", "3600", .integer(0, Int.max), mutable: true, honoured: false),
        RedisParameter("repl-disable-tcp-nodelay", "no", .bool, mutable: true, honoured: false),
        RedisParameter(
            "repl-diskless-load", "disabled", .choice(["disabled", "on-empty-db", "swapdb"]), mutable: true,
            honoured: false),
        RedisParameter("repl-diskless-sync", "yes", .bool, mutable: true, honoured: false),
        RedisParameter("repl-diskless-sync-delay", "5", .integer(0, 2_147_483_647), mutable: true, honoured: false),
        RedisParameter(
            "repl-diskless-sync-max-replicas", "0", .integer(0, 2_147_483_647), mutable: true, honoured: false),
        RedisParameter("repl-ping-replica-period", "10", .integer(1, 2_147_483_647), mutable: true, honoured: false),
        RedisParameter("repl-ping-slave-period", "10", .integer(1, 2_147_483_647), mutable: true, honoured: false),
        RedisParameter("repl-timeout", "60", .integer(1, 2_147_483_647), mutable: true, honoured: false),
        RedisParameter("replica-announce-ip", "", .text, mutable: true, honoured: false),
        RedisParameter("replica-announce-port", "0", .integer(0, 65535), mutable: true, honoured: false),
        RedisParameter("replica-announced", "yes", .bool, mutable: true, honoured: false),
        RedisParameter("replica-ignore-disk-write-errors", "no", .bool, mutable: true, honoured: false),
        RedisParameter("replica-ignore-maxmemory", "yes", .bool, mutable: true, honoured: false),
        RedisParameter("replica-lazy-flush", "no", .bool, mutable: true, honoured: false),
        RedisParameter("replica-priority", "100", .integer(0, 2_147_483_647), mutable: true, honoured: false),
        RedisParameter("replica-read-only", "yes", .bool, mutable: true, honoured: false),
        RedisParameter("replica-serve-stale-data", "yes", .bool, mutable: true, honoured: false),
        RedisParameter("replicaof", "", .text, mutable: false, honoured: false),
        RedisParameter(
            "sanitize-dump-payload", "no", .choice(["no", "yes", "clients"]), mutable: true, honoured: true),
        RedisParameter("server_cpulist", "", .text, mutable: false, honoured: false),
        RedisParameter("set-proc-title", "yes", .bool, mutable: false, honoured: false),
        RedisParameter(
            "shutdown-on-sigint", "default", .choices(["default", "save", "nosave", "now", "force"]), mutable: true,
            honoured: false),
        RedisParameter(
            "shutdown-on-sigterm", "default", .choices(["default", "save", "nosave", "now", "force"]), mutable: true,
            honoured: false),
        RedisParameter("shutdown-timeout", "10", .integer(0, 2_147_483_647), mutable: true, honoured: true),
        RedisParameter("slave-announce-ip", "", .text, mutable: true, honoured: false),
        RedisParameter("slave-announce-port", "0", .integer(0, 65535), mutable: true, honoured: false),
        RedisParameter("slave-ignore-maxmemory", "yes", .bool, mutable: true, honoured: false),
        RedisParameter("slave-lazy-flush", "no", .bool, mutable: true, honoured: false),
        RedisParameter("slave-priority", "100", .integer(0, 2_147_483_647), mutable: true, honoured: false),
        RedisParameter("slave-read-only", "yes", .bool, mutable: true, honoured: false),
        RedisParameter("slave-serve-stale-data", "yes", .bool, mutable: true, honoured: false),
        RedisParameter("slaveof", "", .text, mutable: false, honoured: false),
        RedisParameter("slowlog-log-slower-than", "10000", .integer(-1, Int.max), mutable: true, honoured: true),
        RedisParameter("slowlog-max-len", "128", .integer(0, Int.max), mutable: true, honoured: true),
        RedisParameter("socket-mark-id", "0", .integer(Int.min, Int.max), mutable: false, honoured: false),
        RedisParameter("stop-writes-on-bgsave-error", "yes", .bool, mutable: true, honoured: true),
        RedisParameter("supervised", "no", .bool, mutable: false, honoured: false),
        RedisParameter("syslog-enabled", "no", .bool, mutable: false, honoured: false),
        RedisParameter("syslog-facility", "local0", .text, mutable: false, honoured: false),
        RedisParameter("syslog-ident", "redis", .text, mutable: false, honoured: false),
        RedisParameter("tcp-backlog", "511", .integer(Int.min, Int.max), mutable: false, honoured: false),
        RedisParameter("tls-auth-clients", "yes", .choice(["no", "yes", "optional"]), mutable: true, honoured: false),
        RedisParameter("tls-ca-cert-dir", "", .text, mutable: true, honoured: false),
        RedisParameter("tls-ca-cert-file", "", .text, mutable: true, honoured: false),
        RedisParameter("tls-cert-file", "", .text, mutable: true, honoured: false),
        RedisParameter("tls-ciphers", "", .text, mutable: true, honoured: false),
        RedisParameter("tls-ciphersuites", "", .text, mutable: true, honoured: false),
        RedisParameter("tls-client-cert-file", "", .text, mutable: true, honoured: false),
        RedisParameter("tls-client-key-file", "", .text, mutable: true, honoured: false),
        RedisParameter("tls-client-key-file-pass", "", .text, mutable: true, honoured: false),
        RedisParameter("tls-cluster", "no", .bool, mutable: true, honoured: false),
        RedisParameter("tls-dh-params-file", "", .text, mutable: true, honoured: false),
        RedisParameter("tls-key-file", "", .text, mutable: true, honoured: false),
        RedisParameter("tls-key-file-pass", "", .text, mutable: true, honoured: false),
        RedisParameter("tls-port", "0", .integer(0, 65535), mutable: true, honoured: false),
        RedisParameter("tls-prefer-server-ciphers", "no", .bool, mutable: true, honoured: false),
        RedisParameter("tls-protocols", "", .text, mutable: true, honoured: false),
        RedisParameter("tls-replication", "no", .bool, mutable: true, honoured: false),
        RedisParameter("tls-session-cache-size", "20480", .integer(0, 2_147_483_647), mutable: true, honoured: false),
        RedisParameter("tls-session-cache-timeout", "300", .integer(0, 2_147_483_647), mutable: true, honoured: false),
        RedisParameter("tls-session-caching", "yes", .bool, mutable: true, honoured: false),
        RedisParameter("tracking-table-max-keys", "1000000", .integer(0, Int.max), mutable: true, honoured: false),
        RedisParameter("unixsocket", "", .text, mutable: false, honoured: false),
        RedisParameter("unixsocketperm", "0", .integer(Int.min, Int.max), mutable: false, honoured: false),
    ]
}

/// One Redis configuration key Wharf accepts.
struct RedisParameter: Sendable {
    enum Kind: Sendable {
        case bool
        case integer(Int, Int)
        case memory
        /// One of the words.
        case choice([String])
        /// One or more of the words, separated by spaces.
        case choices([String])
        /// Percentiles between 0 and 100, separated by spaces.
        case percentiles
        case text
    }

    let name: String
    let defaultValue: String
    let kind: Kind
    let isMutable: Bool
    /// Whether Wharf does what the key asks (otherwise setting it logs a warning).
    let isHonoured: Bool

    init(_ name: String, _ defaultValue: String, _ kind: Kind, mutable: Bool, honoured: Bool) {
        self.name = name
        self.defaultValue = defaultValue
        self.kind = kind
        self.isMutable = mutable
        self.isHonoured = honoured
    }

    /// The value as it will be stored, or an error saying what is allowed (Redis's words).
    func validate(_ value: String) throws(ConfigError) -> String {
        switch self.kind {
        case .bool:
            let lowered = value.lowercased()
            guard lowered == "yes" || lowered == "no" else {
                throw ConfigError(key: self.name, "argument must be 'yes' or 'no'")
            }
            return lowered
        case .integer(let minimum, let maximum):
            guard let number = Int(value) else {
                throw ConfigError(key: self.name, "argument couldn't be parsed into an integer")
            }
            guard number >= minimum && number <= maximum else {
                throw ConfigError(key: self.name, "argument must be between \(minimum) and \(maximum) inclusive")
            }
            return String(number)
        case .memory:
            guard let bytes = ConfigRegistry.parseMemory(value) else {
                throw ConfigError(key: self.name, "argument must be a memory value")
            }
            return String(bytes)
        case .choice(let words):
            let lowered = value.lowercased()
            guard words.contains(lowered) else {
                throw ConfigError(
                    key: self.name, "argument(s) must be one of the following: \(words.joined(separator: ", "))")
            }
            return lowered
        case .choices(let words):
            let given = value.lowercased().split(separator: " ").map(String.init)
            guard !given.isEmpty, given.allSatisfy(words.contains) else {
                throw ConfigError(
                    key: self.name, "argument(s) must be one of the following: \(words.joined(separator: ", "))")
            }
            return given.joined(separator: " ")
        case .percentiles:
            let given = value.split(separator: " ").map(String.init)
            for word in given {
                guard let percentile = Double(word), percentile >= 0, percentile <= 100 else {
                    throw ConfigError(
                        key: self.name, "latency-tracking-info-percentiles parameters should sit between [0.0,100.0]")
                }
            }
            return given.joined(separator: " ")
        case .text:
            return value
        }
    }
}
