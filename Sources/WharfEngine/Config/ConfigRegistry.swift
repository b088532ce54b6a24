import Atomics
import NIOCore
import Synchronization

/// One configuration parameter: its Redis name, how to read it and how to change it.
package struct ConfigParameter: Sendable {
    package let name: String
    package let isMutable: Bool
    package let summary: String
    package let get: @Sendable (EngineSettings) -> String
    /// Validates and applies a value; the error message says what is allowed.
    package let set: @Sendable (EngineSettings, String) throws(ConfigError) -> Void
}

/// Every parameter CONFIG GET/SET and the start-up configuration know, in one table.
///
/// Start-up (file, environment, flags) and `CONFIG SET` go through the same `set`, so a
/// value is validated the same way wherever it comes from.
package enum ConfigRegistry {
    package static let parameters: [ConfigParameter] =
        wharfParameters
        + RedisParameters.all.filter { redis in !wharfParameters.contains { $0.name == redis.name } }.map(redis)

    private static let wharfParameters: [ConfigParameter] = [
        external("port", "TCP port of the RESP listener"),
        external("bind", "addresses the RESP listener binds"),
        external("dir", "data directory"),
        external("threads", "event loop threads (0: one per core)"),
        ConfigParameter(
            name: "databases", isMutable: false, summary: "number of databases SELECT can choose",
            get: { "\($0.databases)" }, set: { _, _ throws(ConfigError) in }),
        ConfigParameter(
            name: "shards", isMutable: false, summary: "lock shards per database (a power of two up to 256)",
            get: { "\($0.shards)" }, set: { _, _ throws(ConfigError) in }),
        integer("maxclients", "most simultaneous clients", \.maxClients, min: 1, max: 1_000_000),
        integer(
            "timeout", "close clients idle this many seconds (0: never)", \.idleTimeoutSeconds, min: 0,
            max: Int(Int32.max)),
        integer(
            "tcp-keepalive", "TCP keepalive interval in seconds for new connections (0: off)", \.tcpKeepaliveSeconds,
            min: 0, max: Int(Int32.max)),
        memory(
            "proto-max-bulk-len", "largest bulk string a client may send", \.protoMaxBulkLength, min: 1024 * 1024,
            max: Int(UInt32.max)),
        integer(
            "proto-max-multibulk-len", "most arguments in one command", \.protoMaxMultibulkLength, min: 1,
            max: Int(Int32.max)),
        memory(
            "proto-inline-max-size", "longest inline command and longest RESP header line", \.protoInlineMaxSize,
            min: 1024, max: 1024 * 1024 * 1024),
        memory(
            "client-query-buffer-limit", "most unprocessed input one client may buffer", \.clientQueryBufferLimit,
            min: 1024 * 1024, max: Int(UInt32.max) * 4),
        integer("hz", "background task frequency (expiry sweep, statistics)", \.hz, min: 1, max: 500),
        integer(
            "active-expire-effort", "how hard the expiry sweep works, 1 to 10", \.activeExpireEffort, min: 1, max: 10),
        integer("lfu-log-factor", "LFU counter logarithm factor", \.lfuLogFactor, min: 0, max: Int(Int32.max)),
        integer(
            "lfu-decay-time", "minutes for the LFU counter to decay by one", \.lfuDecayTime, min: 0, max: Int(Int32.max)
        ),
        ConfigParameter(
            name: "maxmemory-policy", isMutable: true,
            summary: "eviction policy; also chooses LRU or LFU access tracking",
            get: { $0.maxmemoryPolicy.rawValue },
            set: { settings, value throws(ConfigError) in
                guard let index = MaxmemoryPolicy.allCases.firstIndex(where: { $0.rawValue == value.lowercased() })
                else {
                    throw ConfigError(
                        key: "maxmemory-policy",
                        "argument(s) must be one of the following: \(MaxmemoryPolicy.allCases.map(\.rawValue).joined(separator: ", "))"
                    )
                }
                settings.maxmemoryPolicyIndex.store(index, ordering: .relaxed)
                settings.tracksLFU.store(MaxmemoryPolicy.allCases[index].usesLFU, ordering: .relaxed)
            }),
        ConfigParameter(
            name: "requirepass", isMutable: true, summary: "password of the default user (empty: none)",
            get: { $0.password },
            set: { settings, value throws(ConfigError) in
                settings.requirePassword.withLock { $0 = value }
                settings.hasPassword.store(!value.isEmpty, ordering: .relaxed)
            }),
        ConfigParameter(
            name: "loglevel", isMutable: true, summary: "log verbosity",
            get: { settings in settings.logLevel.withLock { $0 } },
            set: { settings, value throws(ConfigError) in
                let allowed = ["debug", "verbose", "notice", "warning", "nothing"]
                guard allowed.contains(value.lowercased()) else {
                    throw ConfigError(
                        key: "loglevel", "argument(s) must be one of the following: \(allowed.joined(separator: ", "))")
                }
                settings.logLevel.withLock { $0 = value.lowercased() }
            }),
        ConfigParameter(
            name: "appendonly", isMutable: false,
            summary: "keep a write-ahead log (yes) or persist by snapshots only (no)",
            get: { settings in settings.external.withLock { $0["appendonly"] ?? "yes" } },
            set: { settings, value throws(ConfigError) in
                guard ["yes", "no"].contains(value.lowercased()) else {
                    throw ConfigError(key: "appendonly", "argument must be 'yes' or 'no'")
                }
                settings.external.withLock { $0["appendonly"] = value.lowercased() }
            }),
        ConfigParameter(
            name: "appendfsync", isMutable: true, summary: "when the log reaches the disk: always, everysec or no",
            get: { settings in settings.appendFsync.withLock { $0 } },
            set: { settings, value throws(ConfigError) in
                let lowered = value.lowercased()
                guard ["always", "everysec", "no"].contains(lowered) else {
                    throw ConfigError(
                        key: "appendfsync", "argument(s) must be one of the following: always, everysec, no")
                }
                settings.appendFsync.withLock { $0 = lowered }
                settings.fsyncObserver.withLock { $0 }?(lowered)
            }),
        integer(
            "auto-aof-rewrite-percentage",
            "snapshot (and compact the log) when it grows by this % of the last snapshot (0: never)",
            \.autoRewritePercentage, min: 0, max: Int(Int32.max)),
        memory(
            "auto-aof-rewrite-min-size", "…and by at least this many bytes", \.autoRewriteMinSize, min: 0,
            max: Int.max / 2),
        memory(
            "wal-segment-size", "size at which the log starts a new segment file (start-up only)", \.walSegmentSize,
            min: 1024 * 1024, max: 1 << 40, mutable: false),
        integer(
            "list-max-listpack-size", "largest packed list: -1…-5 for 4–64 KB, or a count of elements",
            \.listMaxListpackSize, min: -5, max: Int(Int32.max)),
        integer(
            "hash-max-listpack-entries", "most fields in a packed hash", \.hashMaxListpackEntries, min: 0,
            max: Int(Int32.max)),
        integer(
            "hash-max-listpack-value", "longest field or value in a packed hash", \.hashMaxListpackValue, min: 0,
            max: Int(Int32.max)),
        integer(
            "set-max-intset-entries", "most members in an intset", \.setMaxIntsetEntries, min: 0, max: Int(Int32.max)),
        integer(
            "zset-max-listpack-entries", "most members in a packed sorted set", \.zsetMaxListpackEntries, min: 0,
            max: Int(Int32.max)),
        integer(
            "zset-max-listpack-value", "longest member in a packed sorted set", \.zsetMaxListpackValue, min: 0,
            max: Int(Int32.max)),
        // Redis 7 still accepts the names from before listpacks replaced ziplists.
        integer(
            "list-max-ziplist-size", "alias of list-max-listpack-size", \.listMaxListpackSize, min: -5,
            max: Int(Int32.max)),
        integer(
            "hash-max-ziplist-entries", "alias of hash-max-listpack-entries", \.hashMaxListpackEntries, min: 0,
            max: Int(Int32.max)),
        integer(
            "hash-max-ziplist-value", "alias of hash-max-listpack-value", \.hashMaxListpackValue, min: 0,
            max: Int(Int32.max)),
        integer(
            "zset-max-ziplist-entries", "alias of zset-max-listpack-entries", \.zsetMaxListpackEntries, min: 0,
            max: Int(Int32.max)),
        integer(
            "zset-max-ziplist-value", "alias of zset-max-listpack-value", \.zsetMaxListpackValue, min: 0,
            max: Int(Int32.max)),
        timing(
            integer(
                "slowlog-log-slower-than", "log commands slower than this many microseconds (-1: none, 0: all)",
                \.slowlogSlowerThan, min: -1, max: Int.max)),
        integer("slowlog-max-len", "entries the slow log keeps", \.slowlogMaxLength, min: 0, max: Int.max),
        timing(
            integer(
                "latency-monitor-threshold", "record latency events of at least this many milliseconds (0: off)",
                \.latencyMonitorThreshold, min: 0, max: Int.max)),
        ConfigParameter(
            name: "latency-tracking", isMutable: true,
            summary: "per-command latency histograms (LATENCY HISTOGRAM, INFO latencystats)",
            get: { $0.latencyTracking.load(ordering: .relaxed) ? "yes" : "no" },
            set: { settings, value throws(ConfigError) in
                switch value.lowercased() {
                case "yes": settings.latencyTracking.store(true, ordering: .relaxed)
                case "no": settings.latencyTracking.store(false, ordering: .relaxed)
                default: throw ConfigError(key: "latency-tracking", "argument must be 'yes' or 'no'")
                }
            }),
        memory(
            "hll-sparse-max-bytes", "largest sparse HyperLogLog, header included, before it turns dense",
            \.hllSparseMaxBytes, min: 0, max: Int(Int32.max)),
        integer(
            "stream-node-max-bytes", "bytes of one stream chunk (0: no limit)", \.streamNodeMaxBytes, min: 0,
            max: Int(Int32.max)),
        integer(
            "stream-node-max-entries", "entries of one stream chunk (0: no limit)", \.streamNodeMaxEntries, min: 0,
            max: Int(Int32.max)),
        ConfigParameter(
            name: "save", isMutable: true, summary: "snapshot rules: pairs of seconds and changes (empty: none)",
            get: { settings in
                settings.saveRules.withLock { $0.map { "\($0.seconds) \($0.changes)" }.joined(separator: " ") }
            },
            set: { settings, value throws(ConfigError) in
                let words = value.split(separator: " ").map(String.init)
                guard words.count % 2 == 0 else { throw ConfigError(key: "save", "Invalid save parameters") }
                var rules: [SaveRule] = []
                var index = 0
                while index < words.count {
                    guard let seconds = Int64(words[index]), let changes = Int(words[index + 1]), seconds >= 0,
                        changes >= 0
                    else {
                        throw ConfigError(key: "save", "Invalid save parameters")
                    }
                    rules.append(SaveRule(seconds: seconds, changes: changes))
                    index += 2
                }
                settings.saveRules.withLock { $0 = rules }
            }),
        ConfigParameter(
            name: "client-output-buffer-limit", isMutable: true,
            summary: "output buffer limits per client class: class hard soft soft-seconds …",
            get: { settings in settings.outputBufferLimits.withLock { $0.description } },
            set: { settings, value throws(ConfigError) in
                let parsed = try parseOutputBufferLimits(value, current: settings.outputBufferLimits.withLock { $0 })
                settings.outputBufferLimits.withLock { $0 = parsed }
            }),
        ConfigParameter(
            name: "notify-keyspace-events", isMutable: true,
            summary: "keyspace notification classes (K, E, g, $, l, s, h, z, x, e, t, m, n, d, A); empty: off",
            get: { settings in KeyspaceEvents.text(settings.notifyKeyspaceEvents.load(ordering: .relaxed)) },
            set: { settings, value throws(ConfigError) in
                guard let flags = KeyspaceEvents.parse(value) else {
                    throw ConfigError(
                        key: "notify-keyspace-events", "Invalid event class character. Use 'Ag$lshzxeKEtmnd'.")
                }
                settings.notifyKeyspaceEvents.store(flags, ordering: .relaxed)
            }),
    ]

    /// Redis's other names for the same setting (the older `slave` words, Lua's limit).
    static let aliases: [String: String] = [
        "lua-time-limit": "busy-reply-threshold", "slave-announce-ip": "replica-announce-ip",
        "slave-announce-port": "replica-announce-port", "slave-ignore-maxmemory": "replica-ignore-maxmemory",
        "slave-lazy-flush": "replica-lazy-flush", "slave-priority": "replica-priority",
        "slave-read-only": "replica-read-only",
        "slave-serve-stale-data": "replica-serve-stale-data", "min-slaves-max-lag": "min-replicas-max-lag",
        "min-slaves-to-write": "min-replicas-to-write", "repl-ping-slave-period": "repl-ping-replica-period",
        "cluster-slave-no-failover": "cluster-replica-no-failover",
        "cluster-slave-validity-factor": "cluster-replica-validity-factor",
        "slaveof": "replicaof",
    ]

    /// A Redis key as a parameter: stored as text (under its canonical name), validated by
    /// its kind, with a warning on setting a key whose feature Wharf does not have.
    private static func redis(_ parameter: RedisParameter) -> ConfigParameter {
        let storage = self.aliases[parameter.name] ?? parameter.name
        return ConfigParameter(
            name: parameter.name, isMutable: parameter.isMutable, summary: "Redis 7.0's \(parameter.name)",
            get: { settings in settings.redisValues.withLock { $0[storage] } ?? parameter.defaultValue },
            set: { settings, value throws(ConfigError) in
                let validated = try parameter.validate(value)
                settings.redisValues.withLock { $0[storage] = validated }
                if !parameter.isHonoured {
                    settings.warn(
                        "configuration '\(parameter.name)' set to '\(validated)': accepted for compatibility, but Wharf has no such feature yet, so it has no effect"
                    )
                }
            })
    }

    package static func parameter(named name: String) -> ConfigParameter? {
        let lowered = name.lowercased()
        return self.parameters.first { $0.name == lowered }
    }

    // MARK: Kinds of parameter

    /// A parameter whose change may decide whether every command is timed.
    private static func timing(_ parameter: ConfigParameter) -> ConfigParameter {
        ConfigParameter(
            name: parameter.name, isMutable: parameter.isMutable, summary: parameter.summary, get: parameter.get,
            set: { settings, value throws(ConfigError) in
                try parameter.set(settings, value)
                settings.updateTiming()
            })
    }

    private static func external(_ name: String, _ summary: String) -> ConfigParameter {
        ConfigParameter(
            name: name, isMutable: false, summary: summary,
            get: { settings in settings.external.withLock { $0[name] ?? "" } },
            set: { settings, value throws(ConfigError) in settings.external.withLock { $0[name] = value } })
    }

    private static func integer(
        _ name: String, _ summary: String, _ path: any KeyPath<EngineSettings, UnsafeAtomic<Int>> & Sendable, min: Int,
        max: Int
    ) -> ConfigParameter {
        ConfigParameter(
            name: name, isMutable: true, summary: summary,
            get: { "\($0[keyPath: path].load(ordering: .relaxed))" },
            set: { settings, value throws(ConfigError) in
                guard let parsed = Int(value) else {
                    throw ConfigError(key: name, "argument couldn't be parsed into an integer")
                }
                guard parsed >= min && parsed <= max else {
                    throw ConfigError(key: name, "argument must be between \(min) and \(max) inclusive")
                }
                settings[keyPath: path].store(parsed, ordering: .relaxed)
            })
    }

    private static func memory(
        _ name: String, _ summary: String, _ path: any KeyPath<EngineSettings, UnsafeAtomic<Int>> & Sendable, min: Int,
        max: Int, mutable: Bool = true
    ) -> ConfigParameter {
        ConfigParameter(
            name: name, isMutable: mutable, summary: summary,
            get: { "\($0[keyPath: path].load(ordering: .relaxed))" },
            set: { settings, value throws(ConfigError) in
                guard let parsed = parseMemory(value) else {
                    throw ConfigError(key: name, "argument must be a memory value")
                }
                guard parsed >= min && parsed <= max else {
                    throw ConfigError(key: name, "argument must be between \(min) and \(max) inclusive")
                }
                settings[keyPath: path].store(parsed, ordering: .relaxed)
            })
    }

    /// Parses `1024`, `64kb`, `1gb`, `100k` (k = 1000, kb = 1024), as Redis's `memtoull`.
    package static func parseMemory(_ text: String) -> Int? {
        let lowered = text.lowercased()
        let units: [(String, Int)] = [
            ("gb", 1 << 30), ("mb", 1 << 20), ("kb", 1 << 10), ("g", 1_000_000_000), ("m", 1_000_000), ("k", 1000),
            ("b", 1),
        ]
        for (suffix, multiplier) in units where lowered.hasSuffix(suffix) {
            guard let number = Int(lowered.dropLast(suffix.count)), number >= 0 else { return nil }
            let (product, overflow) = number.multipliedReportingOverflow(by: multiplier)
            return overflow ? nil : product
        }
        guard let number = Int(lowered), number >= 0 else { return nil }
        return number
    }

    static func parseOutputBufferLimits(_ text: String, current: OutputBufferLimits) throws(ConfigError)
        -> OutputBufferLimits
    {
        let words = text.split(separator: " ").map(String.init)
        guard !words.isEmpty, words.count % 4 == 0 else {
            throw ConfigError(
                key: "client-output-buffer-limit", "Wrong number of arguments in buffer limit configuration.")
        }
        var limits = current
        var index = 0
        while index < words.count {
            guard let hard = parseMemory(words[index + 1]), let soft = parseMemory(words[index + 2]),
                let seconds = Int(words[index + 3]), seconds >= 0
            else {
                throw ConfigError(
                    key: "client-output-buffer-limit",
                    "Error in hard, soft or soft_seconds setting in buffer limit configuration.")
            }
            let limit = OutputBufferLimits.Limit(hardBytes: hard, softBytes: soft, softSeconds: seconds)
            switch words[index].lowercased() {
            case "normal": limits.normal = limit
            case "replica", "slave": limits.replica = limit
            case "pubsub": limits.pubsub = limit
            default:
                throw ConfigError(
                    key: "client-output-buffer-limit", "Invalid client class specified in buffer limit configuration.")
            }
            index += 4
        }
        return limits
    }
}

/// The engine's configuration parameters, for hosts that load them at start-up.
public enum EngineParameters {
    /// Every parameter name CONFIG GET knows.
    public static var names: [String] { ConfigRegistry.parameters.map(\.name) }

    /// Validates and applies `value` to the parameter `name`, as CONFIG SET would, but also
    /// for parameters that can only be set at start-up.
    public static func set(_ name: String, _ value: String, on settings: EngineSettings) throws(ConfigError) {
        guard let parameter = ConfigRegistry.parameter(named: name) else {
            throw ConfigError(key: name, "unknown configuration parameter")
        }
        try parameter.set(settings, value)
        settings.generation.wrappingIncrement(ordering: .relaxed)
    }

    /// The current value of `name`.
    public static func get(_ name: String, from settings: EngineSettings) -> String? {
        ConfigRegistry.parameter(named: name)?.get(settings)
    }
}
