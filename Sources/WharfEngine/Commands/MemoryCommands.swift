import CWharfSystem
import WharfProtocol

/// MEMORY USAGE, STATS, DOCTOR, MALLOC-STATS, PURGE: what keys and the process really use,
/// from the allocator's own block sizes (``MemoryFootprint``).
enum MemoryCommands {
    static let declarations: [CommandSpec] = [
        CommandSpec(
            "memory", arity: -2, flags: [], acl: [], group: .server, since: "4.0.0",
            summary: "A container for memory diagnostics commands.", complexity: "Depends on subcommand.", handler: nil,
            subcommands: [
                CommandSpec(
                    "usage", arity: -3, flags: [.readonly], keys: KeyPositions(first: 2, last: 2, step: 1),
                    acl: [.read], group: .server,
                    since: "4.0.0", summary: "Estimates the memory usage of a key.",
                    complexity: "O(N) where N is the number of samples.", handler: usage),
                CommandSpec(
                    "stats", arity: 2, flags: [], acl: [], group: .server,
                    since: "4.0.0", summary: "Returns details about memory usage.", handler: stats),
                CommandSpec(
                    "doctor", arity: 2, flags: [], acl: [], group: .server,
                    since: "4.0.0", summary: "Outputs a memory problems report.", handler: doctor),
                CommandSpec(
                    "malloc-stats", arity: 2, flags: [], acl: [], group: .server,
                    since: "4.0.0", summary: "Returns the allocator statistics.",
                    complexity: "Depends on how much memory is allocated, could be slow", handler: mallocStats),
                CommandSpec(
                    "purge", arity: 2, flags: [], acl: [], group: .server,
                    since: "4.0.0", summary: "Asks the allocator to release memory.",
                    complexity: "Depends on how much memory is allocated, could be slow", handler: purge),
                CommandSpec(
                    "help", arity: 2, flags: [.loading, .stale], acl: [], group: .server,
                    since: "4.0.0", summary: "Returns helpful text about the different subcommands.", handler: help),
            ])
    ]

    static func usage(_ context: inout CommandContext) {
        var samples = 5
        var index = 3
        while index < context.arguments.count {
            guard context.arguments[index].equalsIgnoringCase("SAMPLES"), index + 1 < context.arguments.count else {
                return context.replySyntaxError()
            }
            guard let value = context.integerArgument(index + 1) else { return }
            samples = value == 0 ? 0 : Int(clamping: max(1, value))
            index += 2
        }
        let key = context.arguments[2]
        let hash = context.hash(key)
        let shard = context.database.shard(for: hash)
        context.lock(shard)
        defer { context.unlock(shard) }
        guard let entry = context.lookupRead(shard, key, hash: hash, touch: false) else {
            return context.reply.writeNull()
        }
        context.reply.writeInteger(MemoryFootprint.of(entry, in: shard, samples: samples))
    }

    static func stats(_ context: inout CommandContext) {
        let allocated = ProcessMemory.allocatedBytes()
        let resident = ProcessMemory.residentBytes()
        let peak = max(context.engine.peakMemory, allocated)
        var keys = 0
        var perDatabase: [(Int, Int, Int)] = []
        for database in context.engine.keyspace.databases {
            var count = 0
            var slots = 0
            var volatile = 0
            for shard in database.shards {
                shard.lock.lock()
                count += shard.count
                slots += shard.table.capacity
                volatile += shard.volatileCount
                shard.lock.unlock()
            }
            keys += count
            if count > 0 { perDatabase.append((database.index, slots * 9, volatile * 16)) }
        }
        let overhead = perDatabase.reduce(0) { $0 + $1.1 + $1.2 }
        let dataset = max(0, allocated - overhead)
        var fields: [(String, RESPValueLike)] = [
            ("peak.allocated", .integer(peak)), ("total.allocated", .integer(allocated)),
            ("startup.allocated", .integer(0)), ("replication.backlog", .integer(0)), ("clients.slaves", .integer(0)),
            ("clients.normal", .integer(0)), ("cluster.links", .integer(0)), ("aof.buffer", .integer(0)),
            ("lua.caches", .integer(0)), ("functions.caches", .integer(0)),
        ]
        for (index, table, expires) in perDatabase {
            fields.append(
                ("db.\(index)", .pairs([("overhead.hashtable.main", table), ("overhead.hashtable.expires", expires)])))
        }
        fields += [
            ("overhead.total", .integer(overhead)), ("keys.count", .integer(keys)),
            ("keys.bytes-per-key", .integer(keys > 0 ? allocated / keys : 0)), ("dataset.bytes", .integer(dataset)),
            ("dataset.percentage", .double(allocated > 0 ? Double(dataset) * 100 / Double(allocated) : 0)),
            ("peak.percentage", .double(peak > 0 ? Double(allocated) * 100 / Double(peak) : 0)),
            ("allocator.allocated", .integer(allocated)), ("allocator.active", .integer(allocated)),
            ("allocator.resident", .integer(resident)),
            ("allocator-fragmentation.ratio", .double(1)), ("allocator-fragmentation.bytes", .integer(0)),
            ("allocator.rss-ratio", .double(allocated > 0 ? Double(resident) / Double(allocated) : 0)),
            ("allocator.rss-bytes", .integer(resident - allocated)),
            ("rss-overhead.ratio", .double(1)), ("rss-overhead.bytes", .integer(0)),
            ("fragmentation", .double(allocated > 0 ? Double(resident) / Double(allocated) : 0)),
            ("fragmentation.bytes", .integer(resident - allocated)),
        ]
        context.reply.writeMapHeader(count: fields.count)
        for (name, value) in fields {
            context.reply.writeBulkString(name)
            switch value {
            case .integer(let number): context.reply.writeInteger(number)
            case .double(let number): context.reply.writeDouble(number)
            case .pairs(let pairs):
                context.reply.writeMapHeader(count: pairs.count)
                for (field, number) in pairs {
                    context.reply.writeBulkString(field)
                    context.reply.writeInteger(number)
                }
            }
        }
    }

    private enum RESPValueLike {
        case integer(Int)
        case double(Double)
        case pairs([(String, Int)])
    }

    static func doctor(_ context: inout CommandContext) {
        let allocated = ProcessMemory.allocatedBytes()
        let resident = ProcessMemory.residentBytes()
        var findings: [String] = []
        if allocated < 5 << 20 {
            findings.append(
                "This instance is empty or uses very little memory (\(allocated) bytes), too little for a useful diagnosis."
            )
        } else {
            let ratio = Double(resident) / Double(allocated)
            if ratio > 1.4 {
                findings.append(
                    "High fragmentation: the process's resident memory is \(String(format2: ratio)) times what the allocator has handed out. MEMORY PURGE returns free memory at the top of the heap to the system."
                )
            }
            if Double(context.engine.peakMemory) > Double(allocated) * 1.5 {
                findings.append(
                    "Peak memory: at some point in the past the allocator handed out \(context.engine.peakMemory) bytes, over 150% of today's \(allocated)."
                )
            }
        }
        let text =
            findings.isEmpty
            ? "No memory problems were detected: \(allocated) bytes allocated, \(resident) bytes resident."
            : "The following memory issues were detected:\n\n" + findings.map { " * \($0)" }.joined(separator: "\n\n")
        context.reply.writeVerbatimString(text)
    }

    static func mallocStats(_ context: inout CommandContext) {
        // What Redis answers when built with the C library's allocator, as Wharf is.
        context.reply.writeVerbatimString("Stats not supported for the current allocator")
    }

    static func purge(_ context: inout CommandContext) {
        _ = wharf_trim_heap()
        context.reply.writeOK()
    }

    static func help(_ context: inout CommandContext) {
        context.replyHelp(
            command: "MEMORY",
            lines: [
                "DOCTOR", "    Return memory problems reports.",
                "MALLOC-STATS", "    Return internal statistics report from the memory allocator.",
                "PURGE", "    Attempt to purge dirty pages for reclamation by the allocator.",
                "STATS", "    Return information about the memory usage of the server.",
                "USAGE <key> [SAMPLES <count>]",
                "    Return memory in bytes used by <key> and its value. Nested values are",
                "    sampled up to <count> times (default: 5, 0 means sample all).",
            ])
    }
}
