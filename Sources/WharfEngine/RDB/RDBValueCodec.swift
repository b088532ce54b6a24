import DequeModule
import WharfProtocol

/// A value as the RDB format describes it, independent of how either server stores it.
package enum RDBValue {
    case string([UInt8])
    case list([[UInt8]])
    case set([[UInt8]])
    case sortedSet([(member: [UInt8], score: Double)])
    case hash([(field: [UInt8], value: [UInt8])])
    case stream(RDBStream)

    package var typeName: String {
        switch self {
        case .string: return "string"
        case .list: return "list"
        case .set: return "set"
        case .sortedSet: return "zset"
        case .hash: return "hash"
        case .stream: return "stream"
        }
    }
}

package struct RDBStream {
    package struct Entry {
        var id: StreamID
        var deleted: Bool
        var pairs: [(field: [UInt8], value: [UInt8])]
    }

    package struct Group {
        var name: [UInt8]
        var lastID: StreamID
        var entriesRead: Int64
        /// The group's pending entries: ID, last delivery time, deliveries.
        var pending: [(id: StreamID, time: Int64, count: Int64)]
        /// Consumers: name, seen time, the IDs pending for each.
        var consumers: [(name: [UInt8], seenTime: Int64, pending: [StreamID])]
    }

    var entries: [Entry] = []
    var length: UInt64 = 0
    var lastID = StreamID.zero
    var maxDeletedID = StreamID.zero
    var entriesAdded: UInt64 = 0
    var groups: [Group] = []
}

// MARK: - Reading

package enum RDBValueReader {
    /// Reads the value of type `typeByte` at the reader's position.
    package static func read(type typeByte: UInt8, from reader: inout RDBReader) throws(RDB.Failure) -> RDBValue {
        guard let type = RDB.ValueType(rawValue: typeByte) else {
            throw reader.failure("unsupported value type \(typeByte)")
        }
        switch type {
        case .string:
            return .string(try reader.string())
        case .list:
            let count = try reader.length()
            var items: [[UInt8]] = []
            for _ in 0..<count { items.append(try reader.string()) }
            return .list(items)
        case .set:
            let count = try reader.length()
            var members: [[UInt8]] = []
            for _ in 0..<count { members.append(try reader.string()) }
            return .set(members)
        case .sortedSet, .sortedSet2:
            let count = try reader.length()
            var members: [(member: [UInt8], score: Double)] = []
            for _ in 0..<count {
                let member = try reader.string()
                let score = type == .sortedSet2 ? try reader.binaryDouble() : try reader.textDouble()
                guard !score.isNaN else { throw reader.failure("sorted set score is NaN") }
                members.append((member, score))
            }
            return .sortedSet(members)
        case .hash:
            let count = try reader.length()
            var pairs: [(field: [UInt8], value: [UInt8])] = []
            for _ in 0..<count { pairs.append((try reader.string(), try reader.string())) }
            return .hash(pairs)
        case .setIntset:
            let at = reader.position
            return .set(try Intset.decode(try reader.string(), offset: at).map { Array(String($0).utf8) })
        case .hashListpack:
            let at = reader.position
            let elements = try Listpack.decode(try reader.string(), offset: at)
            guard elements.count % 2 == 0 else { throw reader.failure("odd hash listpack") }
            return .hash(stride(from: 0, to: elements.count, by: 2).map { (elements[$0].text, elements[$0 + 1].text) })
        case .sortedSetListpack:
            let at = reader.position
            let elements = try Listpack.decode(try reader.string(), offset: at)
            guard elements.count % 2 == 0 else { throw reader.failure("odd sorted set listpack") }
            var members: [(member: [UInt8], score: Double)] = []
            for index in stride(from: 0, to: elements.count, by: 2) {
                let score: Double
                switch elements[index + 1] {
                case .integer(let value): score = Double(value)
                case .bytes(let text):
                    guard let parsed = text.withUnsafeBytes({ RESPDouble.parse($0) }) else {
                        throw reader.failure("bad score")
                    }
                    score = parsed
                }
                members.append((elements[index].text, score))
            }
            return .sortedSet(members)
        case .listQuicklist2:
            let nodes = try reader.length()
            var items: [[UInt8]] = []
            for _ in 0..<nodes {
                let container = try reader.length()
                let at = reader.position
                let node = try reader.string()
                if container == 1 {
                    items.append(node)
                } else if container == 2 {
                    items.append(contentsOf: try Listpack.decode(node, offset: at).map(\.text))
                } else {
                    throw reader.failure("unknown quicklist container \(container)")
                }
            }
            return .list(items)
        case .streamListpacks, .streamListpacks2:
            return .stream(try self.readStream(&reader, version2: type == .streamListpacks2))
        case .hashZipmap, .listZiplist, .sortedSetZiplist, .hashZiplist, .listQuicklist:
            throw reader.failure("value type \(typeByte) (a ziplist or zipmap from before Redis 7.0) is not supported")
        }
    }

    private static func streamID(_ raw: UnsafeRawBufferPointer) -> StreamID {
        StreamID(
            ms: UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: 0, as: UInt64.self)),
            seq: UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: 8, as: UInt64.self)))
    }

    private static func readStream(_ reader: inout RDBReader, version2: Bool) throws(RDB.Failure) -> RDBStream {
        var stream = RDBStream()
        let nodes = try reader.length()
        for _ in 0..<nodes {
            let key = try reader.string()
            guard key.count == 16 else { throw reader.failure("bad stream node key") }
            let master = key.withUnsafeBytes { streamID($0) }
            let at = reader.position
            let elements = try Listpack.decode(try reader.string(), offset: at)
            try self.readStreamNode(elements, master: master, into: &stream, reader: reader)
        }
        stream.length = try reader.length64()
        stream.lastID = StreamID(ms: try reader.length64(), seq: try reader.length64())
        if version2 {
            _ = StreamID(ms: try reader.length64(), seq: try reader.length64())  // first ID: derived from the entries
            stream.maxDeletedID = StreamID(ms: try reader.length64(), seq: try reader.length64())
            stream.entriesAdded = try reader.length64()
        } else {
            stream.entriesAdded = stream.length
        }
        let groupCount = try reader.length()
        for _ in 0..<groupCount {
            let name = try reader.string()
            let lastID = StreamID(ms: try reader.length64(), seq: try reader.length64())
            var entriesRead = StreamGroup.unknownEntriesRead
            if version2 { entriesRead = Int64(bitPattern: try reader.length64()) }
            var group = RDBStream.Group(
                name: name, lastID: lastID, entriesRead: entriesRead, pending: [], consumers: [])
            let pendingCount = try reader.length()
            for _ in 0..<pendingCount {
                let id = streamID(try reader.raw(16))
                let time = Int64(bitPattern: try reader.littleEndian(UInt64.self))
                let count = Int64(bitPattern: try reader.length64())
                group.pending.append((id, time, count))
            }
            let consumerCount = try reader.length()
            for _ in 0..<consumerCount {
                let consumerName = try reader.string()
                let seen = Int64(bitPattern: try reader.littleEndian(UInt64.self))
                let owned = try reader.length()
                var ids: [StreamID] = []
                for _ in 0..<owned { ids.append(streamID(try reader.raw(16))) }
                group.consumers.append((consumerName, seen, ids))
            }
            stream.groups.append(group)
        }
        return stream
    }

    /// One stream listpack: the master entry (counts and master fields), then entries of
    /// flags, ID differences, and fields (own, or the master's) with values.
    private static func readStreamNode(
        _ elements: [Listpack.Element], master: StreamID, into stream: inout RDBStream, reader: RDBReader
    ) throws(RDB.Failure) {
        var index = 0
        func next() throws(RDB.Failure) -> Listpack.Element {
            guard index < elements.count else { throw reader.failure("short stream node") }
            defer { index += 1 }
            return elements[index]
        }
        func integer() throws(RDB.Failure) -> Int64 {
            guard case .integer(let value) = try next() else { throw reader.failure("bad stream node") }
            return value
        }
        let live = try integer()
        let deleted = try integer()
        let masterFieldCount = try integer()
        guard masterFieldCount >= 0 else { throw reader.failure("bad stream node") }
        var masterFields: [[UInt8]] = []
        for _ in 0..<masterFieldCount { masterFields.append(try next().text) }
        guard try integer() == 0 else { throw reader.failure("bad stream master entry") }
        var seen: Int64 = 0
        while index < elements.count {
            let flags = try integer()
            let msDifference = try integer()
            let seqDifference = try integer()
            let id = StreamID(
                ms: master.ms &+ UInt64(bitPattern: msDifference), seq: master.seq &+ UInt64(bitPattern: seqDifference))
            var pairs: [(field: [UInt8], value: [UInt8])] = []
            if flags & 2 != 0 {
                for field in masterFields { pairs.append((field, try next().text)) }
            } else {
                let count = try integer()
                guard count >= 0 else { throw reader.failure("bad stream entry") }
                for _ in 0..<count { pairs.append((try next().text, try next().text)) }
            }
            _ = try integer()  // lp-count, for walking backwards
            stream.entries.append(RDBStream.Entry(id: id, deleted: flags & 1 != 0, pairs: pairs))
            seen += 1
        }
        guard seen == live + deleted else { throw reader.failure("stream node counts disagree") }
    }
}

// MARK: - Writing

/// Writes a Wharf value in the encodings Redis 7.0 writes: listpacks and intsets for small
/// values, quicklists of listpacks for lists, the table forms for large sets, hashes and
/// sorted sets, listpack nodes for streams.
package enum RDBValueWriter {
    /// The type byte and value bytes of `entry` (a DUMP payload without its footer).
    package static func write(_ entry: Entry, into writer: inout RDBWriter) {
        switch entry.kind.family {
        case .string:
            writer.byte(RDB.ValueType.string.rawValue)
            // Short canonical integers take the integer encoding, as in Redis.
            entry.withStringBytes { writer.string($0) }
        case .list:
            writer.byte(RDB.ValueType.listQuicklist2.rawValue)
            self.writeList(ListCommands.View(entry), into: &writer)
        case .set:
            if entry.kind == .intset {
                writer.byte(RDB.ValueType.setIntset.rawValue)
                let bytes = entry.rawValueBytes
                writer.string(Intset.encode((0..<Packed.intsetCount(bytes)).map { Packed.intsetValue(bytes, at: $0) }))
            } else {
                writer.byte(RDB.ValueType.set.rawValue)
                let view = SetCommands.View(entry)
                writer.length(view.count)
                view.forEach { writer.string($0) }
            }
        case .hash:
            let view = HashCommands.View(entry)
            if entry.kind == .packedHash {
                writer.byte(RDB.ValueType.hashListpack.rawValue)
                var builder = Listpack.Builder()
                view.forEach { field, value in
                    builder.append(field)
                    builder.append(value)
                }
                writer.string(builder.finished())
            } else {
                writer.byte(RDB.ValueType.hash.rawValue)
                writer.length(view.count)
                view.forEach { field, value in
                    writer.string(field)
                    writer.string(value)
                }
            }
        case .sortedSet:
            let handle = SortedSetHandle(entry)
            if entry.kind == .packedSortedSet {
                writer.byte(RDB.ValueType.sortedSetListpack.rawValue)
                var builder = Listpack.Builder()
                handle.forEach(from: 0) { item in
                    builder.append(item.member)
                    builder.append(Array(RESPDouble.format(item.score).utf8))
                    return true
                }
                writer.string(builder.finished())
            } else {
                writer.byte(RDB.ValueType.sortedSet2.rawValue)
                writer.length(handle.count)
                // Highest first, as Redis writes them (each then inserts at the head on load).
                handle.forEach(from: handle.count - 1, reverse: true) { item in
                    writer.string(item.member)
                    writer.binaryDouble(item.score)
                    return true
                }
            }
        case .stream:
            writer.byte(RDB.ValueType.streamListpacks2.rawValue)
            self.writeStream(entry.payload(as: StreamPayload.self), into: &writer)
        }
    }

    /// Quicklist nodes of at most 8 KB (Redis's default `list-max-listpack-size -2`).
    private static func writeList(_ view: ListCommands.View, into writer: inout RDBWriter) {
        var nodes: [[UInt8]] = []
        var builder = Listpack.Builder()
        if view.count > 0 {
            view.forEach(in: 0...(view.count - 1)) { _, item in
                if builder.count > 0 && builder.size + item.count + 11 > 8192 {
                    nodes.append(builder.finished())
                    builder = Listpack.Builder()
                }
                builder.append(item)
                return true
            }
        }
        if builder.count > 0 { nodes.append(builder.finished()) }
        writer.length(nodes.count)
        for node in nodes {
            writer.length(2)  // a packed node
            node.withUnsafeBytes { bytes in
                writer.length(bytes.count)
                writer.raw(bytes)
            }
        }
    }

    private static func rawID(_ id: StreamID, into writer: inout RDBWriter) {
        writer.bigEndian(id.ms)
        writer.bigEndian(id.seq)
    }

    private static func writeStream(_ stream: StreamPayload, into writer: inout RDBWriter) {
        // One listpack node per chunk, its first entry the master.
        var nodes: [(StreamID, [UInt8])] = []
        for chunk in stream.chunks {
            var master: StreamID?
            var masterFields: [[UInt8]] = []
            var live = 0
            var deleted = 0
            var body = Listpack.Builder()
            chunk.forEach { cursor in
                var pairs: [([UInt8], [UInt8])] = []
                chunk.forEachPair(cursor) { field, value in pairs.append((Array(field), Array(value))) }
                if master == nil {
                    master = cursor.id
                    masterFields = pairs.map(\.0)
                }
                if cursor.deleted { deleted += 1 } else { live += 1 }
                let same = pairs.map(\.0) == masterFields
                body.append(Int64((cursor.deleted ? 1 : 0) | (same ? 2 : 0)))
                body.append(Int64(bitPattern: cursor.id.ms &- master!.ms))
                body.append(Int64(bitPattern: cursor.id.seq &- master!.seq))
                if same {
                    for pair in pairs { body.append(pair.1) }
                } else {
                    body.append(Int64(pairs.count))
                    for pair in pairs {
                        body.append(pair.0)
                        body.append(pair.1)
                    }
                }
                body.append(Int64(same ? pairs.count + 3 : pairs.count * 2 + 4))
                return true
            }
            guard let master else { continue }
            var node = Listpack.Builder()
            node.append(Int64(live))
            node.append(Int64(deleted))
            node.append(Int64(masterFields.count))
            for field in masterFields { node.append(field) }
            node.append(Int64(0))
            // The master entry, then the entries already encoded (their bytes follow on).
            node.bytes.append(contentsOf: body.bytes.dropFirst(6))
            node.count += body.count
            nodes.append((master, node.finished()))
        }
        writer.length(nodes.count)
        for (master, node) in nodes {
            writer.length(16)
            self.rawID(master, into: &writer)
            writer.length(node.count)
            node.withUnsafeBytes { writer.raw($0) }
        }
        writer.length(UInt64(stream.length))
        writer.length(stream.lastID.ms)
        writer.length(stream.lastID.seq)
        let first = stream.firstID
        writer.length(first.ms)
        writer.length(first.seq)
        writer.length(stream.maxDeletedID.ms)
        writer.length(stream.maxDeletedID.seq)
        writer.length(stream.entriesAdded)
        writer.length(stream.groups.count)
        for group in stream.groups {
            writer.string(group.name)
            writer.length(group.lastDeliveredID.ms)
            writer.length(group.lastDeliveredID.seq)
            writer.length(UInt64(bitPattern: group.entriesRead))
            writer.length(group.pending.count)
            for index in 0..<group.pending.count {
                self.rawID(group.pending.ids[index], into: &writer)
                writer.littleEndian(UInt64(bitPattern: group.pending.values[index].deliveryTime))
                writer.length(UInt64(bitPattern: group.pending.values[index].deliveryCount))
            }
            let consumers = group.sortedConsumers
            writer.length(consumers.count)
            for consumer in consumers {
                writer.string(consumer.name)
                writer.littleEndian(UInt64(bitPattern: consumer.seenTime))
                writer.length(consumer.pending.count)
                for id in consumer.pending.ids { self.rawID(id, into: &writer) }
            }
        }
    }

    /// A DUMP payload: the value, the RDB version and the CRC-64 of both.
    package static func dumpPayload(_ entry: Entry) -> [UInt8] {
        var writer = RDBWriter()
        self.write(entry, into: &writer)
        writer.appendDumpFooter()
        return writer.bytes
    }
}
