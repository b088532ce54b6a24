/// Which arguments of a command are keys, for routing it in a cluster. Covers the commands
/// whose keys are not simply the first argument; anything else routes by its first
/// argument (or to any node when it has none).
enum ClusterKeys {
    private enum Rule {
        case none
        case first
        case firstTwo
        case allFromFirst
        case allButLast
        case pairs
        case afterStreams
        case numberedAt(Int)
    }

    private static let rules: [String: Rule] = {
        var rules: [String: Rule] = [:]
        for name in [
            "PING", "ECHO", "INFO", "DBSIZE", "FLUSHDB", "FLUSHALL", "TIME", "WAIT", "PUBLISH", "CLUSTER", "COMMAND",
            "CONFIG", "CLIENT", "HELLO", "AUTH", "SELECT", "SCAN", "RANDOMKEY", "MULTI", "EXEC", "DISCARD", "UNWATCH",
            "SCRIPT", "FUNCTION", "MEMORY", "LATENCY", "SLOWLOG", "LASTSAVE", "ROLE", "READONLY", "READWRITE",
            "ASKING", "KEYS",
        ] {
            rules[name] = Rule.none
        }
        for name in [
            "DEL", "UNLINK", "EXISTS", "MGET", "TOUCH", "SINTER", "SUNION", "SDIFF", "SINTERSTORE", "SUNIONSTORE",
            "SDIFFSTORE", "PFCOUNT", "PFMERGE", "WATCH",
        ] {
            rules[name] = Rule.allFromFirst
        }
        for name in ["BLPOP", "BRPOP", "BZPOPMIN", "BZPOPMAX"] { rules[name] = Rule.allButLast }
        for name in ["MSET", "MSETNX"] { rules[name] = Rule.pairs }
        for name in ["RENAME", "RENAMENX", "LMOVE", "BLMOVE", "SMOVE", "RPOPLPUSH", "BRPOPLPUSH", "COPY", "LCS"] {
            rules[name] = Rule.firstTwo
        }
        for name in ["XREAD", "XREADGROUP"] { rules[name] = Rule.afterStreams }
        for name in ["EVAL", "EVALSHA", "EVAL_RO", "EVALSHA_RO", "FCALL", "FCALL_RO", "ZUNION", "ZINTER", "ZDIFF"] {
            rules[name] = Rule.numberedAt(2)
        }
        for name in ["LMPOP", "ZMPOP", "SINTERCARD", "ZINTERCARD"] { rules[name] = Rule.numberedAt(1) }
        for name in ["BLMPOP", "BZMPOP"] { rules[name] = Rule.numberedAt(2) }
        return rules
    }()

    /// The keys of a command given as its arguments (name first).
    static func keys(_ arguments: [[UInt8]]) -> [[UInt8]] {
        guard let name = arguments.first else { return [] }
        let upper = String(decoding: name, as: UTF8.self).uppercased()
        let rest = Array(arguments.dropFirst())
        switch Self.rules[upper] ?? .first {
        case .none: return []
        case .first: return rest.isEmpty ? [] : [rest[0]]
        case .firstTwo: return Array(rest.prefix(2))
        case .allFromFirst: return rest
        case .allButLast: return Array(rest.dropLast())
        case .pairs: return stride(from: 0, to: rest.count, by: 2).map { rest[$0] }
        case .afterStreams:
            guard
                let streams = rest.firstIndex(where: { String(decoding: $0, as: UTF8.self).uppercased() == "STREAMS" })
            else { return [] }
            let names = rest[(streams + 1)...]
            return Array(names.prefix(names.count / 2))
        case .numberedAt(let position):
            // `position` counts from the command name; the keys follow the count.
            guard position - 1 < rest.count, let count = Int(String(decoding: rest[position - 1], as: UTF8.self))
            else { return [] }
            return Array(rest.dropFirst(position).prefix(max(0, count)))
        }
    }

    /// The one slot all of a command's keys hash to; nil for a command without keys.
    static func slot(of command: RESPCommand) throws(WharfClientError) -> Int? {
        let keys = Self.keys(command.arguments)
        guard let first = keys.first else { return nil }
        let slot = ClusterSlot.of(first)
        for key in keys.dropFirst() where ClusterSlot.of(key) != slot {
            throw WharfClientError(
                .crossSlot,
                "\(command.name)'s keys hash to different slots (\(String(decoding: first, as: UTF8.self)) is in "
                    + "\(slot), \(String(decoding: key, as: UTF8.self)) in \(ClusterSlot.of(key))); "
                    + "use a {hash tag} to keep them together")
        }
        return slot
    }
}
