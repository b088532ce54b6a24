import CoreMetrics
import Foundation
import Synchronization

/// How a ``Cache`` names its keys, how long entries live, and its local tier.
public struct CacheConfiguration: Sendable {
    /// Eviction order of the local tier.
    public enum LocalEviction: Sendable, Hashable {
        /// Least recently used goes first.
        case lru
        /// Oldest inserted goes first.
        case fifo
    }

    /// An in-process tier in front of the backend.
    public struct LocalTier: Sendable, Hashable {
        /// How many entries it holds at most.
        public var capacity: Int
        public var eviction: LocalEviction
        /// How long an entry is served without asking the backend (bounds staleness when
        /// other processes write the same keys).
        public var timeToLive: Duration

        public init(capacity: Int, eviction: LocalEviction = .lru, timeToLive: Duration = .seconds(5)) {
            self.capacity = capacity
            self.eviction = eviction
            self.timeToLive = timeToLive
        }
    }

    /// Prepended to every key; default `cache:<name>:`.
    public var prefix: String?
    /// The time to live of entries set without one; nil: they live until evicted.
    public var defaultTimeToLive: Duration?
    public var localTier: LocalTier?
    /// Probabilistic early refresh for ``Cache/value(for:timeToLive:load:)``: with a beta
    /// (1 is the usual choice) an entry close to expiry is reloaded in the background
    /// before it expires, more likely the closer it is (XFetch). nil: off.
    public var earlyRefreshBeta: Double?
    /// Largest encoded value accepted (``WharfError/Code/valueTooLarge`` above it).
    public var maximumValueBytes = 16 << 20
    /// Longest key accepted, prefix excluded (``WharfError/Code/invalidName`` above it).
    public var maximumKeyBytes = 1024

    public init(
        prefix: String? = nil, defaultTimeToLive: Duration? = nil, localTier: LocalTier? = nil,
        earlyRefreshBeta: Double? = nil
    ) {
        self.prefix = prefix
        self.defaultTimeToLive = defaultTimeToLive
        self.localTier = localTier
        self.earlyRefreshBeta = earlyRefreshBeta
    }
}

/// A cache of `Value`s by string key, with time to live, get-or-load with stampede
/// protection, batches and an optional in-process tier.
///
/// The backend's memory policy is the remote tier's: a Redis or Wharf server with
/// `maxmemory` evicts entries as it is configured to, and a get then misses.
///
/// ```swift
/// let users = try wharf.cache("users", of: User.self, configuration: .init(defaultTimeToLive: .seconds(300)))
/// try await users.set("42", user)
/// let user = try await users.value(for: "42") { try await database.user(id: 42) }
/// ```
///
/// Metrics (dimension `cache`): `wharf_cache_hits_total`, `wharf_cache_miss_total`,
/// `wharf_cache_evictions_total` (local tier).
public final class Cache<Value: Sendable>: Sendable {
    public let name: String
    public let configuration: CacheConfiguration
    private let backend: any KeyValueBackend
    /// Set for the embedded engine (without tracing): gets read the engine directly.
    private let embedded: EmbeddedTransport?
    private let codec: any WharfCodec<Value>
    /// The codec's in-place decoding, resolved once (calling through the existential copied
    /// it on every get).
    private let decodesInPlace: Bool
    private let decodeInPlace: @Sendable (UnsafeRawBufferPointer) throws -> Value
    private let prefix: [UInt8]
    private let local: LocalTier<Value>?
    private let hits: Counter
    private let misses: Counter
    private let evictions: Counter
    /// Loads in flight, one per key: concurrent callers of the same key share it.
    private let loads = Mutex<[String: Task<Value, any Error>]>([:])
    /// How long the last load of each key took, for early refresh (bounded).
    private let loadDurations = Mutex<[String: Duration]>([:])

    init(
        name: String, backend: any KeyValueBackend, codec: any WharfCodec<Value>, configuration: CacheConfiguration,
        metrics: any MetricsFactory, embedded: EmbeddedTransport? = nil
    ) throws(WharfError) {
        try Names.validate(name, what: "cache name")
        self.embedded = embedded
        self.name = name
        self.configuration = configuration
        self.backend = backend
        self.codec = codec
        self.decodesInPlace = codec.decodesInPlace
        self.decodeInPlace = { try codec.decode(buffer: $0) }
        self.prefix = Array((configuration.prefix ?? "cache:\(name):").utf8)
        let dimensions = [("cache", name)]
        self.hits = Counter(label: "wharf_cache_hits_total", dimensions: dimensions, factory: metrics)
        self.misses = Counter(label: "wharf_cache_miss_total", dimensions: dimensions, factory: metrics)
        let evictions = Counter(label: "wharf_cache_evictions_total", dimensions: dimensions, factory: metrics)
        self.evictions = evictions
        self.local = configuration.localTier.map { tier in
            LocalTier(capacity: tier.capacity, policy: tier.eviction, timeToLive: tier.timeToLive) {
                evictions.increment()
            }
        }
    }

    private func storageKey(_ key: String) throws(WharfError) -> [UInt8] {
        try Names.validateKey(key, limit: self.configuration.maximumKeyBytes)
        return self.prefix + Array(key.utf8)
    }

    /// The value for `key`, or nil when absent (or expired, or evicted).
    // Pre-specialized for the raw value types: a `Cache<Data>` used from another module
    // would otherwise run the generic code, and look up `Optional<Value>`'s metadata on
    // every call (a third of an embedded get). `@_specialize` is underscored but is the
    // only way to give clients a specialized entry point without making the hit path
    // `@inlinable` (and everything it touches `@usableFromInline`).
    @_specialize(exported:true,where Value == Data)
    @_specialize(exported:true,where Value == String)
    public func get(_ key: String) async throws -> Value? {
        if let local, let value = local.get(key) {
            self.hits.increment()
            return value
        }
        try Names.validateKey(key, limit: self.configuration.maximumKeyBytes)
        let value: Value?
        if let embedded {
            value = try self.readEmbedded(embedded, key)
        } else if self.codec.decodesInPlace {
            let codec = self.codec
            value = try await self.backend.get(prefix: self.prefix, key: key) { bytes in
                try codec.decode(buffer: bytes)
            }
        } else {
            value = try await self.backend.get(prefix: self.prefix, key: key) { Array($0) }.map {
                bytes throws(WharfError) in
                try self.codec.decodeChecked(bytes, what: "cache '\(self.name)' key '\(key)'")
            }
        }
        guard let value else {
            self.misses.increment()
            return nil
        }
        self.hits.increment()
        self.local?.set(key, value, ttl: nil)
        return value
    }

    /// The embedded engine's hit path: no suspension, no existential backend call.
    @_specialize(where Value == Data)
    @_specialize(where Value == String)
    private func readEmbedded(_ embedded: EmbeddedTransport, _ key: String) throws(WharfError) -> Value? {
        var value: Value?
        var copied: [UInt8]?
        var failure: (any Error)?
        let inPlace = self.decodesInPlace
        let decodeInPlace = self.decodeInPlace
        guard
            try embedded.read(
                prefix: self.prefix, key: key,
                { bytes in
                    guard inPlace else {
                        copied = Array(bytes)
                        return
                    }
                    do {
                        value = try decodeInPlace(bytes)
                    } catch {
                        failure = error
                    }
                })
        else { return nil }
        if let failure { throw WharfError(.decodingFailed, "cache '\(self.name)' key '\(key)': \(failure)") }
        if let copied { return try self.codec.decodeChecked(copied, what: "cache '\(self.name)' key '\(key)'") }
        return value
    }

    /// Stores `value` under `key` for `timeToLive` (default: the configuration's).
    public func set(_ key: String, _ value: Value, timeToLive: Duration? = nil) async throws {
        let bytes = try self.codec.encodeChecked(
            value, limit: self.configuration.maximumValueBytes, what: "cache '\(self.name)' key '\(key)'")
        let ttl = timeToLive ?? self.configuration.defaultTimeToLive
        _ = try await self.backend.set(try self.storageKey(key), bytes, ttl: ttl, condition: .always)
        self.local?.set(key, value, ttl: ttl)
    }

    /// Removes `key`; returns whether it was there.
    @discardableResult
    public func delete(_ key: String) async throws -> Bool {
        self.local?.remove(key)
        return try await self.backend.delete([try self.storageKey(key)]) > 0
    }

    /// The values of several keys in one round trip; missing keys are left out.
    public func get(_ keys: [String]) async throws -> [String: Value] {
        var result: [String: Value] = [:]
        var remote: [String] = []
        for key in keys {
            if let value = self.local?.get(key) {
                result[key] = value
            } else {
                remote.append(key)
            }
        }
        if !remote.isEmpty {
            let storageKeys = try remote.map { key throws(WharfError) in try self.storageKey(key) }
            let values = try await self.backend.get(many: storageKeys)
            for (key, bytes) in zip(remote, values) {
                guard let bytes else { continue }
                let value = try self.codec.decodeChecked(bytes, what: "cache '\(self.name)' key '\(key)'")
                result[key] = value
                self.local?.set(key, value, ttl: nil)
            }
        }
        self.hits.increment(by: Int64(result.count))
        self.misses.increment(by: Int64(keys.count - result.count))
        return result
    }

    /// Stores several values in one round trip.
    public func set(_ values: [String: Value], timeToLive: Duration? = nil) async throws {
        let ttl = timeToLive ?? self.configuration.defaultTimeToLive
        var pairs: [([UInt8], [UInt8])] = []
        for (key, value) in values {
            let bytes = try self.codec.encodeChecked(
                value, limit: self.configuration.maximumValueBytes, what: "cache '\(self.name)' key '\(key)'")
            pairs.append((try self.storageKey(key), bytes))
        }
        try await self.backend.set(many: pairs, ttl: ttl)
        for (key, value) in values { self.local?.set(key, value, ttl: ttl) }
    }

    /// The value for `key`, loading and storing it on a miss. Concurrent callers for the
    /// same key in this process share one load (stampede protection); with
    /// ``CacheConfiguration/earlyRefreshBeta`` set, a hit close to expiry may start a
    /// background reload.
    public func value(
        for key: String, timeToLive: Duration? = nil, load: @escaping @Sendable () async throws -> Value
    ) async throws -> Value {
        if let value = try await self.get(key) {
            if let beta = self.configuration.earlyRefreshBeta {
                await self.maybeRefreshEarly(key, beta: beta, timeToLive: timeToLive, load: load)
            }
            return value
        }
        return try await self.sharedLoad(key, timeToLive: timeToLive, load: load).value
    }

    private func sharedLoad(
        _ key: String, timeToLive: Duration?, load: @escaping @Sendable () async throws -> Value
    ) -> Task<Value, any Error> {
        self.loads.withLock { loads in
            if let running = loads[key] { return running }
            let task = Task {
                defer { _ = self.loads.withLock { $0.removeValue(forKey: key) } }
                let start = ContinuousClock.now
                let value = try await load()
                self.noteLoadDuration(key, ContinuousClock.now - start)
                try await self.set(key, value, timeToLive: timeToLive)
                return value
            }
            loads[key] = task
            return task
        }
    }

    private func noteLoadDuration(_ key: String, _ duration: Duration) {
        guard self.configuration.earlyRefreshBeta != nil else { return }
        self.loadDurations.withLock { durations in
            if durations.count >= 10_000 { durations.removeAll(keepingCapacity: true) }
            durations[key] = duration
        }
    }

    /// XFetch: reload when `now - delta * beta * ln(random) >= expiry`.
    private func maybeRefreshEarly(
        _ key: String, beta: Double, timeToLive: Duration?, load: @escaping @Sendable () async throws -> Value
    ) async {
        guard let delta = self.loadDurations.withLock({ $0[key] }),
            let remaining = try? await self.backend.timeToLive(try self.storageKey(key))
        else { return }
        let deltaSeconds = Double(delta.components.seconds) + Double(delta.components.attoseconds) / 1e18
        let gap = -deltaSeconds * beta * log(Double.random(in: Double.ulpOfOne...1))
        if gap >= Double(remaining.milliseconds) / 1000 {
            _ = self.sharedLoad(key, timeToLive: timeToLive, load: load)
        }
    }

    /// Drops the local tier's entries (the backend's stay).
    public func clearLocalTier() {
        self.local?.removeAll()
    }
}
