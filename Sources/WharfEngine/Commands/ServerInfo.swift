import Atomics
import NIOCore
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// The text of INFO, section by section, in Redis's `field:value` format.
struct ServerInfo {
    let engine: Engine
    let now: Int64

    static let defaultSections = [
        "server", "clients", "memory", "persistence", "stats", "replication", "cpu", "modules", "errorstats", "cluster",
        "keyspace",
    ]
    static let allSections = [
        "server", "clients", "memory", "persistence", "stats", "replication", "cpu", "modules", "commandstats",
        "errorstats", "latencystats", "cluster", "keyspace",
    ]

    func render(sections requested: [String]) -> String {
        var wanted: [String]
        if requested.isEmpty || requested.contains("default") {
            wanted = Self.defaultSections
        } else if requested.contains("all") || requested.contains("everything") {
            wanted = Self.allSections
        } else {
            wanted = Self.allSections.filter { requested.contains($0) }
        }
        if requested.contains("commandstats") && !wanted.contains("commandstats") { wanted.append("commandstats") }
        let totals = self.engine.stats.totals()
        var out = ""
        for section in wanted {
            let fields = self.fields(of: section, totals: totals)
            if !out.isEmpty { out += "\r\n" }
            out +=
                "# \(section == "commandstats" ? "Commandstats" : section == "errorstats" ? "Errorstats" : section == "latencystats" ? "Latencystats" : section.prefix(1).uppercased() + section.dropFirst())\r\n"
            for (name, value) in fields { out += "\(name):\(value)\r\n" }
        }
        return out
    }

    private func fields(of section: String, totals: StatsTotals) -> [(String, String)] {
        let settings = self.engine.settings
        switch section {
        case "server":
            let uptime = (EngineClock.monotonicNanoseconds() - self.engine.startedMonotonic) / 1_000_000_000
            var fields: [(String, String)] = [
                ("redis_version", ConnectionCommands.redisVersion),
                ("wharf_version", WharfVersion.current),
                ("redis_git_sha1", "00000000"),
                ("redis_git_dirty", "0"),
                ("redis_mode", "standalone"),
                ("os", Self.operatingSystem),
                ("arch_bits", "\(Int.bitWidth)"),
                ("multiplexing_api", "epoll"),
                ("process_id", "\(getpid())"),
                ("run_id", self.engine.runID),
                ("server_time_usec", "\(EngineClock.systemNanoseconds() / 1000)"),
                ("uptime_in_seconds", "\(uptime)"),
                ("uptime_in_days", "\(uptime / 86400)"),
                ("hz", "\(settings.hz.load(ordering: .relaxed))"),
                ("configured_hz", "\(settings.hz.load(ordering: .relaxed))"),
                ("lru_clock", "\(AccessTracking.lruClock(now: self.now))"),
                ("shards_per_db", "\(settings.shards)"),
            ]
            if let provider = self.engine.hooks.serverInfo.withLock({ $0 }) { fields.append(contentsOf: provider()) }
            return fields
        case "clients":
            return [
                ("connected_clients", "\(self.engine.clients.count)"),
                ("cluster_connections", "0"),
                ("maxclients", "\(settings.maxClients.load(ordering: .relaxed))"),
                ("blocked_clients", "\(self.engine.blocking.count)"),
                ("tracking_clients", "0"),
                ("clients_in_timeout_table", "0"),
            ]
        case "memory":
            let used = ProcessMemory.allocatedBytes()
            let rss = ProcessMemory.residentBytes()
            let peak = self.engine.peakMemory
            return [
                ("used_memory", "\(used)"),
                ("used_memory_human", Self.human(used)),
                ("used_memory_rss", "\(rss)"),
                ("used_memory_rss_human", Self.human(rss)),
                ("used_memory_peak", "\(peak)"),
                ("used_memory_peak_human", Self.human(peak)),
                ("maxmemory", "0"),
                ("maxmemory_human", "0B"),
                ("maxmemory_policy", settings.maxmemoryPolicy.rawValue),
                ("mem_fragmentation_ratio", used > 0 ? String(format2: Double(rss) / Double(used)) : "0.00"),
                ("mem_allocator", "libc"),
            ]
        case "persistence":
            if let persistence = self.engine.persistence { return persistence.infoFields() }
            return [
                ("loading", "0"), ("async_loading", "0"), ("rdb_bgsave_in_progress", "0"), ("aof_enabled", "0"),
                ("aof_rewrite_in_progress", "0"),
            ]
        case "stats":
            return [
                ("total_connections_received", "\(self.engine.clients.totalConnections.load(ordering: .relaxed))"),
                ("total_commands_processed", "\(totals[.commandsProcessed])"),
                ("instantaneous_ops_per_sec", "\(self.engine.instantaneousOpsPerSecond)"),
                ("total_net_input_bytes", "\(totals[.netInputBytes])"),
                ("total_net_output_bytes", "\(totals[.netOutputBytes])"),
                ("rejected_connections", "\(self.engine.clients.rejectedConnections.load(ordering: .relaxed))"),
                ("expired_keys", "\(self.engine.expiredKeys)"),
                ("evicted_keys", "0"),
                ("keyspace_hits", "\(totals[.keyspaceHits])"),
                ("keyspace_misses", "\(totals[.keyspaceMisses])"),
                ("pubsub_channels", "\(self.engine.pubsub.channels(.channel, matching: nil).count)"),
                ("pubsub_patterns", "\(self.engine.pubsub.patternCount)"),
                ("pubsubshard_channels", "\(self.engine.pubsub.channels(.shardChannel, matching: nil).count)"),
                ("total_error_replies", "\(totals[.errorReplies])"),
                ("client_output_buffer_limit_disconnections", "\(totals[.outputBufferLimitDisconnections])"),
            ]
        case "replication":
            return [
                ("role", "master"),
                ("connected_slaves", "0"),
                ("master_failover_state", "no-failover"),
                ("master_replid", self.engine.runID),
                ("master_repl_offset", "0"),
            ]
        case "cpu":
            var usage = rusage()
            getrusage(RUSAGE_SELF.rawValue, &usage)
            let system = Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) / 1e6
            let user = Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6
            return [("used_cpu_sys", String(format6: system)), ("used_cpu_user", String(format6: user))]
        case "cluster":
            return [("cluster_enabled", "0")]
        case "keyspace":
            var fields: [(String, String)] = []
            for database in self.engine.keyspace.databases {
                let counts = database.counts()
                if counts.keys > 0 {
                    fields.append(
                        (
                            "db\(database.index)",
                            "keys=\(counts.keys),expires=\(counts.expires),avg_ttl=\(self.averageTTL(database))"
                        ))
                }
            }
            return fields
        case "latencystats":
            // Percentiles read off each command's power-of-two histogram (upper bounds).
            let percentiles =
                (self.engine.settings.redisValues.withLock { $0["latency-tracking-info-percentiles"] } ?? "50 99 99.9")
                .split(separator: " ").compactMap { Double($0) }
            var fields: [(String, String)] = []
            for spec in self.engine.commands.all {
                let buckets = totals.latencyHistogram(spec.index)
                let total = buckets.reduce(0, +)
                guard total > 0, !percentiles.isEmpty else { continue }
                let values = percentiles.map { percentile -> String in
                    var cumulative = 0
                    var bound = 1 << (buckets.count - 1)
                    for (bucket, count) in buckets.enumerated() {
                        cumulative += count
                        if Double(cumulative) >= Double(total) * percentile / 100 {
                            bound = 1 << bucket
                            break
                        }
                    }
                    let name = percentile == percentile.rounded() ? String(Int(percentile)) : String(percentile)
                    return "p\(name)=\(bound).000"
                }
                fields.append(("latency_percentiles_usec_\(spec.fullName)", values.joined(separator: ",")))
            }
            return fields
        case "errorstats":
            return self.engine.stats.errorCounts().map { ("errorstat_\($0.0)", "count=\($0.1)") }
        case "commandstats":
            var fields: [(String, String)] = []
            let nanosecondsPerTick = Ticks.nanosecondsPerTick
            for spec in self.engine.commands.all {
                let calls = totals.command(spec.index, .calls)
                let rejected = totals.command(spec.index, .rejected)
                if calls == 0 && rejected == 0 { continue }
                let microseconds = Int(Double(totals.command(spec.index, .ticks)) * nanosecondsPerTick / 1000)
                let perCall = calls > 0 ? Double(microseconds) / Double(calls) : 0
                fields.append(
                    (
                        "cmdstat_\(spec.fullName)",
                        "calls=\(calls),usec=\(microseconds),usec_per_call=\(String(format2: perCall)),rejected_calls=\(rejected),failed_calls=\(totals.command(spec.index, .failed))"
                    ))
            }
            return fields
        default:
            return []
        }
    }

    /// Average remaining TTL in milliseconds, estimated from a sample of each shard's keys with a TTL.
    private func averageTTL(_ database: Database) -> Int64 {
        var total: Int64 = 0
        var sampled: Int64 = 0
        for shard in database.shards {
            shard.lock.lock()
            for ttl in shard.sampleTTLs(limit: 16, now: self.now) {
                total += ttl
                sampled += 1
            }
            shard.lock.unlock()
        }
        return sampled == 0 ? 0 : total / sampled
    }

    static func human(_ bytes: Int) -> String {
        let units = ["B", "K", "M", "G", "T"]
        var value = Double(bytes)
        var unit = 0
        while value >= 1024 && unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        return unit == 0 ? "\(bytes)B" : String(format2: value) + units[unit]
    }

    static let operatingSystem: String = {
        var name = utsname()
        uname(&name)
        func field<T>(_ value: T) -> String {
            withUnsafeBytes(of: value) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
        }
        return "\(field(name.sysname)) \(field(name.release)) \(field(name.machine))"
    }()
}

extension String {
    /// Fixed-point text with two decimals.
    init(format2 value: Double) {
        self.init(fixed: value, decimals: 2)
    }

    init(format6 value: Double) {
        self.init(fixed: value, decimals: 6)
    }

    private init(fixed value: Double, decimals: Int) {
        var scale = 1.0
        for _ in 0..<decimals { scale *= 10 }
        let scaled = (abs(value) * scale).rounded()
        let whole = Int64(scaled / scale)
        let fraction = Int64(scaled) - whole * Int64(scale)
        var fractionText = String(fraction)
        while fractionText.count < decimals { fractionText = "0" + fractionText }
        self = (value < 0 ? "-" : "") + "\(whole).\(fractionText)"
    }
}
