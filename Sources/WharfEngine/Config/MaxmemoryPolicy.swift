/// Redis's `maxmemory-policy` values. The policy also decides whether each key tracks
/// LRU time or an LFU counter (OBJECT IDLETIME / OBJECT FREQ).
public enum MaxmemoryPolicy: String, Sendable, CaseIterable {
    case noeviction
    case allkeysLRU = "allkeys-lru"
    case volatileLRU = "volatile-lru"
    case allkeysLFU = "allkeys-lfu"
    case volatileLFU = "volatile-lfu"
    case allkeysRandom = "allkeys-random"
    case volatileRandom = "volatile-random"
    case volatileTTL = "volatile-ttl"

    public var usesLFU: Bool { self == .allkeysLFU || self == .volatileLFU }
}
