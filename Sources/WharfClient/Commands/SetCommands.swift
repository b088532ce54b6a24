import WharfProtocol

extension WharfCommands {
    /// SADD; returns how many members were new.
    @discardableResult
    public func sadd(_ key: some RESPArgument, _ members: String...) async throws -> Int {
        try await self.sadd(key, members)
    }

    @discardableResult
    public func sadd(_ key: some RESPArgument, _ members: [some RESPArgument]) async throws -> Int {
        var command = RESPCommand("SADD")
        command.append(key)
        command.append(contentsOf: members)
        return try await self.send(command, as: Int.self)
    }

    @discardableResult
    public func srem(_ key: some RESPArgument, _ members: String...) async throws -> Int {
        var command = RESPCommand("SREM")
        command.append(key)
        command.append(contentsOf: members)
        return try await self.send(command, as: Int.self)
    }

    /// SMEMBERS (a RESP3 set or RESP2 array), as a Swift set.
    public func smembers(_ key: some RESPArgument) async throws -> Set<String> {
        Set(try await self.send(RESPCommand("SMEMBERS", key), as: [String].self))
    }

    public func sismember(_ key: some RESPArgument, _ member: some RESPArgument) async throws -> Bool {
        try await self.send(RESPCommand("SISMEMBER", key, member), as: Bool.self)
    }

    public func scard(_ key: some RESPArgument) async throws -> Int {
        try await self.send(RESPCommand("SCARD", key), as: Int.self)
    }

    public func spop(_ key: some RESPArgument) async throws -> String? {
        try await self.send(RESPCommand("SPOP", key), as: String?.self)
    }

    public func srandmember(_ key: some RESPArgument, count: Int) async throws -> [String] {
        try await self.send(RESPCommand("SRANDMEMBER", key, count), as: [String].self)
    }

    public func sinter(_ keys: [String]) async throws -> Set<String> {
        var command = RESPCommand("SINTER")
        command.append(contentsOf: keys)
        return Set(try await self.send(command, as: [String].self))
    }

    public func sunion(_ keys: [String]) async throws -> Set<String> {
        var command = RESPCommand("SUNION")
        command.append(contentsOf: keys)
        return Set(try await self.send(command, as: [String].self))
    }
}
