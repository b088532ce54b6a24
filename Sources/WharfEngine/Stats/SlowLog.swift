package import DequeModule
import Synchronization
package import WharfProtocol

/// Commands that took longer than `slowlog-log-slower-than`, newest first, at most
/// `slowlog-max-len` of them. Only slow commands take the lock.
package final class SlowLog: Sendable {
    package struct Entry: Sendable {
        package let id: Int
        package let time: Int64
        package let microseconds: Int
        package let arguments: [[UInt8]]
        package let address: String
        package let name: String
    }

    private struct State {
        var entries = Deque<Entry>()
        var nextID = 0
    }

    private let state = Mutex(State())
    static let maximumArguments = 32
    static let maximumArgumentLength = 128

    package func record(
        _ arguments: CommandArguments, microseconds: Int, time: Int64, address: String, name: String, limit: Int
    ) {
        var kept: [[UInt8]] = []
        let shown = min(arguments.count, Self.maximumArguments)
        for index in 0..<shown {
            if index == Self.maximumArguments - 1 && arguments.count > Self.maximumArguments {
                kept.append(Array("... (\(arguments.count - Self.maximumArguments + 1) more arguments)".utf8))
                break
            }
            let argument = arguments[index]
            if argument.count > Self.maximumArgumentLength {
                kept.append(
                    Array(argument.prefix(Self.maximumArgumentLength))
                        + Array("... (\(argument.count - Self.maximumArgumentLength) more bytes)".utf8))
            } else {
                kept.append(Array(argument))
            }
        }
        // Passwords never reach the slow log.
        let redactFrom = MonitorHub.redactionStart(arguments)
        for index in kept.indices where index >= redactFrom { kept[index] = Array("(redacted)".utf8) }
        self.state.withLock { state in
            state.entries.prepend(
                Entry(
                    id: state.nextID, time: time / 1000, microseconds: microseconds, arguments: kept,
                    address: address, name: name))
            state.nextID += 1
            while state.entries.count > limit { state.entries.removeLast() }
        }
    }

    package func newest(_ count: Int) -> [Entry] {
        self.state.withLock { Array($0.entries.prefix(count)) }
    }

    package var count: Int { self.state.withLock { $0.entries.count } }

    package func reset() {
        self.state.withLock { $0.entries.removeAll() }
    }

    package func trim(to limit: Int) {
        self.state.withLock { state in while state.entries.count > limit { state.entries.removeLast() } }
    }
}

/// Latency events (`command`, `fast-command` …) at or above `latency-monitor-threshold`:
/// the latest, the highest and a history of one sample per second (the highest of that
/// second), 160 samples at most, as Redis keeps them.
package final class LatencyMonitor: Sendable {
    package struct Sample: Sendable {
        package var time: Int64
        package var milliseconds: Int
    }

    package struct Event: Sendable {
        package var samples = Deque<Sample>()
        package var highest = 0
    }

    private let events = Mutex<[String: Event]>([:])
    static let historyLength = 160

    package func record(_ event: String, milliseconds: Int, time: Int64) {
        let second = time / 1000
        self.events.withLock { events in
            var entry = events[event, default: Event()]
            if let last = entry.samples.last, last.time == second {
                entry.samples[entry.samples.count - 1].milliseconds = max(last.milliseconds, milliseconds)
            } else {
                entry.samples.append(Sample(time: second, milliseconds: milliseconds))
                if entry.samples.count > Self.historyLength { entry.samples.removeFirst() }
            }
            entry.highest = max(entry.highest, milliseconds)
            events[event] = entry
        }
    }

    package func all() -> [(String, Event)] {
        self.events.withLock { $0.sorted { $0.key < $1.key } }
    }

    package func event(_ name: String) -> Event? {
        self.events.withLock { $0[name] }
    }

    /// Forgets the named events (every event when none is named); returns how many went.
    package func reset(_ names: [String]) -> Int {
        self.events.withLock { events in
            if names.isEmpty {
                defer { events.removeAll() }
                return events.count
            }
            var removed = 0
            for name in Set(names) where events.removeValue(forKey: name) != nil { removed += 1 }
            return removed
        }
    }
}
