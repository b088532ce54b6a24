import Atomics
import DequeModule
import WharfProtocol
import WharfStorage

/// DUMP and RESTORE in Redis 7.0's serialization (RDB version 10 with a CRC-64 footer), so a
/// value dumped from Redis restores in Wharf and the reverse.
///
/// Effect rule: RESTORE is logged with its absolute expiry (`RESTORE key at payload REPLACE
/// ABSTTL`), so replay does not depend on when it runs.
enum DumpCommands {
    static let declarations: [CommandSpec] = [
        CommandSpec(
            "dump", arity: 2, flags: [.readonly], keys: .single, acl: [.keyspace], group: .generic,
            since: "2.6.0", summary: "Returns a serialized representation of the value stored at a key.",
            complexity:
                "O(1) to access the key and additional O(N*M) to serialize it, where N is the number of Redis objects composing the value and M their average size.",
            handler: dump),
        CommandSpec(
            "restore", arity: -4, flags: [.write, .denyOOM], keys: .single, acl: [.keyspace, .dangerous],
            group: .generic,
            since: "2.6.0", summary: "Creates a key from the serialized representation of a value.",
            complexity:
                "O(1) to create the new key and additional O(N*M) to reconstruct the serialized value, where N is the number of Redis objects composing the value and M their average size.",
            handler: restore),
    ]

    static func dump(_ context: inout CommandContext) {
        let key = context.arguments[1]
        let hash = context.hash(key)
        let shard = context.database.shard(for: hash)
        context.lock(shard)
        defer { context.unlock(shard) }
        guard let entry = context.lookupRead(shard, key, hash: hash) else { return context.reply.writeNull() }
        context.reply.writeBulkString(RDBValueWriter.dumpPayload(entry))
    }

    /// Checks a DUMP payload's footer: an RDB version Redis 7.0 reads and a matching CRC-64.
    static func verifyPayload(_ payload: UnsafeRawBufferPointer) -> Bool {
        guard payload.count >= 10 else { return false }
        let footer = payload.count - 10
        let version = UInt16(payload[footer]) | UInt16(payload[footer + 1]) << 8
        guard version <= RDB.version else { return false }
        let stored = UInt64(littleEndian: payload.loadUnaligned(fromByteOffset: payload.count - 8, as: UInt64.self))
        return CRC64.update(0, UnsafeRawBufferPointer(rebasing: payload[..<(payload.count - 8)])) == stored
    }

    /// The value inside a verified payload, or nil if it does not parse.
    static func decodePayload(_ payload: UnsafeRawBufferPointer) -> RDBValue? {
        var reader = RDBReader(UnsafeRawBufferPointer(rebasing: payload[..<(payload.count - 10)]))
        guard let type = try? reader.byte(), let value = try? RDBValueReader.read(type: type, from: &reader),
            reader.isAtEnd
        else {
            return nil
        }
        return value
    }

    static func restore(_ context: inout CommandContext) {
        var replace = false
        var absolute = false
        var idleSeconds: Int64?
        var frequency: Int64?
        var index = 4
        while index < context.arguments.count {
            let word = context.arguments[index]
            let more = index + 1 < context.arguments.count
            if word.equalsIgnoringCase("REPLACE") {
                replace = true
            } else if word.equalsIgnoringCase("ABSTTL") {
                absolute = true
            } else if word.equalsIgnoringCase("IDLETIME") && more && frequency == nil {
                guard let value = context.integerArgument(index + 1) else { return }
                guard value >= 0 else { return context.reply.writeError("ERR Invalid IDLETIME value, must be >= 0") }
                idleSeconds = value
                index += 1
            } else if word.equalsIgnoringCase("FREQ") && more && idleSeconds == nil {
                guard let value = context.integerArgument(index + 1) else { return }
                guard value >= 0 && value <= 255 else {
                    return context.reply.writeError("ERR Invalid FREQ value, must be >= 0 and <= 255")
                }
                frequency = value
                index += 1
            } else {
                return context.replySyntaxError()
            }
            index += 1
        }
        let key = context.arguments[1]
        let hash = context.hash(key)
        let shard = context.database.shard(for: hash)
        context.lock(shard)
        defer { context.unlock(shard) }
        let existing = shard.lookup(key, hash: hash, now: context.now)
        if !replace && existing != nil { return context.reply.writeError("BUSYKEY Target key name already exists.") }
        guard var ttl = context.integerArgument(2) else { return }
        guard ttl >= 0 else { return context.reply.writeError("ERR Invalid TTL value, must be >= 0") }
        let payload = context.arguments[3]
        guard verifyPayload(payload) else {
            return context.reply.writeError("ERR DUMP payload version or checksum are wrong")
        }
        guard let value = decodePayload(payload) else { return context.reply.writeError("ERR Bad data format") }
        if let existing { shard.remove(at: existing) }
        if ttl > 0 && !absolute { ttl += context.now }
        if ttl > 0 && ttl <= context.now {
            // Already expired: the key is gone (an old one deleted), as in Redis.
            if existing != nil {
                context.logEffect { log in
                    log.argument("DEL")
                    log.argument(key)
                }
                context.notify(KeyspaceEvents.generic, "del", key)
            }
            return context.reply.writeOK()
        }
        guard context.storeRestored(value, key: key, hash: hash, in: shard) else {
            return context.reply.writeError("ERR Bad data format")
        }
        context.finishRestored(
            key, hash: hash, in: shard, expireAt: ttl > 0 ? ttl : nil, idleSeconds: idleSeconds, frequency: frequency)
        let expireAt = ttl
        context.logEffect { log in
            log.argument("RESTORE")
            log.argument(key)
            log.argument(expireAt)
            log.argument(payload)
            log.argument("REPLACE")
            log.argument("ABSTTL")
        }
        context.notify(KeyspaceEvents.generic, "restore", key)
        context.signalReady(key)
        context.reply.writeOK()
    }
}

extension CommandContext {
    /// Stores a decoded RDB value as a new key (the caller removed any old one), in the
    /// encoding Wharf's thresholds choose. False when the value breaks a rule of its type
    /// (duplicate members, a pending entry without a consumer …), with nothing stored.
    package mutating func storeRestored(_ value: RDBValue, key: UnsafeRawBufferPointer, hash: UInt64, in shard: Shard)
        -> Bool
    {
        switch value {
        case .string(let bytes):
            let entry = bytes.withUnsafeBytes {
                Entry.makeString(key: key, value: $0, expireAt: nil, access: self.initialAccessClock)
            }
            shard.insert(entry, hash: hash)
            return true
        case .list(let items):
            guard !items.isEmpty else { return false }
            ListCommands.modify(&self, shard, key, hash: hash, slot: nil) { list in
                for item in items { item.withUnsafeBytes { list.append(CompactBytes($0)) } }
            }
            return true
        case .set(let members):
            guard !members.isEmpty else { return false }
            return ByteArena(members).withBuffers { buffers in
                var editor = SetCommands.Editor(integers: [])
                let limit = SetCommands.intsetLimit(self)
                for member in buffers where !editor.add(member, intsetLimit: limit) { return false }
                SetCommands.commit(self, shard, key, hash: hash, slot: nil, editor)
                return true
            }
        case .hash(let pairs):
            guard !pairs.isEmpty else { return false }
            return ByteArena(pairs.flatMap { [$0.field, $0.value] }).withBuffers { buffers in
                var editor = HashCommands.editor(shard, slot: nil)
                for index in stride(from: 0, to: buffers.count, by: 2)
                where !editor.set(buffers[index], buffers[index + 1]) {
                    return false
                }
                HashCommands.commit(self, shard, key, hash: hash, slot: nil, editor)
                return true
            }
        case .sortedSet(let members):
            guard !members.isEmpty else { return false }
            return ByteArena(members.map(\.member)).withBuffers { buffers in
                var handle = SortedSetHandle()
                if members.count > self.settings.zsetMaxListpackEntries.load(ordering: .relaxed) {
                    handle = SortedSetHandle(payload: SortedSetPayload(members: RecordTable(), order: OrderTree()))
                }
                for (index, member) in buffers.enumerated() where handle.set(member, score: members[index].score) != nil
                {
                    return false
                }
                self.commitSortedSet(shard, key, hash: hash, slot: nil, handle)
                return true
            }
        case .stream(let stream):
            guard let payload = self.makeStream(stream) else { return false }
            self.store(shard, key, hash: hash, slot: nil, kind: .stream, payload: payload)
            return true
        }
    }

    /// Gives a key just stored by ``storeRestored`` its expiry and, when given, its LRU idle
    /// time or LFU frequency (RESTORE's IDLETIME and FREQ, a file's idle and freq records).
    package func finishRestored(
        _ key: UnsafeRawBufferPointer, hash: UInt64, in shard: Shard, expireAt: Int64?, idleSeconds: Int64?,
        frequency: Int64?
    ) {
        guard let slot = shard.table.find(key, hash: hash) else { return }
        if let expireAt { shard.replace(at: slot, with: shard.entry(at: slot).withExpiry(expireAt)) }
        let stored = shard.entry(at: slot)
        if let idleSeconds {
            let clock = Int64(AccessTracking.lruClock(now: self.now)) - idleSeconds
            stored.accessClock = UInt32(truncatingIfNeeded: clock) & AccessTracking.lruClockMax
        } else if let frequency {
            stored.accessClock = AccessTracking.minutes(now: self.now) << 8 | UInt32(frequency)
        }
    }

    private func makeStream(_ stream: RDBStream) -> StreamPayload? {
        let payload = StreamPayload()
        let maxBytes = self.settings.streamNodeMaxBytes.load(ordering: .relaxed)
        let maxEntries = self.settings.streamNodeMaxEntries.load(ordering: .relaxed)
        var previous: StreamID?
        for entry in stream.entries {
            if let previous, entry.id <= previous { return nil }
            guard !entry.pairs.isEmpty else { return nil }
            previous = entry.id
            let appended = ByteArena(entry.pairs.flatMap { [$0.field, $0.value] }).withArguments { arguments in
                payload.append(
                    id: entry.id, pairs: FieldValuePairs(arguments, from: 0), maxChunkBytes: maxBytes,
                    maxChunkEntries: maxEntries)
                return true
            }
            guard appended else { return nil }
        }
        // Deleted entries stay as tombstones, as they were in the dumped stream.
        for entry in stream.entries where entry.deleted { _ = payload.delete(entry.id) }
        payload.length = Int(stream.length)
        payload.lastID = stream.lastID
        payload.maxDeletedID = stream.maxDeletedID
        payload.entriesAdded = stream.entriesAdded
        for restored in stream.groups {
            let group = StreamGroup(
                name: restored.name, lastDeliveredID: restored.lastID, entriesRead: restored.entriesRead)
            var owners: [StreamID: StreamConsumer] = [:]
            for (name, seen, pending) in restored.consumers {
                // RDB 10 has no activity time; Redis 7.2 takes the seen time for it too.
                let consumer = StreamConsumer(name: name, seenTime: seen, activeTime: seen)
                group.consumers[name] = consumer
                for id in pending { owners[id] = consumer }
            }
            for pending in restored.pending {
                guard let consumer = owners[pending.id] else { return nil }
                group.assign(pending.id, to: consumer, now: pending.time, deliveryCount: pending.count)
            }
            guard payload.addGroup(group) else { return nil }
        }
        return payload
    }
}

/// Byte arrays laid out in one buffer, so pointers to each stay valid together for as long
/// as a builder that keeps pointers (packed hashes and sorted sets) needs them.
struct ByteArena {
    private var storage: [UInt8] = []
    private var spans: [ArgumentSpan] = []

    init(_ items: [[UInt8]]) {
        self.storage.reserveCapacity(items.reduce(1) { $0 + $1.count })
        for item in items {
            self.spans.append(ArgumentSpan(offset: self.storage.count, length: item.count))
            self.storage.append(contentsOf: item)
        }
        self.storage.append(0)
    }

    func withBuffers<Result>(_ body: ([UnsafeRawBufferPointer]) -> Result) -> Result {
        self.storage.withUnsafeBytes { raw in
            body(self.spans.map { UnsafeRawBufferPointer(rebasing: raw[$0.offset..<($0.offset + $0.length)]) })
        }
    }

    func withArguments<Result>(_ body: (CommandArguments) -> Result) -> Result {
        self.storage.withUnsafeBytes { raw in
            self.spans.withUnsafeBufferPointer { spans in
                body(CommandArguments(base: raw.baseAddress!, spans: spans.baseAddress!, count: spans.count))
            }
        }
    }
}
