import WharfProtocol

extension WharfCommands {
    /// HSET; returns how many fields were added (not updated).
    @discardableResult
    public func hset(_ key: some RESPArgument, _ fields: [(String, any RESPArgument)]) async throws -> Int {
        var command = RESPCommand("HSET")
        command.append(key)
        for (field, value) in fields {
            command.append(field)
            command.append(value)
        }
        return try await self.send(command, as: Int.self)
    }

    @discardableResult
    public func hset(_ key: some RESPArgument, field: some RESPArgument, value: some RESPArgument) async throws
        -> Int
    {
        try await self.send(RESPCommand("HSET", key, field, value), as: Int.self)
    }

    @discardableResult
    public func hsetnx(_ key: some RESPArgument, field: some RESPArgument, value: some RESPArgument) async throws
        -> Bool
    {
        try await self.send(RESPCommand("HSETNX", key, field, value), as: Bool.self)
    }

    public func hget(_ key: some RESPArgument, _ field: some RESPArgument) async throws -> String? {
        try await self.send(RESPCommand("HGET", key, field), as: String?.self)
    }

    public func hmget(_ key: some RESPArgument, _ fields: [String]) async throws -> [String?] {
        var command = RESPCommand("HMGET")
        command.append(key)
        command.append(contentsOf: fields)
        return try await self.send(command, as: [String?].self)
    }

    /// HGETALL, as a dictionary (a RESP3 map or RESP2's flat array).
    public func hgetall(_ key: some RESPArgument) async throws -> [String: String] {
        try await self.send(RESPCommand("HGETALL", key), as: [String: String].self)
    }

    @discardableResult
    public func hdel(_ key: some RESPArgument, _ fields: String...) async throws -> Int {
        var command = RESPCommand("HDEL")
        command.append(key)
        command.append(contentsOf: fields)
        return try await self.send(command, as: Int.self)
    }

    @discardableResult
    public func hincrby(_ key: some RESPArgument, _ field: some RESPArgument, by amount: Int) async throws -> Int {
        try await self.send(RESPCommand("HINCRBY", key, field, amount), as: Int.self)
    }

    public func hexists(_ key: some RESPArgument, _ field: some RESPArgument) async throws -> Bool {
        try await self.send(RESPCommand("HEXISTS", key, field), as: Bool.self)
    }

    public func hlen(_ key: some RESPArgument) async throws -> Int {
        try await self.send(RESPCommand("HLEN", key), as: Int.self)
    }

    public func hkeys(_ key: some RESPArgument) async throws -> [String] {
        try await self.send(RESPCommand("HKEYS", key), as: [String].self)
    }

    public func hvals(_ key: some RESPArgument) async throws -> [String] {
        try await self.send(RESPCommand("HVALS", key), as: [String].self)
    }
}
