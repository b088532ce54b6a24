public import WharfProtocol

/// One field of a stream entry.
public struct StreamField: Sendable, Hashable {
    public var name: String
    public var value: [UInt8]
    /// The value as UTF-8 text.
    public var text: String { String(decoding: self.value, as: UTF8.self) }

    public init(_ name: String, _ value: [UInt8]) {
        self.name = name
        self.value = value
    }

    public init(_ name: String, _ value: String) {
        self.init(name, Array(value.utf8))
    }
}

/// A stream entry: its ID and fields in order. A pending entry deleted since it was
/// delivered comes back from XCLAIM or XREADGROUP with no fields and `deleted` set.
public struct StreamEntry: Sendable, Hashable {
    public var id: String
    public var fields: [StreamField]
    public var deleted: Bool

    /// The value of the first field called `name`.
    public subscript(name: String) -> String? {
        self.fields.first(where: { $0.name == name })?.text
    }

    init(reply: RESPValue) throws(WharfClientError) {
        guard let parts = reply.elements, parts.count == 2 else { throw .unexpected(reply, as: StreamEntry.self) }
        self.id = try String(reply: parts[0])
        if case .null = parts[1] {
            self.fields = []
            self.deleted = true
            return
        }
        guard let flat = parts[1].elements, flat.count % 2 == 0 else { throw .unexpected(reply, as: StreamEntry.self) }
        var fields: [StreamField] = []
        fields.reserveCapacity(flat.count / 2)
        var index = 0
        while index < flat.count {
            fields.append(StreamField(try String(reply: flat[index]), try [UInt8](reply: flat[index + 1])))
            index += 2
        }
        self.fields = fields
        self.deleted = false
    }

    package static func list(_ reply: RESPValue) throws(WharfClientError) -> [StreamEntry] {
        guard let values = reply.elements else { throw .unexpected(reply, as: [StreamEntry].self) }
        var entries: [StreamEntry] = []
        entries.reserveCapacity(values.count)
        for value in values { entries.append(try StreamEntry(reply: value)) }
        return entries
    }

    /// XREAD/XREADGROUP's answer (RESP3 map or RESP2 array of pairs) as stream → entries.
    package static func byStream(_ reply: RESPValue) throws(WharfClientError)
        -> [(stream: String, entries: [StreamEntry])]
    {
        if case .null = reply { return [] }
        var result: [(stream: String, entries: [StreamEntry])] = []
        switch reply {
        case .map(let flat):
            var index = 0
            while index + 1 < flat.count {
                result.append((try String(reply: flat[index]), try StreamEntry.list(flat[index + 1])))
                index += 2
            }
        case .array(let pairs):
            for pair in pairs {
                guard let parts = pair.elements, parts.count == 2 else {
                    throw .unexpected(reply, as: StreamEntry.self)
                }
                result.append((try String(reply: parts[0]), try StreamEntry.list(parts[1])))
            }
        default: throw .unexpected(reply, as: StreamEntry.self)
        }
        return result
    }
}

/// How XADD and XTRIM trim a stream.
public enum StreamTrim: Sendable, Hashable {
    /// MAXLEN; `approximate` lets the server trim whole nodes only (`~`), which is cheaper.
    case maxLength(Int, approximate: Bool = false)
    /// MINID: entries older than this ID go.
    case minID(String, approximate: Bool = false)

    /// The trimming arguments of XADD and XTRIM (`MAXLEN ~ 1000`, `MINID 1700000000000-0`).
    package var arguments: [String] {
        switch self {
        case .maxLength(let count, let approximate):
            return approximate ? ["MAXLEN", "~", String(count)] : ["MAXLEN", String(count)]
        case .minID(let id, let approximate):
            return approximate ? ["MINID", "~", id] : ["MINID", id]
        }
    }

    func append(to command: inout RESPCommand) {
        command.append(contentsOf: self.arguments)
    }
}

/// XPENDING's summary of a consumer group.
public struct StreamPendingSummary: Sendable, Hashable {
    public var count: Int
    public var smallestID: String?
    public var greatestID: String?
    public var consumers: [String: Int]
}

/// One pending entry, from XPENDING's extended form.
public struct StreamPendingEntry: Sendable, Hashable {
    public var id: String
    public var consumer: String
    public var idleMilliseconds: Int
    public var deliveries: Int
}

extension WharfCommands {
    /// XADD; returns the new entry's ID (nil with `noMakeStream` when the stream is absent).
    @discardableResult
    public func xadd(
        _ key: some RESPArgument, id: String = "*", _ fields: [StreamField], trim: StreamTrim? = nil,
        noMakeStream: Bool = false
    ) async throws -> String? {
        var command = RESPCommand("XADD")
        command.append(key)
        if noMakeStream { command.append("NOMKSTREAM") }
        trim?.append(to: &command)
        command.append(id)
        for field in fields {
            command.append(field.name)
            command.append(field.value)
        }
        return try await self.send(command, as: String?.self)
    }

    public func xlen(_ key: some RESPArgument) async throws -> Int {
        try await self.send(RESPCommand("XLEN", key), as: Int.self)
    }

    public func xrange(_ key: some RESPArgument, from start: String = "-", to end: String = "+", count: Int? = nil)
        async throws -> [StreamEntry]
    {
        var command = RESPCommand("XRANGE", key, start, end)
        if let count {
            command.append("COUNT")
            command.append(count)
        }
        return try StreamEntry.list(try await self.send(command))
    }

    public func xrevrange(_ key: some RESPArgument, from end: String = "+", to start: String = "-", count: Int? = nil)
        async throws -> [StreamEntry]
    {
        var command = RESPCommand("XREVRANGE", key, end, start)
        if let count {
            command.append("COUNT")
            command.append(count)
        }
        return try StreamEntry.list(try await self.send(command))
    }

    @discardableResult
    public func xdel(_ key: some RESPArgument, _ ids: [String]) async throws -> Int {
        var command = RESPCommand("XDEL")
        command.append(key)
        command.append(contentsOf: ids)
        return try await self.send(command, as: Int.self)
    }

    @discardableResult
    public func xtrim(_ key: some RESPArgument, _ trim: StreamTrim) async throws -> Int {
        var command = RESPCommand("XTRIM")
        command.append(key)
        trim.append(to: &command)
        return try await self.send(command, as: Int.self)
    }

    /// XREAD from each stream after its ID (`$` for new entries only). With `block` (in
    /// milliseconds, 0 for ever) it waits on a connection of its own; empty on timeout.
    public func xread(streams: [(key: String, id: String)], count: Int? = nil, block: Int? = nil) async throws
        -> [(stream: String, entries: [StreamEntry])]
    {
        try await self.readStreams(RESPCommand("XREAD"), streams: streams, count: count, block: block, noAck: false)
    }

    /// The shared tail of XREAD and XREADGROUP: options, STREAMS, and the read itself (on a
    /// lent connection when it blocks).
    private func readStreams(
        _ start: RESPCommand, streams: [(key: String, id: String)], count: Int?, block: Int?, noAck: Bool
    ) async throws -> [(stream: String, entries: [StreamEntry])] {
        var command = start
        if let count {
            command.append("COUNT")
            command.append(count)
        }
        if let block {
            command.append("BLOCK")
            command.append(block)
        }
        if noAck { command.append("NOACK") }
        command.append("STREAMS")
        for stream in streams { command.append(stream.key) }
        for stream in streams { command.append(stream.id) }
        if let block {
            return try StreamEntry.byStream(
                try await self.blocking(command, blockSeconds: Double(block) / 1000, as: RESPValue.self))
        }
        return try StreamEntry.byStream(try await self.send(command))
    }

    /// XGROUP CREATE; `mkStream` creates an empty stream if there is none. Returns false if
    /// the group already existed (BUSYGROUP), so it can be called on every start.
    @discardableResult
    public func xgroupCreate(_ key: some RESPArgument, group: String, id: String = "$", mkStream: Bool = true)
        async throws -> Bool
    {
        var command = RESPCommand("XGROUP", "CREATE", key, group, id)
        if mkStream { command.append("MKSTREAM") }
        do {
            try await self.send(command)
            return true
        } catch let error as WharfClientError where error.serverErrorPrefix == "BUSYGROUP" {
            return false
        }
    }

    @discardableResult
    public func xgroupDestroy(_ key: some RESPArgument, group: String) async throws -> Bool {
        try await self.send(RESPCommand("XGROUP", "DESTROY", key, group), as: Bool.self)
    }

    @discardableResult
    public func xgroupCreateConsumer(_ key: some RESPArgument, group: String, consumer: String) async throws -> Bool {
        try await self.send(RESPCommand("XGROUP", "CREATECONSUMER", key, group, consumer), as: Bool.self)
    }

    /// XGROUP DELCONSUMER; returns how many entries the consumer still had pending.
    @discardableResult
    public func xgroupDeleteConsumer(_ key: some RESPArgument, group: String, consumer: String) async throws -> Int {
        try await self.send(RESPCommand("XGROUP", "DELCONSUMER", key, group, consumer), as: Int.self)
    }

    public func xgroupSetID(_ key: some RESPArgument, group: String, id: String) async throws {
        try await self.send(RESPCommand("XGROUP", "SETID", key, group, id))
    }

    /// XREADGROUP: `>` reads new entries; an explicit ID re-reads this consumer's pending ones.
    public func xreadgroup(
        group: String, consumer: String, streams: [(key: String, id: String)], count: Int? = nil,
        block: Int? = nil, noAck: Bool = false
    ) async throws -> [(stream: String, entries: [StreamEntry])] {
        try await self.readStreams(
            RESPCommand("XREADGROUP", "GROUP", group, consumer), streams: streams, count: count, block: block,
            noAck: noAck)
    }

    /// XACK; returns how many entries were pending and are now acknowledged.
    @discardableResult
    public func xack(_ key: some RESPArgument, group: String, ids: [String]) async throws -> Int {
        var command = RESPCommand("XACK", key, group)
        command.append(contentsOf: ids)
        return try await self.send(command, as: Int.self)
    }

    public func xpending(_ key: some RESPArgument, group: String) async throws -> StreamPendingSummary {
        let reply = try await self.send(RESPCommand("XPENDING", key, group))
        guard let parts = reply.elements, parts.count == 4 else {
            throw WharfClientError.unexpected(reply, as: StreamPendingSummary.self)
        }
        var consumers: [String: Int] = [:]
        for pair in parts[3].elements ?? [] {
            guard let fields = pair.elements, fields.count == 2 else { continue }
            consumers[try String(reply: fields[0])] = try Int(reply: fields[1])
        }
        return StreamPendingSummary(
            count: try Int(reply: parts[0]), smallestID: try String?(reply: parts[1]),
            greatestID: try String?(reply: parts[2]), consumers: consumers)
    }

    public func xpending(
        _ key: some RESPArgument, group: String, start: String = "-", end: String = "+", count: Int,
        consumer: String? = nil, minIdleMilliseconds: Int? = nil
    ) async throws -> [StreamPendingEntry] {
        var command = RESPCommand("XPENDING", key, group)
        if let minIdleMilliseconds {
            command.append("IDLE")
            command.append(minIdleMilliseconds)
        }
        command.append(start)
        command.append(end)
        command.append(count)
        if let consumer { command.append(consumer) }
        let reply = try await self.send(command)
        var result: [StreamPendingEntry] = []
        for item in reply.elements ?? [] {
            guard let fields = item.elements, fields.count == 4 else {
                throw WharfClientError.unexpected(reply, as: StreamPendingEntry.self)
            }
            result.append(
                StreamPendingEntry(
                    id: try String(reply: fields[0]), consumer: try String(reply: fields[1]),
                    idleMilliseconds: try Int(reply: fields[2]), deliveries: try Int(reply: fields[3])))
        }
        return result
    }

    /// XCLAIM: takes pending entries idle at least `minIdleMilliseconds` for `consumer`.
    public func xclaim(
        _ key: some RESPArgument, group: String, consumer: String, minIdleMilliseconds: Int, ids: [String]
    ) async throws -> [StreamEntry] {
        var command = RESPCommand("XCLAIM", key, group, consumer, minIdleMilliseconds)
        command.append(contentsOf: ids)
        return try StreamEntry.list(try await self.send(command))
    }

    /// XAUTOCLAIM: the next cursor (`0-0` when the scan is done), the entries claimed, and
    /// the IDs that were pending but no longer exist.
    public func xautoclaim(
        _ key: some RESPArgument, group: String, consumer: String, minIdleMilliseconds: Int, start: String = "0-0",
        count: Int? = nil
    ) async throws -> (cursor: String, entries: [StreamEntry], deletedIDs: [String]) {
        var command = RESPCommand("XAUTOCLAIM", key, group, consumer, minIdleMilliseconds, start)
        if let count {
            command.append("COUNT")
            command.append(count)
        }
        let reply = try await self.send(command)
        guard let parts = reply.elements, parts.count >= 2 else {
            throw WharfClientError.unexpected(reply, as: StreamEntry.self)
        }
        let deleted = parts.count > 2 ? try [String](reply: parts[2]) : []
        return (try String(reply: parts[0]), try StreamEntry.list(parts[1]), deleted)
    }

    /// XINFO STREAM, as field → value.
    public func xinfoStream(_ key: some RESPArgument) async throws -> [String: RESPValue] {
        try await self.send(RESPCommand("XINFO", "STREAM", key), as: [String: RESPValue].self)
    }

    /// XINFO GROUPS: one field → value dictionary per group.
    public func xinfoGroups(_ key: some RESPArgument) async throws -> [[String: RESPValue]] {
        try await self.send(RESPCommand("XINFO", "GROUPS", key), as: [[String: RESPValue]].self)
    }

    /// XINFO CONSUMERS: one field → value dictionary per consumer.
    public func xinfoConsumers(_ key: some RESPArgument, group: String) async throws -> [[String: RESPValue]] {
        try await self.send(RESPCommand("XINFO", "CONSUMERS", key, group), as: [[String: RESPValue]].self)
    }
}
