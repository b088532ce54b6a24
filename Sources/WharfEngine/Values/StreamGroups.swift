package import DequeModule

/// IDs in ascending order with a value each: a consumer group's pending entries list and
/// each consumer's share of it. New deliveries have the largest IDs and acknowledgements
/// mostly take the oldest, so both ends are cheap (a deque); the middle is O(n).
package struct SortedIDMap<Value> {
    package private(set) var ids = Deque<StreamID>()
    package private(set) var values = Deque<Value>()

    package init() {}

    package var count: Int { self.ids.count }
    package var isEmpty: Bool { self.ids.isEmpty }

    /// The first index whose ID is at least `id`.
    package func lowerBound(_ id: StreamID) -> Int {
        if let last = self.ids.last, last < id { return self.ids.count }
        var low = 0
        var high = self.ids.count
        while low < high {
            let middle = (low + high) / 2
            if self.ids[middle] < id { low = middle + 1 } else { high = middle }
        }
        return low
    }

    package func index(of id: StreamID) -> Int? {
        let index = self.lowerBound(id)
        return index < self.ids.count && self.ids[index] == id ? index : nil
    }

    package subscript(id: StreamID) -> Value? {
        self.index(of: id).map { self.values[$0] }
    }

    /// Adds `value` under `id`, replacing the one already there.
    package mutating func set(_ id: StreamID, _ value: Value) {
        let index = self.lowerBound(id)
        if index < self.ids.count && self.ids[index] == id {
            self.values[index] = value
        } else {
            self.ids.insert(id, at: index)
            self.values.insert(value, at: index)
        }
    }

    @discardableResult
    package mutating func remove(_ id: StreamID) -> Value? {
        guard let index = self.index(of: id) else { return nil }
        self.ids.remove(at: index)
        return self.values.remove(at: index)
    }
}

/// A consumer of a group.
package final class StreamConsumer {
    package let name: [UInt8]
    /// When the consumer last attempted an interaction (XREADGROUP, XCLAIM, XAUTOCLAIM).
    package var seenTime: Int64
    /// When the consumer last read or claimed an entry; -1 if never.
    package var activeTime: Int64
    /// The consumer's pending entries (the same objects as in the group's list).
    package var pending = SortedIDMap<PendingEntry>()

    package init(name: [UInt8], seenTime: Int64, activeTime: Int64 = -1) {
        self.name = name
        self.seenTime = seenTime
        self.activeTime = activeTime
    }
}

/// An entry delivered to a consumer and not yet acknowledged.
package final class PendingEntry {
    package unowned(unsafe) var consumer: StreamConsumer
    package var deliveryTime: Int64
    package var deliveryCount: Int64

    package init(consumer: StreamConsumer, deliveryTime: Int64, deliveryCount: Int64) {
        self.consumer = consumer
        self.deliveryTime = deliveryTime
        self.deliveryCount = deliveryCount
    }
}

/// A consumer group: its position in the stream, its consumers and its pending entries.
package final class StreamGroup {
    /// `entries-read` when it is not known (Redis's `SCG_INVALID_ENTRIES_READ`).
    package static let unknownEntriesRead: Int64 = -1

    package let name: [UInt8]
    package var lastDeliveredID: StreamID
    package var entriesRead: Int64
    package var pending = SortedIDMap<PendingEntry>()
    /// By name; listed in name order, as Redis's radix tree does.
    package var consumers: [[UInt8]: StreamConsumer] = [:]

    package init(name: [UInt8], lastDeliveredID: StreamID, entriesRead: Int64) {
        self.name = name
        self.lastDeliveredID = lastDeliveredID
        self.entriesRead = entriesRead
    }

    package var sortedConsumers: [StreamConsumer] {
        self.consumers.values.sorted { $0.name.lexicographicallyPrecedes($1.name) }
    }

    /// The consumer called `name`, created (seen now) if missing; `created` tells which.
    package func consumer(_ name: [UInt8], now: Int64, created: inout Bool) -> StreamConsumer {
        if let existing = self.consumers[name] { return existing }
        let consumer = StreamConsumer(name: name, seenTime: now)
        self.consumers[name] = consumer
        created = true
        return consumer
    }

    /// Records that `consumer` now holds `id` (delivered or claimed now).
    package func assign(_ id: StreamID, to consumer: StreamConsumer, now: Int64, deliveryCount: Int64) {
        if let existing = self.pending[id] {
            if existing.consumer !== consumer {
                existing.consumer.pending.remove(id)
                existing.consumer = consumer
                consumer.pending.set(id, existing)
            }
            existing.deliveryTime = now
            existing.deliveryCount = deliveryCount
            return
        }
        let entry = PendingEntry(consumer: consumer, deliveryTime: now, deliveryCount: deliveryCount)
        self.pending.set(id, entry)
        consumer.pending.set(id, entry)
    }

    /// Acknowledges `id`. Returns whether it was pending.
    @discardableResult
    package func acknowledge(_ id: StreamID) -> Bool {
        guard let entry = self.pending.remove(id) else { return false }
        entry.consumer.pending.remove(id)
        return true
    }

    /// Removes a consumer; returns how many pending entries it had (which are dropped).
    package func removeConsumer(_ name: [UInt8]) -> Int? {
        guard let consumer = self.consumers.removeValue(forKey: name) else { return nil }
        for id in consumer.pending.ids { self.pending.remove(id) }
        return consumer.pending.count
    }

    /// A deep copy (consumers and pending entries), for copy-on-write of the stream.
    func copy() -> StreamGroup {
        let group = StreamGroup(name: self.name, lastDeliveredID: self.lastDeliveredID, entriesRead: self.entriesRead)
        for (name, consumer) in self.consumers {
            group.consumers[name] = StreamConsumer(
                name: name, seenTime: consumer.seenTime, activeTime: consumer.activeTime)
        }
        for index in 0..<self.pending.count {
            let entry = self.pending.values[index]
            let consumer = group.consumers[entry.consumer.name]!
            group.assign(
                self.pending.ids[index], to: consumer, now: entry.deliveryTime, deliveryCount: entry.deliveryCount)
        }
        return group
    }
}
