import WharfProtocol

/// When a key set by ``WharfCommands/set(_:_:expiry:condition:)`` expires.
public enum SetExpiry: Sendable, Hashable {
    case seconds(Int)
    case milliseconds(Int)
    case unixSeconds(Int)
    case unixMilliseconds(Int)
    /// Keep the key's current time to live.
    case keepTTL
}

/// Whether ``WharfCommands/set(_:_:expiry:condition:)`` writes only when the key is absent or present.
public enum SetCondition: Sendable, Hashable {
    case ifNotExists
    case ifExists
}

extension WharfCommands {
    /// GET, as text.
    public func get(_ key: some RESPArgument) async throws -> String? {
        try await self.send(RESPCommand("GET", key), as: String?.self)
    }

    /// GET, as bytes.
    public func getBytes(_ key: some RESPArgument) async throws -> [UInt8]? {
        try await self.send(RESPCommand("GET", key), as: [UInt8]?.self)
    }

    /// SET; returns false when a condition kept it from writing.
    @discardableResult
    public func set(
        _ key: some RESPArgument, _ value: some RESPArgument, expiry: SetExpiry? = nil, condition: SetCondition? = nil
    ) async throws -> Bool {
        var command = RESPCommand("SET")
        command.append(key)
        command.append(value)
        switch expiry {
        case .seconds(let value)?:
            command.append("EX")
            command.append(value)
        case .milliseconds(let value)?:
            command.append("PX")
            command.append(value)
        case .unixSeconds(let value)?:
            command.append("EXAT")
            command.append(value)
        case .unixMilliseconds(let value)?:
            command.append("PXAT")
            command.append(value)
        case .keepTTL?: command.append("KEEPTTL")
        case nil: break
        }
        switch condition {
        case .ifNotExists?: command.append("NX")
        case .ifExists?: command.append("XX")
        case nil: break
        }
        return try await self.send(command, as: Bool.self)
    }

    /// SET … GET: writes and returns the previous value.
    public func getSet(_ key: some RESPArgument, _ value: some RESPArgument) async throws -> String? {
        try await self.send(RESPCommand("SET", key, value, "GET"), as: String?.self)
    }

    public func getdel(_ key: some RESPArgument) async throws -> String? {
        try await self.send(RESPCommand("GETDEL", key), as: String?.self)
    }

    public func mget(_ keys: [String]) async throws -> [String?] {
        var command = RESPCommand("MGET")
        command.append(contentsOf: keys)
        return try await self.send(command, as: [String?].self)
    }

    public func mset(_ pairs: [(String, any RESPArgument)]) async throws {
        var command = RESPCommand("MSET")
        for (key, value) in pairs {
            command.append(key)
            command.append(value)
        }
        try await self.send(command)
    }

    @discardableResult
    public func incr(_ key: some RESPArgument, by amount: Int = 1) async throws -> Int {
        if amount == 1 { return try await self.send(RESPCommand("INCR", key), as: Int.self) }
        return try await self.send(RESPCommand("INCRBY", key, amount), as: Int.self)
    }

    @discardableResult
    public func decr(_ key: some RESPArgument, by amount: Int = 1) async throws -> Int {
        if amount == 1 { return try await self.send(RESPCommand("DECR", key), as: Int.self) }
        return try await self.send(RESPCommand("DECRBY", key, amount), as: Int.self)
    }

    @discardableResult
    public func incrbyfloat(_ key: some RESPArgument, by amount: Double) async throws -> Double {
        try await self.send(RESPCommand("INCRBYFLOAT", key, amount), as: Double.self)
    }

    @discardableResult
    public func append(_ key: some RESPArgument, _ value: some RESPArgument) async throws -> Int {
        try await self.send(RESPCommand("APPEND", key, value), as: Int.self)
    }

    public func strlen(_ key: some RESPArgument) async throws -> Int {
        try await self.send(RESPCommand("STRLEN", key), as: Int.self)
    }
}
