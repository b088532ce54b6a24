import Atomics
import WharfProtocol

/// Keyspace notifications: events published on `__keyspace@<db>__:<key>` (the event name)
/// and `__keyevent@<db>__:<event>` (the key) for the classes `notify-keyspace-events`
/// enables, as Redis does, so caches can invalidate.
package enum KeyspaceEvents {
    // Class bits, named by Redis's letters.
    package static let keyspace = 1 << 0  // K
    package static let keyevent = 1 << 1  // E
    package static let generic = 1 << 2  // g
    package static let string = 1 << 3  // $
    package static let list = 1 << 4  // l
    package static let set = 1 << 5  // s
    package static let hash = 1 << 6  // h
    package static let sortedSet = 1 << 7  // z
    package static let expired = 1 << 8  // x
    package static let evicted = 1 << 9  // e
    package static let stream = 1 << 10  // t
    package static let keyMiss = 1 << 11  // m
    package static let module = 1 << 12  // d
    package static let newKey = 1 << 13  // n
    /// `A`: every class except key-miss and new-key events.
    package static let all = generic | string | list | set | hash | sortedSet | expired | evicted | stream | module

    private static let letters: [(Character, Int)] = [
        ("g", generic), ("$", string), ("l", list), ("s", set), ("h", hash), ("z", sortedSet),
        ("x", expired), ("e", evicted), ("t", stream), ("d", module),
    ]

    package static func parse(_ text: String) -> Int? {
        var flags = 0
        for character in text {
            switch character {
            case "A": flags |= all
            case "K": flags |= keyspace
            case "E": flags |= keyevent
            case "m": flags |= keyMiss
            case "n": flags |= newKey
            default:
                guard let bit = letters.first(where: { $0.0 == character })?.1 else { return nil }
                flags |= bit
            }
        }
        return flags
    }

    package static func text(_ flags: Int) -> String {
        var text = ""
        if flags & all == all {
            text = "A"
        } else {
            for (letter, bit) in letters where flags & bit != 0 { text.append(letter) }
            // Redis lists `n` with the classes, so not at all after `A` (which excludes it).
            if flags & newKey != 0 { text += "n" }
        }
        if flags & keyspace != 0 { text += "K" }
        if flags & keyevent != 0 { text += "E" }
        if flags & keyMiss != 0 { text += "m" }
        return text
    }

    /// The class bit of a value family's events.
    package static func bit(for family: ValueFamily) -> Int {
        switch family {
        case .string: return string
        case .list: return list
        case .hash: return hash
        case .set: return set
        case .sortedSet: return sortedSet
        case .stream: return stream
        }
    }
}

extension Engine {
    /// Publishes keyspace event `event` of class `type` for `key` in `database`, if enabled.
    @inline(__always)
    package func notify(_ type: Int, _ event: StaticString, key: UnsafeRawBufferPointer, database: Int) {
        let flags = self.settings.notifyKeyspaceEvents.load(ordering: .relaxed)
        guard flags & type != 0, flags & (KeyspaceEvents.keyspace | KeyspaceEvents.keyevent) != 0,
            self.pubsub.hasSubscribers
        else { return }
        self.publishKeyspaceEvent(flags, event, key: key, database: database)
    }

    private func publishKeyspaceEvent(_ flags: Int, _ event: StaticString, key: UnsafeRawBufferPointer, database: Int) {
        let eventBytes = UnsafeRawBufferPointer(start: event.utf8Start, count: event.utf8CodeUnitCount)
        if flags & KeyspaceEvents.keyspace != 0 {
            var channel = Array("__keyspace@\(database)__:".utf8)
            channel.append(contentsOf: key)
            _ = channel.withUnsafeBytes { self.pubsub.publish($0, eventBytes) }
        }
        if flags & KeyspaceEvents.keyevent != 0 {
            var channel = Array("__keyevent@\(database)__:".utf8)
            channel.append(contentsOf: eventBytes)
            _ = channel.withUnsafeBytes { self.pubsub.publish($0, key) }
        }
    }
}

extension CommandContext {
    /// Publishes keyspace event `event` of class `type` for `key` in the client's database.
    @inline(__always)
    package func notify(_ type: Int, _ event: StaticString, _ key: UnsafeRawBufferPointer) {
        if self.replaying || self.notifyFlags.load(ordering: .relaxed) & type == 0 { return }
        self.engine.notify(type, event, key: key, database: self.session.database)
    }
}

extension CommandContext {
    /// Publishes `event` for `key` and, when the change emptied and deleted the key, the
    /// `del` event that follows it in Redis.
    @inline(__always)
    package func notifyChange(
        _ type: Int, _ event: StaticString, _ key: UnsafeRawBufferPointer, in shard: Shard, hash: UInt64
    ) {
        if self.notifyFlags.load(ordering: .relaxed) == 0 { return }
        self.notify(type, event, key)
        if shard.table.find(key, hash: hash) == nil { self.notify(KeyspaceEvents.generic, "del", key) }
    }
}
