import WharfProtocol

/// A sorted-set member with its score.
public struct ScoredMember: Sendable, Hashable {
    public var member: String
    public var score: Double

    public init(_ member: String, score: Double) {
        self.member = member
        self.score = score
    }
}

extension WharfCommands {
    /// ZADD; returns how many members were added.
    @discardableResult
    public func zadd(_ key: some RESPArgument, _ members: [ScoredMember]) async throws -> Int {
        var command = RESPCommand("ZADD")
        command.append(key)
        for entry in members {
            command.append(entry.score)
            command.append(entry.member)
        }
        return try await self.send(command, as: Int.self)
    }

    @discardableResult
    public func zadd(_ key: some RESPArgument, score: Double, member: some RESPArgument) async throws -> Int {
        try await self.send(RESPCommand("ZADD", key, score, member), as: Int.self)
    }

    @discardableResult
    public func zincrby(_ key: some RESPArgument, by amount: Double, member: some RESPArgument) async throws
        -> Double
    {
        try await self.send(RESPCommand("ZINCRBY", key, amount, member), as: Double.self)
    }

    public func zscore(_ key: some RESPArgument, _ member: some RESPArgument) async throws -> Double? {
        try await self.send(RESPCommand("ZSCORE", key, member), as: Double?.self)
    }

    public func zcard(_ key: some RESPArgument) async throws -> Int {
        try await self.send(RESPCommand("ZCARD", key), as: Int.self)
    }

    public func zrank(_ key: some RESPArgument, _ member: some RESPArgument) async throws -> Int? {
        try await self.send(RESPCommand("ZRANK", key, member), as: Int?.self)
    }

    @discardableResult
    public func zrem(_ key: some RESPArgument, _ members: String...) async throws -> Int {
        var command = RESPCommand("ZREM")
        command.append(key)
        command.append(contentsOf: members)
        return try await self.send(command, as: Int.self)
    }

    /// ZRANGE by rank, members only.
    public func zrange(_ key: some RESPArgument, _ start: Int, _ stop: Int, reverse: Bool = false) async throws
        -> [String]
    {
        var command = RESPCommand("ZRANGE", key, start, stop)
        if reverse { command.append("REV") }
        return try await self.send(command, as: [String].self)
    }

    /// ZRANGE … WITHSCORES by rank.
    public func zrangeWithScores(_ key: some RESPArgument, _ start: Int, _ stop: Int, reverse: Bool = false)
        async throws -> [ScoredMember]
    {
        var command = RESPCommand("ZRANGE", key, start, stop)
        if reverse { command.append("REV") }
        command.append("WITHSCORES")
        return try ScoredMember.list(from: try await self.send(command))
    }

    /// ZRANGE … BYSCORE with `min`/`max` in Redis's syntax (`-inf`, `(1.5` …).
    public func zrangeByScore(
        _ key: some RESPArgument, min: String, max: String, limit: (offset: Int, count: Int)? = nil
    ) async throws -> [String] {
        var command = RESPCommand("ZRANGE", key, min, max, "BYSCORE")
        if let limit {
            command.append("LIMIT")
            command.append(limit.offset)
            command.append(limit.count)
        }
        return try await self.send(command, as: [String].self)
    }

    public func zcount(_ key: some RESPArgument, min: String, max: String) async throws -> Int {
        try await self.send(RESPCommand("ZCOUNT", key, min, max), as: Int.self)
    }

    public func zpopmin(_ key: some RESPArgument, count: Int = 1) async throws -> [ScoredMember] {
        try ScoredMember.list(from: try await self.send(RESPCommand("ZPOPMIN", key, count)))
    }

    public func zpopmax(_ key: some RESPArgument, count: Int = 1) async throws -> [ScoredMember] {
        try ScoredMember.list(from: try await self.send(RESPCommand("ZPOPMAX", key, count)))
    }

    /// BZPOPMIN: the key and lowest member of the first non-empty set, or nil on timeout.
    public func bzpopmin(_ keys: [String], timeout: Double) async throws -> (key: String, member: ScoredMember)? {
        var command = RESPCommand("BZPOPMIN")
        command.append(contentsOf: keys)
        command.append(timeout)
        let reply = try await self.blocking(command, blockSeconds: timeout, as: RESPValue.self)
        if case .null = reply { return nil }
        guard let parts = reply.elements, parts.count == 3 else {
            throw WharfClientError.unexpected(reply, as: ScoredMember.self)
        }
        return (
            try String(reply: parts[0]), ScoredMember(try String(reply: parts[1]), score: try Double(reply: parts[2]))
        )
    }
}

extension ScoredMember {
    /// Reads RESP2's flat `member score …` and RESP3's `[[member, score] …]`.
    static func list(from reply: RESPValue) throws(WharfClientError) -> [ScoredMember] {
        guard let values = reply.elements else { throw WharfClientError.unexpected(reply, as: [ScoredMember].self) }
        var result: [ScoredMember] = []
        if let first = values.first, first.elements != nil {
            for pair in values {
                guard let parts = pair.elements, parts.count == 2 else {
                    throw WharfClientError.unexpected(reply, as: [ScoredMember].self)
                }
                result.append(ScoredMember(try String(reply: parts[0]), score: try Double(reply: parts[1])))
            }
            return result
        }
        guard values.count % 2 == 0 else { throw WharfClientError.unexpected(reply, as: [ScoredMember].self) }
        var index = 0
        while index < values.count {
            result.append(ScoredMember(try String(reply: values[index]), score: try Double(reply: values[index + 1])))
            index += 2
        }
        return result
    }
}
