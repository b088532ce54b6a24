package import DequeModule
package import WharfStorage

/// A stream: entries in ``StreamChunk``s ordered by ID, the stream's counters, and its
/// consumer groups.
///
/// Chunks are shared copy-on-write: ``copy()`` copies the list of chunk references (and the
/// groups, which are small), and a chunk is cloned before it changes if anyone else holds it.
package final class StreamPayload: EntryPayload, SnapshotEncodable {
    package var chunks: Deque<StreamChunk>
    /// Entries not deleted.
    package var length: Int
    package var lastID: StreamID
    package var maxDeletedID: StreamID
    package var entriesAdded: UInt64
    /// Sorted by name.
    package var groups: [StreamGroup]

    package init(
        chunks: Deque<StreamChunk> = [], length: Int = 0, lastID: StreamID = .zero, maxDeletedID: StreamID = .zero,
        entriesAdded: UInt64 = 0, groups: [StreamGroup] = []
    ) {
        self.chunks = chunks
        self.length = length
        self.lastID = lastID
        self.maxDeletedID = maxDeletedID
        self.entriesAdded = entriesAdded
        self.groups = groups
    }

    override package func copy() -> EntryPayload {
        StreamPayload(
            chunks: self.chunks, length: self.length, lastID: self.lastID, maxDeletedID: self.maxDeletedID,
            entriesAdded: self.entriesAdded, groups: self.groups.map { $0.copy() })
    }

    // MARK: Entries

    /// The first entry's ID (0-0 when empty): Redis's `first_id`.
    package var firstID: StreamID {
        var found = StreamID.zero
        for chunk in self.chunks {
            var done = false
            chunk.forEach { cursor in
                if cursor.deleted { return true }
                found = cursor.id
                done = true
                return false
            }
            if done { break }
        }
        return found
    }

    /// The last entry's ID (0-0 when empty), which may be below ``lastID`` after deletions.
    package var lastEntryID: StreamID {
        for chunk in self.chunks.reversed() {
            var found: StreamID?
            chunk.forEach { cursor in
                if !cursor.deleted { found = cursor.id }
                return true
            }
            if let found { return found }
        }
        return .zero
    }

    /// Appends an entry with an ID above ``lastID``, in a new chunk when the last one is full.
    package func append(id: StreamID, pairs: FieldValuePairs, maxChunkBytes: Int, maxChunkEntries: Int) {
        let lastIndex = self.chunks.count - 1
        if lastIndex >= 0 {
            // No reference to the chunk may outlive this check, or it could never be uniquely held.
            let fits: Bool = {
                let last = self.chunks[lastIndex]
                return (maxChunkEntries <= 0 || last.count < maxChunkEntries)
                    && (maxChunkBytes <= 0
                        || last.bytes.count + last.encodedSize(id: id, pairs: pairs) <= maxChunkBytes)
            }()
            if fits {
                self.mutableChunk(at: lastIndex).append(id: id, pairs: pairs)
                self.noteAppended(id)
                return
            }
            // The full chunk gives back its spare capacity (unless a snapshot shares it).
            if isKnownUniquelyReferenced(&self.chunks[lastIndex]) { self.chunks[lastIndex].shrink() }
        }
        var names: [[UInt8]] = []
        names.reserveCapacity(pairs.count)
        for index in 0..<pairs.count { names.append(Array(pairs.field(index))) }
        let chunk = StreamChunk(
            firstID: id, masterFields: names, capacity: min(maxChunkBytes > 0 ? maxChunkBytes : 4096, 4096))
        chunk.append(id: id, pairs: pairs)
        self.chunks.append(chunk)
        self.noteAppended(id)
    }

    private func noteAppended(_ id: StreamID) {
        self.length += 1
        self.lastID = id
        self.entriesAdded += 1
    }

    /// The chunk at `index`, cloned first if a snapshot or copy shares it.
    private func mutableChunk(at index: Int) -> StreamChunk {
        if !isKnownUniquelyReferenced(&self.chunks[index]) { self.chunks[index] = self.chunks[index].copy() }
        return self.chunks[index]
    }

    /// The index of the first chunk whose last ID is at least `id`.
    private func chunkIndex(atLeast id: StreamID) -> Int {
        var low = 0
        var high = self.chunks.count
        while low < high {
            let middle = (low + high) / 2
            if self.chunks[middle].lastID < id { low = middle + 1 } else { high = middle }
        }
        return low
    }

    /// The entry with `id` if present and not deleted.
    package func entry(_ id: StreamID) -> (StreamChunk, StreamChunk.Cursor)? {
        let index = self.chunkIndex(atLeast: id)
        guard index < self.chunks.count, let cursor = self.chunks[index].find(id), !cursor.deleted else { return nil }
        return (self.chunks[index], cursor)
    }

    /// Calls `body` with the live entries from `start` through `end` (ascending, or
    /// descending with `reverse`) until it returns false.
    package func forEach(
        from start: StreamID, through end: StreamID, reverse: Bool = false,
        _ body: (StreamChunk, StreamChunk.Cursor) -> Bool
    ) {
        guard start <= end else { return }
        if !reverse {
            var index = self.chunkIndex(atLeast: start)
            while index < self.chunks.count {
                let chunk = self.chunks[index]
                if chunk.firstID > end { return }
                var stop = false
                chunk.forEach { cursor in
                    if cursor.id > end {
                        stop = true
                        return false
                    }
                    if cursor.deleted || cursor.id < start { return true }
                    if !body(chunk, cursor) {
                        stop = true
                        return false
                    }
                    return true
                }
                if stop { return }
                index += 1
            }
        } else {
            var index = min(self.chunkIndex(atLeast: end), self.chunks.count - 1)
            var cursors: [StreamChunk.Cursor] = []
            while index >= 0 {
                let chunk = self.chunks[index]
                if chunk.lastID < start { return }
                cursors.removeAll(keepingCapacity: true)
                chunk.forEach { cursor in
                    if cursor.id > end { return false }
                    if !cursor.deleted && cursor.id >= start { cursors.append(cursor) }
                    return true
                }
                for cursor in cursors.reversed() where !body(chunk, cursor) { return }
                index -= 1
            }
        }
    }

    /// Whether a live entry has an ID of at least `start`.
    package func hasEntries(from start: StreamID) -> Bool {
        guard self.length > 0, self.lastID >= start else { return false }
        var any = false
        self.forEach(from: start, through: .max) { _, _ in
            any = true
            return false
        }
        return any
    }

    /// Deletes the entry with `id`. Returns whether it was there.
    package func delete(_ id: StreamID) -> Bool {
        let index = self.chunkIndex(atLeast: id)
        guard index < self.chunks.count, let cursor = self.chunks[index].find(id), !cursor.deleted else { return false }
        let chunk = self.mutableChunk(at: index)
        _ = chunk.markDeleted(cursor)
        if chunk.live == 0 { self.chunks.remove(at: index) }
        self.length -= 1
        if id > self.maxDeletedID { self.maxDeletedID = id }
        return true
    }

    /// How XTRIM and XADD trim.
    package enum TrimStrategy {
        case maxLength(Int)
        case minimumID(StreamID)
    }

    /// Removes entries from the start by `strategy`: with `approximate`, whole chunks only,
    /// at most `limit` entries (0: no limit). Returns the number removed.
    package func trim(_ strategy: TrimStrategy, approximate: Bool, limit: Int) -> Int {
        var removed = 0
        while let first = self.chunks.first {
            switch strategy {
            case .maxLength(let maximum):
                if self.length <= maximum { return removed }
                let excess = self.length - maximum
                if first.live <= excess {
                    if limit > 0 && removed + first.live > limit { return removed }
                    removed += first.live
                    self.length -= first.live
                    self.chunks.removeFirst()
                    continue
                }
                if approximate { return removed }
                let chunk = self.mutableChunk(at: 0)
                var toDelete = excess
                chunk.forEach { cursor in
                    if toDelete == 0 { return false }
                    if chunk.markDeleted(cursor) { toDelete -= 1 }
                    return true
                }
                removed += excess
                self.length -= excess
                return removed
            case .minimumID(let minimum):
                if first.lastID < minimum {
                    if limit > 0 && removed + first.live > limit { return removed }
                    removed += first.live
                    self.length -= first.live
                    self.chunks.removeFirst()
                    continue
                }
                if approximate || first.firstID >= minimum { return removed }
                let chunk = self.mutableChunk(at: 0)
                var deleted = 0
                chunk.forEach { cursor in
                    if cursor.id >= minimum { return false }
                    if chunk.markDeleted(cursor) { deleted += 1 }
                    return true
                }
                removed += deleted
                self.length -= deleted
                return removed
            }
        }
        return removed
    }

    // MARK: Groups

    package func group(_ name: UnsafeRawBufferPointer) -> StreamGroup? {
        self.groups.first { $0.name.withUnsafeBytes { $0.elementsEqual(name) } }
    }

    /// Adds a group in name order. Returns false if one of that name exists.
    package func addGroup(_ group: StreamGroup) -> Bool {
        let index = self.groups.firstIndex { !$0.name.lexicographicallyPrecedes(group.name) } ?? self.groups.count
        if index < self.groups.count && self.groups[index].name == group.name { return false }
        self.groups.insert(group, at: index)
        return true
    }

    package func removeGroup(_ name: UnsafeRawBufferPointer) -> Bool {
        guard let index = self.groups.firstIndex(where: { $0.name.withUnsafeBytes { $0.elementsEqual(name) } }) else {
            return false
        }
        self.groups.remove(at: index)
        return true
    }

    // MARK: Counters (Redis 7.0's lag rules)

    /// Whether a deleted entry may lie at or after `start` (Redis's `streamRangeHasTombstones`).
    package func hasTombstones(from start: StreamID) -> Bool {
        if self.length == 0 || self.maxDeletedID == .zero || start > self.maxDeletedID { return false }
        // Scans to the first live entry, so it comes last.
        return self.firstID <= self.maxDeletedID
    }

    /// The number of entries added up to `id`, if it can be known
    /// (Redis's `streamEstimateDistanceFromFirstEverEntry`).
    package func entriesAdded(upTo id: StreamID) -> Int64? {
        if self.entriesAdded == 0 { return 0 }
        if self.length == 0 && id <= self.lastID { return Int64(self.entriesAdded) }
        if id == self.lastID { return Int64(self.entriesAdded) }
        if id > self.lastID { return nil }
        let first = self.firstID
        if self.maxDeletedID == .zero || self.maxDeletedID < first {
            if id < first { return Int64(self.entriesAdded) - Int64(self.length) }
            if id == first { return Int64(self.entriesAdded) - Int64(self.length) + 1 }
        }
        return nil
    }

    /// The group's lag, if it can be known.
    package func lag(of group: StreamGroup) -> Int64? {
        if self.entriesAdded == 0 { return 0 }
        if group.entriesRead != StreamGroup.unknownEntriesRead && !self.hasTombstones(from: group.lastDeliveredID) {
            return Int64(self.entriesAdded) - group.entriesRead
        }
        return self.entriesAdded(upTo: group.lastDeliveredID).map { Int64(self.entriesAdded) - $0 }
    }

    /// Advances a group past `id`, delivered now (Redis's rule for `entries-read`).
    package func advance(_ group: StreamGroup, to id: StreamID) {
        guard id > group.lastDeliveredID else { return }
        if group.entriesRead != StreamGroup.unknownEntriesRead && !self.hasTombstones(from: id) {
            group.entriesRead += 1
        } else if self.entriesAdded > 0 {
            group.entriesRead = self.entriesAdded(upTo: id) ?? StreamGroup.unknownEntriesRead
        }
        group.lastDeliveredID = id
    }

    // MARK: Snapshot

    package static var snapshotTag: UInt8 { 20 }
    package static var entryKind: ValueKind { .stream }

    package func encode(into writer: SnapshotWriter) {
        writer.write(UInt64(self.length))
        writer.write(self.lastID.ms)
        writer.write(self.lastID.seq)
        writer.write(self.maxDeletedID.ms)
        writer.write(self.maxDeletedID.seq)
        writer.write(self.entriesAdded)
        writer.writeLength(self.chunks.count)
        for chunk in self.chunks {
            writer.write(chunk.firstID.ms)
            writer.write(chunk.firstID.seq)
            writer.write(chunk.lastID.ms)
            writer.write(chunk.lastID.seq)
            writer.writeLength(chunk.count)
            writer.writeLength(chunk.live)
            writer.writeLength(chunk.fieldNames.count)
            for name in chunk.fieldNames { name.withUnsafeBytes { writer.writeBytes($0) } }
            chunk.bytes.withUnsafeBytes { writer.writeBytes($0) }
        }
        writer.writeLength(self.groups.count)
        for group in self.groups {
            group.name.withUnsafeBytes { writer.writeBytes($0) }
            writer.write(group.lastDeliveredID.ms)
            writer.write(group.lastDeliveredID.seq)
            writer.write(group.entriesRead)
            let consumers = group.sortedConsumers
            writer.writeLength(consumers.count)
            for consumer in consumers {
                consumer.name.withUnsafeBytes { writer.writeBytes($0) }
                writer.write(consumer.seenTime)
                writer.write(consumer.activeTime)
            }
            writer.writeLength(group.pending.count)
            for index in 0..<group.pending.count {
                let id = group.pending.ids[index]
                let entry = group.pending.values[index]
                writer.write(id.ms)
                writer.write(id.seq)
                entry.consumer.name.withUnsafeBytes { writer.writeBytes($0) }
                writer.write(entry.deliveryTime)
                writer.write(entry.deliveryCount)
            }
        }
    }

    package static func decode(from reader: SnapshotReader) throws -> EntryPayload {
        let payload = StreamPayload()
        payload.length = Int(try reader.read(UInt64.self))
        payload.lastID = StreamID(ms: try reader.read(), seq: try reader.read())
        payload.maxDeletedID = StreamID(ms: try reader.read(), seq: try reader.read())
        payload.entriesAdded = try reader.read()
        let chunkCount = try reader.readLength()
        for _ in 0..<chunkCount {
            let firstID = StreamID(ms: try reader.read(), seq: try reader.read())
            let lastID = StreamID(ms: try reader.read(), seq: try reader.read())
            let count = try reader.readLength()
            let live = try reader.readLength()
            let nameCount = try reader.readLength()
            var names: [[UInt8]] = []
            for _ in 0..<nameCount { names.append(Array(try reader.readBytes())) }
            let bytes = Array(try reader.readBytes())
            payload.chunks.append(
                StreamChunk(firstID: firstID, lastID: lastID, fieldNames: names, bytes: bytes, count: count, live: live)
            )
        }
        let groupCount = try reader.readLength()
        for _ in 0..<groupCount {
            let name = Array(try reader.readBytes())
            let lastDelivered = StreamID(ms: try reader.read(), seq: try reader.read())
            let group = StreamGroup(name: name, lastDeliveredID: lastDelivered, entriesRead: try reader.read())
            let consumerCount = try reader.readLength()
            for _ in 0..<consumerCount {
                let consumerName = Array(try reader.readBytes())
                let consumer = StreamConsumer(
                    name: consumerName, seenTime: try reader.read(), activeTime: try reader.read())
                group.consumers[consumerName] = consumer
            }
            let pendingCount = try reader.readLength()
            for _ in 0..<pendingCount {
                let id = StreamID(ms: try reader.read(), seq: try reader.read())
                let consumerName = Array(try reader.readBytes())
                let time: Int64 = try reader.read()
                let deliveries: Int64 = try reader.read()
                guard let consumer = group.consumers[consumerName] else {
                    throw SnapshotDamage(
                        path: reader.path, offset: 0, reason: "stream pending entry of an unknown consumer")
                }
                group.assign(id, to: consumer, now: time, deliveryCount: deliveries)
            }
            _ = payload.addGroup(group)
        }
        return payload
    }
}
