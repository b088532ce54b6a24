import Atomics
import DequeModule
import WharfProtocol

/// LATENCY LATEST, HISTORY, RESET, GRAPH, DOCTOR and HISTOGRAM: latency events over
/// `latency-monitor-threshold` and the per-command latency histograms.
enum LatencyCommands {
    static let declarations: [CommandSpec] = [
        CommandSpec(
            "latency", arity: -2, flags: [], acl: [], group: .server, since: "2.8.13",
            summary: "A container for latency diagnostics commands.", complexity: "Depends on subcommand.",
            handler: nil,
            subcommands: [
                CommandSpec(
                    "latest", arity: 2, flags: [.admin, .noScript, .loading, .stale], acl: [], group: .server,
                    since: "2.8.13", summary: "Returns the latest latency samples for all events.", handler: latest),
                CommandSpec(
                    "history", arity: 3, flags: [.admin, .noScript, .loading, .stale], acl: [], group: .server,
                    since: "2.8.13", summary: "Returns timestamp-latency samples for an event.", handler: history),
                CommandSpec(
                    "reset", arity: -2, flags: [.admin, .noScript, .loading, .stale], acl: [], group: .server,
                    since: "2.8.13", summary: "Resets the latency data for one or more events.", handler: reset),
                CommandSpec(
                    "graph", arity: 3, flags: [.admin, .noScript, .loading, .stale], acl: [], group: .server,
                    since: "2.8.13", summary: "Returns a latency graph for an event.", handler: graph),
                CommandSpec(
                    "doctor", arity: 2, flags: [.admin, .noScript, .loading, .stale], acl: [], group: .server,
                    since: "2.8.13", summary: "Returns a human-readable latency analysis report.", handler: doctor),
                CommandSpec(
                    "histogram", arity: -2, flags: [.admin, .noScript, .loading, .stale], acl: [], group: .server,
                    since: "7.0.0",
                    summary: "Returns the cumulative distribution of latencies of a subset or all commands.",
                    complexity: "O(N) where N is the number of commands with latency information being retrieved.",
                    handler: histogram),
                CommandSpec(
                    "help", arity: 2, flags: [.loading, .stale], acl: [], group: .server,
                    since: "2.8.13", summary: "Returns helpful text about the different subcommands.", handler: help),
            ])
    ]

    static func latest(_ context: inout CommandContext) {
        let events = context.engine.latency.all()
        context.reply.writeArrayHeader(count: events.count)
        for (name, event) in events {
            let last = event.samples.last ?? LatencyMonitor.Sample(time: 0, milliseconds: 0)
            context.reply.writeArrayHeader(count: 4)
            context.reply.writeBulkString(name)
            context.reply.writeInteger(last.time)
            context.reply.writeInteger(last.milliseconds)
            context.reply.writeInteger(event.highest)
        }
    }

    static func history(_ context: inout CommandContext) {
        let samples = context.engine.latency.event(context.arguments.string(2))?.samples ?? []
        context.reply.writeArrayHeader(count: samples.count)
        for sample in samples {
            context.reply.writeArrayHeader(count: 2)
            context.reply.writeInteger(sample.time)
            context.reply.writeInteger(sample.milliseconds)
        }
    }

    static func reset(_ context: inout CommandContext) {
        let names = (2..<context.arguments.count).map { context.arguments.string($0) }
        context.reply.writeInteger(context.engine.latency.reset(names))
    }

    /// A bar per sample, newest on the right, scaled between the lowest and highest.
    static func graph(_ context: inout CommandContext) {
        let name = context.arguments.string(2)
        guard let event = context.engine.latency.event(name), !event.samples.isEmpty else {
            return context.reply.writeError("ERR No samples available for event '\(name)'")
        }
        let samples = Array(event.samples.suffix(80))
        let highest = samples.map(\.milliseconds).max() ?? 0
        let lowest = samples.map(\.milliseconds).min() ?? 0
        let rows = 4
        var text = "\(name) - high \(highest) ms, low \(lowest) ms (all time high \(event.highest) ms)\n"
        text += String(repeating: "-", count: max(samples.count, 40)) + "\n"
        for row in stride(from: rows, through: 1, by: -1) {
            var line = ""
            for sample in samples {
                let level =
                    highest == lowest
                    ? rows : 1 + (sample.milliseconds - lowest) * (rows - 1) / max(1, highest - lowest)
                line += level >= row ? "#" : " "
            }
            text += line + "\n"
        }
        let now = context.now / 1000
        text +=
            samples.map { sample in
                let age = now - sample.time
                return age < 60 ? "s" : age < 3600 ? "m" : "h"
            }.joined() + "\n"
        context.reply.writeVerbatimString(text)
    }

    static func doctor(_ context: inout CommandContext) {
        let threshold = context.settings.latencyMonitorThreshold.load(ordering: .relaxed)
        let events = context.engine.latency.all()
        var text: String
        if threshold == 0 {
            text =
                "Latency monitoring is off: no events are recorded. Turn it on with CONFIG SET latency-monitor-threshold <milliseconds>, the latency below which an event is not worth recording."
        } else if events.isEmpty {
            text =
                "No latency event of \(threshold) ms or more has been recorded since the monitor was turned on or last reset."
        } else {
            text = "Latency events of \(threshold) ms or more:\n\n"
            for (index, (name, event)) in events.enumerated() {
                let average = event.samples.map(\.milliseconds).reduce(0, +) / max(1, event.samples.count)
                text +=
                    "\(index + 1). \(name): \(event.samples.count) latency spikes (average \(average)ms, highest \(event.highest)ms).\n"
            }
            text += "\nAdvice:\n"
            if events.contains(where: { $0.0 == "command" }) {
                text +=
                    "- Slow commands ran: check SLOWLOG GET for which, and avoid O(N) commands (KEYS, SORT, large LRANGE/SMEMBERS) on big values.\n"
            }
            if events.contains(where: { $0.0 == "fast-command" }) {
                text +=
                    "- Even O(1) and O(log N) commands were slow: the machine was likely short of CPU (other processes, a hypervisor) or swapping.\n"
            }
        }
        context.reply.writeVerbatimString(text)
    }

    /// Per command: its calls and the cumulative count at each power-of-two microsecond bound.
    static func histogram(_ context: inout CommandContext) {
        let engine = context.engine
        let totals = engine.stats.totals()
        var specs = engine.commands.all
        if context.arguments.count > 2 {
            let wanted = Set((2..<context.arguments.count).map { context.arguments.string($0).lowercased() })
            specs = specs.filter { wanted.contains($0.fullName) }
        }
        let rows = specs.compactMap { spec -> (CommandSpec, Int, [Int])? in
            let calls = totals.command(spec.index, .calls)
            let buckets = totals.latencyHistogram(spec.index)
            return calls > 0 && buckets.contains { $0 > 0 } ? (spec, calls, buckets) : nil
        }
        context.reply.writeMapHeader(count: rows.count)
        for (spec, calls, buckets) in rows {
            context.reply.writeBulkString(spec.fullName)
            context.reply.writeMapHeader(count: 2)
            context.reply.writeBulkString("calls")
            context.reply.writeInteger(calls)
            context.reply.writeBulkString("histogram_usec")
            let last = buckets.lastIndex { $0 > 0 } ?? 0
            let first = buckets.firstIndex { $0 > 0 } ?? 0
            context.reply.writeMapHeader(count: last - first + 1)
            var cumulative = buckets[..<first].reduce(0, +)
            for bucket in first...last {
                cumulative += buckets[bucket]
                context.reply.writeInteger(1 << bucket)
                context.reply.writeInteger(cumulative)
            }
        }
    }

    static func help(_ context: inout CommandContext) {
        context.replyHelp(
            command: "LATENCY",
            lines: [
                "DOCTOR", "    Return a human readable latency analysis report.",
                "GRAPH <event>", "    Return an ASCII latency graph for the <event> class.",
                "HISTORY <event>", "    Return time-latency samples for the <event> class.",
                "LATEST", "    Return the latest latency samples for all events.",
                "RESET [<event> ...]", "    Reset latency data of one or more <event> classes.",
                "    (default: reset all data for all event classes)",
                "HISTOGRAM [COMMAND ...]",
                "    Return a cumulative distribution of latencies in the format of a histogram for the specified command names.",
                "    If no commands are specified then all histograms are replied.",
            ])
    }
}
