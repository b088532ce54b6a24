import WharfProtocol

/// Which end of a list LMOVE and BLMOVE take from or push to.
public enum ListEnd: String, Sendable {
    case left = "LEFT"
    case right = "RIGHT"
}

extension WharfCommands {
    /// LPUSH; returns the list's new length.
    @discardableResult
    public func lpush(_ key: some RESPArgument, _ values: String...) async throws -> Int {
        try await self.push("LPUSH", key, values)
    }

    @discardableResult
    public func rpush(_ key: some RESPArgument, _ values: String...) async throws -> Int {
        try await self.push("RPUSH", key, values)
    }

    /// LPUSH or RPUSH of any argument values.
    @discardableResult
    public func push(_ name: String, _ key: some RESPArgument, _ values: [some RESPArgument]) async throws -> Int {
        var command = RESPCommand(name)
        command.append(key)
        command.append(contentsOf: values)
        return try await self.send(command, as: Int.self)
    }

    public func lpop(_ key: some RESPArgument) async throws -> String? {
        try await self.send(RESPCommand("LPOP", key), as: String?.self)
    }

    public func rpop(_ key: some RESPArgument) async throws -> String? {
        try await self.send(RESPCommand("RPOP", key), as: String?.self)
    }

    /// LPOP with a count: up to `count` elements, nil when the key does not exist.
    public func lpop(_ key: some RESPArgument, count: Int) async throws -> [String]? {
        try await self.send(RESPCommand("LPOP", key, count), as: [String]?.self)
    }

    public func lrange(_ key: some RESPArgument, _ start: Int, _ stop: Int) async throws -> [String] {
        try await self.send(RESPCommand("LRANGE", key, start, stop), as: [String].self)
    }

    public func llen(_ key: some RESPArgument) async throws -> Int {
        try await self.send(RESPCommand("LLEN", key), as: Int.self)
    }

    public func lindex(_ key: some RESPArgument, _ index: Int) async throws -> String? {
        try await self.send(RESPCommand("LINDEX", key, index), as: String?.self)
    }

    public func lset(_ key: some RESPArgument, _ index: Int, _ value: some RESPArgument) async throws {
        try await self.send(RESPCommand("LSET", key, index, value))
    }

    @discardableResult
    public func lrem(_ key: some RESPArgument, count: Int, _ value: some RESPArgument) async throws -> Int {
        try await self.send(RESPCommand("LREM", key, count, value), as: Int.self)
    }

    public func ltrim(_ key: some RESPArgument, _ start: Int, _ stop: Int) async throws {
        try await self.send(RESPCommand("LTRIM", key, start, stop))
    }

    public func lmove(
        _ source: some RESPArgument, _ destination: some RESPArgument, from: ListEnd, to: ListEnd
    ) async throws -> String? {
        try await self.send(RESPCommand("LMOVE", source, destination, from.rawValue, to.rawValue), as: String?.self)
    }

    /// BLPOP: waits up to `timeout` seconds (0: forever) for an element of any of `keys`;
    /// returns the key and the element, or nil on timeout.
    public func blpop(_ keys: [String], timeout: Double) async throws -> (key: String, value: String)? {
        try await self.blockingPop("BLPOP", keys, timeout: timeout)
    }

    public func brpop(_ keys: [String], timeout: Double) async throws -> (key: String, value: String)? {
        try await self.blockingPop("BRPOP", keys, timeout: timeout)
    }

    private func blockingPop(_ name: String, _ keys: [String], timeout: Double) async throws
        -> (key: String, value: String)?
    {
        var command = RESPCommand(name)
        command.append(contentsOf: keys)
        command.append(timeout)
        guard let pair = try await self.blocking(command, blockSeconds: timeout, as: [String]?.self) else {
            return nil
        }
        guard pair.count == 2 else { throw WharfClientError(.unexpectedReply, "\(name) replied \(pair)") }
        return (pair[0], pair[1])
    }

    public func blmove(
        _ source: some RESPArgument, _ destination: some RESPArgument, from: ListEnd, to: ListEnd, timeout: Double
    ) async throws -> String? {
        try await self.blocking(
            RESPCommand("BLMOVE", source, destination, from.rawValue, to.rawValue, timeout), blockSeconds: timeout,
            as: String?.self)
    }
}
