import WharfProtocol

extension WharfCommands {
    /// DEL; returns how many keys existed.
    @discardableResult
    public func del(_ keys: String...) async throws -> Int { try await self.del(keys) }

    @discardableResult
    public func del(_ keys: [String]) async throws -> Int {
        var command = RESPCommand("DEL")
        command.append(contentsOf: keys)
        return try await self.send(command, as: Int.self)
    }

    @discardableResult
    public func unlink(_ keys: [String]) async throws -> Int {
        var command = RESPCommand("UNLINK")
        command.append(contentsOf: keys)
        return try await self.send(command, as: Int.self)
    }

    /// EXISTS; counts a key named twice twice, as Redis does.
    public func exists(_ keys: String...) async throws -> Int {
        var command = RESPCommand("EXISTS")
        command.append(contentsOf: keys)
        return try await self.send(command, as: Int.self)
    }

    @discardableResult
    public func expire(_ key: some RESPArgument, seconds: Int) async throws -> Bool {
        try await self.send(RESPCommand("EXPIRE", key, seconds), as: Bool.self)
    }

    @discardableResult
    public func pexpire(_ key: some RESPArgument, milliseconds: Int) async throws -> Bool {
        try await self.send(RESPCommand("PEXPIRE", key, milliseconds), as: Bool.self)
    }

    @discardableResult
    public func persist(_ key: some RESPArgument) async throws -> Bool {
        try await self.send(RESPCommand("PERSIST", key), as: Bool.self)
    }

    /// TTL in seconds: -1 without expiry, -2 when the key does not exist.
    public func ttl(_ key: some RESPArgument) async throws -> Int {
        try await self.send(RESPCommand("TTL", key), as: Int.self)
    }

    public func pttl(_ key: some RESPArgument) async throws -> Int {
        try await self.send(RESPCommand("PTTL", key), as: Int.self)
    }

    /// TYPE: `string`, `list`, `hash`, `set`, `zset`, `stream` or `none`.
    public func type(_ key: some RESPArgument) async throws -> String {
        try await self.send(RESPCommand("TYPE", key), as: String.self)
    }

    public func rename(_ key: some RESPArgument, to newKey: some RESPArgument) async throws {
        try await self.send(RESPCommand("RENAME", key, newKey))
    }

    /// One SCAN step: the next cursor (0 when done) and the keys found.
    public func scan(cursor: Int, match: String? = nil, count: Int? = nil, type: String? = nil) async throws
        -> (cursor: Int, keys: [String])
    {
        var command = RESPCommand("SCAN", cursor)
        if let match {
            command.append("MATCH")
            command.append(match)
        }
        if let count {
            command.append("COUNT")
            command.append(count)
        }
        if let type {
            command.append("TYPE")
            command.append(type)
        }
        let reply = try await self.send(command)
        guard let parts = reply.elements, parts.count == 2 else {
            throw WharfClientError.unexpected(reply, as: Self.self)
        }
        return (try Int(reply: parts[0]), try [String](reply: parts[1]))
    }

    /// Every key matching `pattern`, by SCAN (never KEYS, which blocks the server).
    public func scanAll(match pattern: String? = nil, count: Int = 1000) async throws -> [String] {
        var keys: [String] = []
        var cursor = 0
        repeat {
            let step = try await self.scan(cursor: cursor, match: pattern, count: count)
            keys += step.keys
            cursor = step.cursor
        } while cursor != 0
        return keys
    }

    public func ping() async throws -> String {
        try await self.send(RESPCommand("PING"), as: String.self)
    }

    public func echo(_ message: some RESPArgument) async throws -> String {
        try await self.send(RESPCommand("ECHO", message), as: String.self)
    }

    public func dbsize() async throws -> Int {
        try await self.send(RESPCommand("DBSIZE"), as: Int.self)
    }

    public func flushdb() async throws {
        try await self.send(RESPCommand("FLUSHDB"))
    }

    /// INFO, as the server's text.
    public func info(_ section: String? = nil) async throws -> String {
        try await self.send(section.map { RESPCommand("INFO", $0) } ?? RESPCommand("INFO"), as: String.self)
    }

    /// PUBLISH; returns how many subscribers received the message.
    @discardableResult
    public func publish(_ channel: some RESPArgument, _ message: some RESPArgument) async throws -> Int {
        try await self.send(RESPCommand("PUBLISH", channel, message), as: Int.self)
    }

    /// SPUBLISH, to a shard channel.
    @discardableResult
    public func spublish(_ channel: some RESPArgument, _ message: some RESPArgument) async throws -> Int {
        try await self.send(RESPCommand("SPUBLISH", channel, message), as: Int.self)
    }
}
