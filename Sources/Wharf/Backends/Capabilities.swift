import Foundation
package import WharfClient
import WharfProtocol

/// What a SET needs from the key's current state.
package enum SetCondition: Sendable {
    case always
    /// NX: only when the key does not exist.
    case ifAbsent
    /// XX: only when it does.
    case ifPresent
}

/// A key-value record with the version that compare-and-set checks.
package struct VersionedRecord: Sendable, Hashable {
    package var value: [UInt8]
    package var version: Int
}

/// What a versioned write expects to find.
package enum WriteExpectation: Sendable, Hashable {
    case any
    case absent
    case version(Int)
    case value([UInt8])
}

/// Plain and versioned keys: what ``Cache`` and ``KeyValueStore`` need from a backend.
package protocol KeyValueBackend: Sendable {
    /// The value of `prefix` + `key` as `body` makes it from the bytes.
    func get<T>(prefix: [UInt8], key: String, _ body: (UnsafeRawBufferPointer) throws -> T) async throws -> T?
    func get(many keys: [[UInt8]]) async throws -> [[UInt8]?]
    func set(_ key: [UInt8], _ value: [UInt8], ttl: Duration?, condition: SetCondition) async throws -> Bool
    func set(many pairs: [([UInt8], [UInt8])], ttl: Duration?) async throws
    func delete(_ keys: [[UInt8]]) async throws -> Int
    /// The remaining time to live; nil for a missing key or one without expiry.
    func timeToLive(_ key: [UInt8]) async throws -> Duration?
    func readRecord(_ key: [UInt8]) async throws -> VersionedRecord?
    func readRecords(_ keys: [[UInt8]]) async throws -> [VersionedRecord?]
    /// Writes when the expectation holds; returns the new version, or nil when it did not.
    func writeRecord(_ key: [UInt8], _ value: [UInt8], ttl: Duration?, expecting: WriteExpectation) async throws
        -> Int?
    /// Deletes when the expectation holds; returns whether a record was deleted.
    func deleteRecord(_ key: [UInt8], expecting: WriteExpectation) async throws -> Bool
    /// One SCAN step over keys matching `pattern`, on the node of `routingKey` in a cluster.
    func scan(pattern: String, cursor: String, count: Int, routingKey: [UInt8]?) async throws
        -> (cursor: String, keys: [[UInt8]])
    /// Makes sure the backend (in a cluster, `routingKey`'s node) sends the keyspace
    /// notifications a watch needs.
    func enableKeyspaceNotifications(_ flags: String, routingKey: [UInt8]?) async throws
}

/// Lists and sorted sets as queues: what ``WorkQueue`` needs.
package protocol QueueBackend: Sendable {
    func push(_ key: [UInt8], _ elements: [[UInt8]]) async throws -> Int
    func pushBounded(_ key: [UInt8], _ element: [UInt8], bound: Int) async throws -> Bool
    func pop(_ key: [UInt8]) async throws -> [UInt8]?
    func pop(_ key: [UInt8], wait: Duration) async throws -> [UInt8]?
    func move(from source: [UInt8], to destination: [UInt8], wait: Duration?) async throws -> [UInt8]?
    func remove(_ key: [UInt8], element: [UInt8]) async throws -> Int
    /// Moves the oldest element of `source` to the front of `destination` (next to be taken).
    func moveBack(from source: [UInt8], to destination: [UInt8]) async throws -> [UInt8]?
    func length(_ key: [UInt8]) async throws -> Int
    func elements(_ key: [UInt8]) async throws -> [[UInt8]]
    func schedule(_ key: [UInt8], _ element: [UInt8], at milliseconds: Int64) async throws
    /// Moves scheduled elements due by `now` from `schedule` to the front of `queue`.
    func promoteDue(from schedule: [UInt8], to queue: [UInt8], now milliseconds: Int64, limit: Int) async throws
        -> Int
    func setField(_ key: [UInt8], _ field: String, _ value: String) async throws
    func fields(_ key: [UInt8]) async throws -> [String: String]
    func removeField(_ key: [UInt8], _ field: String) async throws
    func flag(_ key: [UInt8]) async throws -> Bool
    func setFlag(_ key: [UInt8]) async throws
}

/// Publishing and subscribing: what ``PubSub`` and watches need.
package protocol PubSubBackend: Sendable {
    func publish(_ channel: String, _ payload: [UInt8]) async throws -> Int
    func subscribe(channels: [String], patterns: [String], routingKey: [UInt8]?) async throws
        -> any MessageSubscription
}

/// A consumer group's figures.
package struct StreamGroupInfo: Sendable, Hashable {
    package var name: String
    package var consumers: Int
    package var pending: Int
    package var lag: Int?
}

/// Streams with consumer groups: what ``EventStream`` needs.
package protocol StreamBackend: Sendable {
    func append(_ key: [UInt8], _ fields: [StreamField], trim: StreamTrim?) async throws -> String
    /// Appends several entries in one round trip.
    func append(many key: [UInt8], _ entries: [[StreamField]], trim: StreamTrim?) async throws -> [String]
    /// Appends, then waits (WAIT, on the same connection) until `replicas` replicas have it;
    /// throws when fewer confirm within `timeout`.
    func append(
        _ key: [UInt8], _ fields: [StreamField], trim: StreamTrim?, replicas: Int, timeout: Duration
    ) async throws -> String
    func createGroup(_ key: [UInt8], _ group: String, from id: String) async throws -> Bool
    func groupExists(_ key: [UInt8], _ group: String) async throws -> Bool
    func readGroup(_ key: [UInt8], group: String, consumer: String, count: Int, wait: Duration?, id: String)
        async throws -> [StreamEntry]
    func acknowledge(_ key: [UInt8], group: String, ids: [String]) async throws -> Int
    func claimIdle(_ key: [UInt8], group: String, consumer: String, idle: Duration, count: Int) async throws
        -> [StreamEntry]
    /// Pending entries (id, consumer, idle ms, deliveries), oldest first.
    func pending(_ key: [UInt8], group: String, count: Int, consumer: String?) async throws
        -> [(id: String, consumer: String, idle: Int, deliveries: Int)]
    /// XCLAIM of `ids` for `consumer`; `justID` leaves the delivery count alone (a hand-over,
    /// not a delivery) and returns no entries.
    func claim(_ key: [UInt8], group: String, consumer: String, ids: [String], justID: Bool) async throws
        -> [StreamEntry]
    func range(_ key: [UInt8], from start: String, to end: String, count: Int?) async throws -> [StreamEntry]
    func streamLength(_ key: [UInt8]) async throws -> Int
    func trim(_ key: [UInt8], _ trim: StreamTrim) async throws -> Int
    func groups(_ key: [UInt8]) async throws -> [StreamGroupInfo]
    func consumers(_ key: [UInt8], group: String) async throws -> [(name: String, pending: Int, idle: Int)]
    func deleteConsumer(_ key: [UInt8], group: String, consumer: String) async throws
    func destroyGroup(_ key: [UInt8], group: String) async throws
    func memoryUsage(_ key: [UInt8]) async throws -> Int?
    func deleteStream(_ key: [UInt8]) async throws
}

/// Every capability over a ``CommandTransport``: the same commands for the embedded engine,
/// a Wharf server and Redis. Only the path a command takes differs.
package struct CommandBackend: KeyValueBackend, QueueBackend, PubSubBackend, StreamBackend {
    package let transport: any CommandTransport

    package init(transport: any CommandTransport) {
        self.transport = transport
    }

    // MARK: Keys

    package func get<T>(prefix: [UInt8], key: String, _ body: (UnsafeRawBufferPointer) throws -> T) async throws
        -> T?
    {
        try await self.transport.readString(prefix: prefix, key: key, body)
    }

    package func get(many keys: [[UInt8]]) async throws -> [[UInt8]?] {
        // GETs rather than MGET: in a cluster the keys may live in different slots.
        try await self.transport.pipeline(keys.map { BackendCommand("GET", $0) }).map { reply in
            switch try reply.throwingError() {
            case .bulkString(let bytes): return bytes
            default: return nil
            }
        }
    }

    package func set(_ key: [UInt8], _ value: [UInt8], ttl: Duration?, condition: SetCondition) async throws -> Bool {
        var command = BackendCommand("SET", key, value)
        if let ttl {
            command.append("PX")
            command.append(max(1, ttl.milliseconds))
        }
        switch condition {
        case .always: break
        case .ifAbsent: command.append("NX")
        case .ifPresent: command.append("XX")
        }
        return try await self.transport.run(command) != .null
    }

    package func set(many pairs: [([UInt8], [UInt8])], ttl: Duration?) async throws {
        let commands = pairs.map { pair in
            var command = BackendCommand("SET", pair.0, pair.1)
            if let ttl {
                command.append("PX")
                command.append(max(1, ttl.milliseconds))
            }
            return command
        }
        for reply in try await self.transport.pipeline(commands) { _ = try reply.throwingError() }
    }

    package func delete(_ keys: [[UInt8]]) async throws -> Int {
        try await self.transport.pipeline(keys.map { BackendCommand("DEL", $0) }).reduce(0) { total, reply in
            total + Int(try reply.throwingError().integer ?? 0)
        }
    }

    package func timeToLive(_ key: [UInt8]) async throws -> Duration? {
        let milliseconds = try await self.transport.run(BackendCommand("PTTL", key)).integer ?? -2
        return milliseconds >= 0 ? .milliseconds(milliseconds) : nil
    }

    // MARK: Versioned records (a hash with `value` and `version` fields)

    package func readRecord(_ key: [UInt8]) async throws -> VersionedRecord? {
        Self.record(try await self.transport.run(BackendCommand("HMGET", key, "value", "version")))
    }

    package func readRecords(_ keys: [[UInt8]]) async throws -> [VersionedRecord?] {
        try await self.transport.pipeline(keys.map { BackendCommand("HMGET", $0, "value", "version") }).map {
            Self.record(try $0.throwingError())
        }
    }

    private static func record(_ reply: RESPValue) -> VersionedRecord? {
        guard let parts = reply.elements, parts.count == 2, case .bulkString(let value) = parts[0] else { return nil }
        return VersionedRecord(value: value, version: Int(parts[1].string ?? "") ?? 0)
    }

    package func writeRecord(_ key: [UInt8], _ value: [UInt8], ttl: Duration?, expecting: WriteExpectation)
        async throws -> Int?
    {
        try await self.transport.withSession(routingKey: key) { session in
            if expecting != .any {
                _ = try await session.run(BackendCommand("WATCH", key))
                let current = Self.record(try await session.run(BackendCommand("HMGET", key, "value", "version")))
                guard Self.holds(expecting, current) else {
                    _ = try await session.run(BackendCommand("UNWATCH"))
                    return nil
                }
            }
            var commands = [
                BackendCommand("MULTI"), BackendCommand("HSET", key, "value", value),
                BackendCommand("HINCRBY", key, "version", 1),
            ]
            if let ttl {
                commands.append(BackendCommand("PEXPIRE", key, max(1, ttl.milliseconds)))
            } else {
                commands.append(BackendCommand("PERSIST", key))
            }
            commands.append(BackendCommand("EXEC"))
            let replies = try await session.pipeline(commands)
            let exec = try replies[replies.count - 1].throwingError()
            guard let results = exec.elements, results.count >= 2 else { return nil }
            return Int(try results[1].throwingError().integer ?? 0) as Int?
        }
    }

    package func deleteRecord(_ key: [UInt8], expecting: WriteExpectation) async throws -> Bool {
        guard expecting != .any else { return try await self.delete([key]) > 0 }
        return try await self.transport.withSession(routingKey: key) { session in
            _ = try await session.run(BackendCommand("WATCH", key))
            let current = Self.record(try await session.run(BackendCommand("HMGET", key, "value", "version")))
            guard current != nil, Self.holds(expecting, current) else {
                _ = try await session.run(BackendCommand("UNWATCH"))
                return false
            }
            let replies = try await session.pipeline([
                BackendCommand("MULTI"), BackendCommand("DEL", key), BackendCommand("EXEC"),
            ])
            return try replies[2].throwingError().elements?.first?.integer == 1
        }
    }

    private static func holds(_ expectation: WriteExpectation, _ current: VersionedRecord?) -> Bool {
        switch expectation {
        case .any: return true
        case .absent: return current == nil
        case .version(let version): return (current?.version ?? 0) == version
        case .value(let value): return current?.value == value
        }
    }

    package func scan(pattern: String, cursor: String, count: Int, routingKey: [UInt8]?) async throws
        -> (cursor: String, keys: [[UInt8]])
    {
        let reply = try await self.transport.withSession(routingKey: routingKey) { session in
            try await session.run(BackendCommand("SCAN", cursor, "MATCH", pattern, "COUNT", count))
        }
        guard let parts = reply.elements, parts.count == 2 else { return ("0", []) }
        let keys = (parts[1].elements ?? []).compactMap { value -> [UInt8]? in
            if case .bulkString(let bytes) = value { return bytes }
            return nil
        }
        return (parts[0].string ?? "0", keys)
    }

    package func enableKeyspaceNotifications(_ flags: String, routingKey: [UInt8]?) async throws {
        try await self.transport.withSession(routingKey: routingKey) { session in
            try await Self.enableKeyspaceNotifications(flags, on: session)
        }
    }

    private static func enableKeyspaceNotifications(_ flags: String, on session: any CommandSession) async throws {
        let reply = try await session.run(BackendCommand("CONFIG", "GET", "notify-keyspace-events"))
        let current = reply.elements.flatMap { $0.count == 2 ? $0[1].string : nil } ?? ""
        let all = current.contains("A") ? current + "" : current
        var merged = all
        for flag in flags where !merged.contains(flag) && !(all.contains("A") && "g$lshzxetdm".contains(flag)) {
            merged.append(flag)
        }
        if merged != current {
            _ = try await session.run(BackendCommand("CONFIG", "SET", "notify-keyspace-events", merged))
        }
    }

    // MARK: Queues

    package func push(_ key: [UInt8], _ elements: [[UInt8]]) async throws -> Int {
        var command = BackendCommand("LPUSH", key)
        for element in elements { command.append(element) }
        return Int(try await self.transport.run(command).integer ?? 0)
    }

    package func pushBounded(_ key: [UInt8], _ element: [UInt8], bound: Int) async throws -> Bool {
        try await self.transport.withSession(routingKey: key) { session in
            _ = try await session.run(BackendCommand("WATCH", key))
            let length = try await session.run(BackendCommand("LLEN", key)).integer ?? 0
            guard length < bound else {
                _ = try await session.run(BackendCommand("UNWATCH"))
                return false
            }
            let replies = try await session.pipeline([
                BackendCommand("MULTI"), BackendCommand("LPUSH", key, element), BackendCommand("EXEC"),
            ])
            // A concurrent push changed the length: the caller tries again.
            return try replies[2].throwingError() != .null
        }
    }

    package func pop(_ key: [UInt8]) async throws -> [UInt8]? {
        Self.bytes(try await self.transport.run(BackendCommand("RPOP", key)))
    }

    package func pop(_ key: [UInt8], wait: Duration) async throws -> [UInt8]? {
        let reply = try await self.transport.runBlocking(
            BackendCommand("BRPOP", key, Self.seconds(wait)), wait: wait)
        guard let parts = reply.elements, parts.count == 2 else { return nil }
        return Self.bytes(parts[1])
    }

    package func move(from source: [UInt8], to destination: [UInt8], wait: Duration?) async throws -> [UInt8]? {
        guard let wait else {
            return Self.bytes(
                try await self.transport.run(BackendCommand("LMOVE", source, destination, "RIGHT", "LEFT")))
        }
        return Self.bytes(
            try await self.transport.runBlocking(
                BackendCommand("BLMOVE", source, destination, "RIGHT", "LEFT", Self.seconds(wait)), wait: wait))
    }

    package func remove(_ key: [UInt8], element: [UInt8]) async throws -> Int {
        Int(try await self.transport.run(BackendCommand("LREM", key, 1, element)).integer ?? 0)
    }

    package func moveBack(from source: [UInt8], to destination: [UInt8]) async throws -> [UInt8]? {
        Self.bytes(try await self.transport.run(BackendCommand("LMOVE", source, destination, "RIGHT", "RIGHT")))
    }

    package func length(_ key: [UInt8]) async throws -> Int {
        Int(try await self.transport.run(BackendCommand("LLEN", key)).integer ?? 0)
    }

    package func elements(_ key: [UInt8]) async throws -> [[UInt8]] {
        (try await self.transport.run(BackendCommand("LRANGE", key, 0, -1)).elements ?? []).compactMap(Self.bytes)
    }

    package func schedule(_ key: [UInt8], _ element: [UInt8], at milliseconds: Int64) async throws {
        _ = try await self.transport.run(BackendCommand("ZADD", key, Int(milliseconds), element))
    }

    package func promoteDue(from schedule: [UInt8], to queue: [UInt8], now milliseconds: Int64, limit: Int)
        async throws -> Int
    {
        let due = try await self.transport.run(
            BackendCommand("ZRANGE", schedule, "-inf", Int(milliseconds), "BYSCORE", "LIMIT", 0, limit))
        var promoted = 0
        for element in (due.elements ?? []).compactMap(Self.bytes) {
            // ZREM decides who moves it, so two promoters never both push the same element.
            let removed = try await self.transport.run(BackendCommand("ZREM", schedule, element)).integer ?? 0
            guard removed == 1 else { continue }
            _ = try await self.transport.run(BackendCommand("RPUSH", queue, element))
            promoted += 1
        }
        return promoted
    }

    package func setField(_ key: [UInt8], _ field: String, _ value: String) async throws {
        _ = try await self.transport.run(BackendCommand("HSET", key, field, value))
    }

    package func fields(_ key: [UInt8]) async throws -> [String: String] {
        let reply = try await self.transport.run(BackendCommand("HGETALL", key))
        var result: [String: String] = [:]
        if let flat = reply.elements {
            var index = 0
            while index + 1 < flat.count {
                result[flat[index].string ?? ""] = flat[index + 1].string ?? ""
                index += 2
            }
        }
        return result
    }

    package func removeField(_ key: [UInt8], _ field: String) async throws {
        _ = try await self.transport.run(BackendCommand("HDEL", key, field))
    }

    package func flag(_ key: [UInt8]) async throws -> Bool {
        try await self.transport.run(BackendCommand("EXISTS", key)).integer == 1
    }

    package func setFlag(_ key: [UInt8]) async throws {
        _ = try await self.transport.run(BackendCommand("SET", key, "1"))
    }

    // MARK: Pub/sub

    package func publish(_ channel: String, _ payload: [UInt8]) async throws -> Int {
        Int(try await self.transport.run(BackendCommand("PUBLISH", channel, payload)).integer ?? 0)
    }

    package func subscribe(channels: [String], patterns: [String], routingKey: [UInt8]?) async throws
        -> any MessageSubscription
    {
        try await self.transport.subscribe(channels: channels, patterns: patterns, routingKey: routingKey)
    }

    // MARK: Streams

    package func append(_ key: [UInt8], _ fields: [StreamField], trim: StreamTrim?) async throws -> String {
        try await self.transport.run(Self.xadd(key, fields, trim: trim)).string ?? ""
    }

    package func append(many key: [UInt8], _ entries: [[StreamField]], trim: StreamTrim?) async throws
        -> [String]
    {
        try await self.transport.pipeline(entries.map { Self.xadd(key, $0, trim: trim) }).map {
            try $0.throwingError().string ?? ""
        }
    }

    private static func xadd(_ key: [UInt8], _ fields: [StreamField], trim: StreamTrim?) -> BackendCommand {
        var command = BackendCommand("XADD", key)
        if let trim { for argument in trim.arguments { command.append(argument) } }
        command.append("*")
        for field in fields {
            command.append(field.name)
            command.append(field.value)
        }
        return command
    }

    package func append(
        _ key: [UInt8], _ fields: [StreamField], trim: StreamTrim?, replicas: Int, timeout: Duration
    ) async throws -> String {
        let replies = try await self.transport.pipeline([
            Self.xadd(key, fields, trim: trim), BackendCommand("WAIT", replicas, timeout.milliseconds),
        ])
        let id = try replies[0].throwingError().string ?? ""
        let confirmed = try replies[1].throwingError().integer ?? 0
        guard confirmed >= replicas else {
            throw WharfError(
                .timeout,
                "entry \(id) reached \(confirmed) of \(replicas) replicas within \(timeout); it may be lost in a failover"
            )
        }
        return id
    }

    package func createGroup(_ key: [UInt8], _ group: String, from id: String) async throws -> Bool {
        do {
            _ = try await self.transport.run(BackendCommand("XGROUP", "CREATE", key, group, id, "MKSTREAM"))
            return true
        } catch let error as WharfError where error.message.hasPrefix("BUSYGROUP") {
            return false
        }
    }

    package func groupExists(_ key: [UInt8], _ group: String) async throws -> Bool {
        do {
            return try await self.groups(key).contains { $0.name == group }
        } catch let error as WharfError where error.message.hasPrefix("ERR no such key") {
            return false
        }
    }

    package func readGroup(
        _ key: [UInt8], group: String, consumer: String, count: Int, wait: Duration?, id: String
    ) async throws -> [StreamEntry] {
        var command = BackendCommand("XREADGROUP", "GROUP", group, consumer, "COUNT", count)
        if let wait {
            command.append("BLOCK")
            command.append(max(1, wait.milliseconds))
        }
        command.append("STREAMS")
        command.append(key)
        command.append(id)
        let reply =
            wait == nil
            ? try await self.transport.run(command) : try await self.transport.runBlocking(command, wait: wait)
        return try Self.entries { try StreamEntry.byStream(reply).first?.entries ?? [] }
    }

    package func acknowledge(_ key: [UInt8], group: String, ids: [String]) async throws -> Int {
        var command = BackendCommand("XACK", key, group)
        for id in ids { command.append(id) }
        return Int(try await self.transport.run(command).integer ?? 0)
    }

    package func claimIdle(_ key: [UInt8], group: String, consumer: String, idle: Duration, count: Int) async throws
        -> [StreamEntry]
    {
        let reply = try await self.transport.run(
            BackendCommand("XAUTOCLAIM", key, group, consumer, max(0, idle.milliseconds), "0-0", "COUNT", count))
        guard let parts = reply.elements, parts.count >= 2 else { return [] }
        return try Self.entries { try StreamEntry.list(parts[1]) }
    }

    package func pending(_ key: [UInt8], group: String, count: Int, consumer: String?) async throws
        -> [(id: String, consumer: String, idle: Int, deliveries: Int)]
    {
        var command = BackendCommand("XPENDING", key, group, "-", "+", count)
        if let consumer { command.append(consumer) }
        let reply = try await self.transport.run(command)
        return (reply.elements ?? []).compactMap { entry in
            guard let parts = entry.elements, parts.count == 4 else { return nil }
            return (
                parts[0].string ?? "", parts[1].string ?? "", Int(parts[2].integer ?? 0), Int(parts[3].integer ?? 0)
            )
        }
    }

    package func claim(_ key: [UInt8], group: String, consumer: String, ids: [String], justID: Bool) async throws
        -> [StreamEntry]
    {
        guard !ids.isEmpty else { return [] }
        var command = BackendCommand("XCLAIM", key, group, consumer, 0)
        for id in ids { command.append(id) }
        if justID { command.append("JUSTID") }
        let reply = try await self.transport.run(command)
        return justID ? [] : try Self.entries { try StreamEntry.list(reply) }
    }

    package func range(_ key: [UInt8], from start: String, to end: String, count: Int?) async throws -> [StreamEntry] {
        var command = BackendCommand("XRANGE", key, start, end)
        if let count {
            command.append("COUNT")
            command.append(count)
        }
        let reply = try await self.transport.run(command)
        return try Self.entries { try StreamEntry.list(reply) }
    }

    package func streamLength(_ key: [UInt8]) async throws -> Int {
        Int(try await self.transport.run(BackendCommand("XLEN", key)).integer ?? 0)
    }

    package func trim(_ key: [UInt8], _ trim: StreamTrim) async throws -> Int {
        var command = BackendCommand("XTRIM", key)
        for argument in trim.arguments { command.append(argument) }
        return Int(try await self.transport.run(command).integer ?? 0)
    }

    package func groups(_ key: [UInt8]) async throws -> [StreamGroupInfo] {
        let reply = try await self.transport.run(BackendCommand("XINFO", "GROUPS", key))
        return (reply.elements ?? []).map { group in
            let fields = Self.fields(group)
            return StreamGroupInfo(
                name: fields["name"]?.string ?? "", consumers: Int(fields["consumers"]?.integer ?? 0),
                pending: Int(fields["pending"]?.integer ?? 0), lag: fields["lag"]?.integer.map { Int($0) })
        }
    }

    package func consumers(_ key: [UInt8], group: String) async throws -> [(name: String, pending: Int, idle: Int)] {
        let reply = try await self.transport.run(BackendCommand("XINFO", "CONSUMERS", key, group))
        return (reply.elements ?? []).map { consumer in
            let fields = Self.fields(consumer)
            return (
                fields["name"]?.string ?? "", Int(fields["pending"]?.integer ?? 0), Int(fields["idle"]?.integer ?? 0)
            )
        }
    }

    package func deleteConsumer(_ key: [UInt8], group: String, consumer: String) async throws {
        _ = try await self.transport.run(BackendCommand("XGROUP", "DELCONSUMER", key, group, consumer))
    }

    package func destroyGroup(_ key: [UInt8], group: String) async throws {
        _ = try await self.transport.run(BackendCommand("XGROUP", "DESTROY", key, group))
    }

    package func memoryUsage(_ key: [UInt8]) async throws -> Int? {
        try await self.transport.run(BackendCommand("MEMORY", "USAGE", key)).integer.map { Int($0) }
    }

    package func deleteStream(_ key: [UInt8]) async throws {
        _ = try await self.transport.run(BackendCommand("DEL", key))
    }

    // MARK: Reply helpers

    static func bytes(_ value: RESPValue) -> [UInt8]? {
        switch value {
        case .bulkString(let bytes): return bytes
        case .simpleString(let text): return Array(text.utf8)
        default: return nil
        }
    }

    static func seconds(_ duration: Duration) -> String {
        String(format: "%.3f", Double(duration.milliseconds) / 1000)
    }

    /// A map reply (RESP3) or a flat field/value array (RESP2) as a dictionary.
    static func fields(_ value: RESPValue) -> [String: RESPValue] {
        var result: [String: RESPValue] = [:]
        if let flat = value.elements {
            var index = 0
            while index + 1 < flat.count {
                result[flat[index].string ?? ""] = flat[index + 1]
                index += 2
            }
        }
        return result
    }

    /// Stream entries read by the client's own parser, its errors in Wharf's terms.
    static func entries(_ parse: () throws -> [StreamEntry]) throws(WharfError) -> [StreamEntry] {
        do {
            return try parse()
        } catch {
            throw WharfError(.backend, "unexpected stream reply: \(error)")
        }
    }
}

extension Duration {
    /// Whole milliseconds, rounded down.
    package var milliseconds: Int {
        let (seconds, attoseconds) = self.components
        return Int(seconds) * 1000 + Int(attoseconds / 1_000_000_000_000_000)
    }
}
