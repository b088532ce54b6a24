import Foundation
import WharfClient

/// How a ``KeyValueStore`` names its keys and bounds its values.
public struct KeyValueStoreConfiguration: Sendable {
    /// The time to live of entries set without one; nil: no expiry.
    public var defaultTimeToLive: Duration?
    /// Largest encoded value accepted.
    public var maximumValueBytes = 16 << 20
    /// Longest key accepted.
    public var maximumKeyBytes = 1024

    public init(defaultTimeToLive: Duration? = nil) {
        self.defaultTimeToLive = defaultTimeToLive
    }
}

/// A value with the version compare-and-set checks. Versions start at 1 and grow by one
/// with every write of the key.
public struct KeyValueEntry<Value: Sendable>: Sendable {
    public var key: String
    public var value: Value
    public var version: Int
}

/// A change seen by ``KeyValueStore/watch(prefix:)``.
public struct KeyValueChange<Value: Sendable>: Sendable {
    public enum Kind: Sendable, Hashable {
        case set
        case deleted
        case expired
    }
    public var key: String
    public var kind: Kind
    /// For ``Kind/set``: the entry as read right after the change (a later write may
    /// already have replaced it; its version says which write this is).
    public var entry: KeyValueEntry<Value>?
}

/// One page of ``KeyValueStore/keys(prefix:cursor:count:)``.
public struct KeyValuePage: Sendable {
    public var keys: [String]
    /// Pass to the next call; nil when the listing is complete.
    public var cursor: String?
}

/// Durable keys with versions: get/set/delete with time to live, compare-and-set on a
/// version or on the previous value (atomic on every backend), batches, prefix listing
/// and a change feed.
///
/// Each key is a hash with `value` and `version` fields under `kv:{<store>}:<key>`; the
/// hash tag keeps a store in one cluster slot so that listing and watching reach one node.
///
/// ```swift
/// let settings = try wharf.keyValueStore("settings", of: Settings.self)
/// let version = try await settings.set("tenant-7", defaults)
/// try await settings.compareAndSet("tenant-7", expectedVersion: version, to: updated)
/// for try await change in try await settings.watch(prefix: "tenant-") { print(change.key, change.kind) }
/// ```
public final class KeyValueStore<Value: Sendable>: Sendable {
    public let name: String
    public let configuration: KeyValueStoreConfiguration
    private let backend: any KeyValueBackend
    private let pubsub: any PubSubBackend
    private let codec: any WharfCodec<Value>
    private let prefix: String

    init(
        name: String, backend: any KeyValueBackend & PubSubBackend, codec: any WharfCodec<Value>,
        configuration: KeyValueStoreConfiguration
    ) throws(WharfError) {
        try Names.validate(name, what: "key-value store name")
        self.name = name
        self.configuration = configuration
        self.backend = backend
        self.pubsub = backend
        self.codec = codec
        self.prefix = "kv:{\(name)}:"
    }

    private func storageKey(_ key: String) throws(WharfError) -> [UInt8] {
        try Names.validateKey(key, limit: self.configuration.maximumKeyBytes)
        return Array((self.prefix + key).utf8)
    }

    private func encode(_ value: Value, key: String) throws(WharfError) -> [UInt8] {
        try self.codec.encodeChecked(
            value, limit: self.configuration.maximumValueBytes, what: "store '\(self.name)' key '\(key)'")
    }

    private func entry(_ key: String, _ record: VersionedRecord?) throws(WharfError) -> KeyValueEntry<Value>? {
        guard let record else { return nil }
        let value = try self.codec.decodeChecked(record.value, what: "store '\(self.name)' key '\(key)'")
        return KeyValueEntry(key: key, value: value, version: record.version)
    }

    public func get(_ key: String) async throws -> Value? {
        try await self.entry(key)?.value
    }

    /// The value with its version.
    public func entry(_ key: String) async throws -> KeyValueEntry<Value>? {
        try self.entry(key, try await self.backend.readRecord(try self.storageKey(key)))
    }

    /// Stores `value`; returns its new version.
    @discardableResult
    public func set(_ key: String, _ value: Value, timeToLive: Duration? = nil) async throws -> Int {
        try await self.write(key, value, timeToLive: timeToLive, expecting: .any)
    }

    /// Stores `value` only if `key` has none; returns the version, or nil when it had one.
    public func setIfAbsent(_ key: String, _ value: Value, timeToLive: Duration? = nil) async throws -> Int? {
        do {
            return try await self.write(key, value, timeToLive: timeToLive, expecting: .absent)
        } catch let error as WharfError where error.code == .conflict {
            return nil
        }
    }

    /// Replaces the value if the key is still at `expectedVersion` (0: absent); returns the
    /// new version, or throws ``WharfError/Code/conflict``.
    @discardableResult
    public func compareAndSet(
        _ key: String, expectedVersion: Int, to value: Value, timeToLive: Duration? = nil
    ) async throws -> Int {
        try await self.write(
            key, value, timeToLive: timeToLive, expecting: expectedVersion == 0 ? .absent : .version(expectedVersion))
    }

    /// Replaces the value if it still equals `expected` (compared encoded); returns the new
    /// version, or throws ``WharfError/Code/conflict``.
    @discardableResult
    public func compareAndSet(
        _ key: String, expected: Value, to value: Value, timeToLive: Duration? = nil
    ) async throws -> Int {
        let expectedBytes = try self.encode(expected, key: key)
        return try await self.write(key, value, timeToLive: timeToLive, expecting: .value(expectedBytes))
    }

    private func write(_ key: String, _ value: Value, timeToLive: Duration?, expecting: WriteExpectation)
        async throws -> Int
    {
        let bytes = try self.encode(value, key: key)
        let ttl = timeToLive ?? self.configuration.defaultTimeToLive
        guard
            let version = try await self.backend.writeRecord(
                try self.storageKey(key), bytes, ttl: ttl, expecting: expecting)
        else {
            throw WharfError(.conflict, "store '\(self.name)' key '\(key)' changed since it was read")
        }
        return version
    }

    /// Removes `key`; returns whether it existed.
    @discardableResult
    public func delete(_ key: String) async throws -> Bool {
        try await self.backend.deleteRecord(try self.storageKey(key), expecting: .any)
    }

    /// Removes `key` if it is still at `expectedVersion`; throws ``WharfError/Code/conflict``
    /// otherwise (or when it is gone).
    public func delete(_ key: String, expectedVersion: Int) async throws {
        guard try await self.backend.deleteRecord(try self.storageKey(key), expecting: .version(expectedVersion)) else {
            throw WharfError(.conflict, "store '\(self.name)' key '\(key)' is not at version \(expectedVersion)")
        }
    }

    /// Several values in one round trip; missing keys are left out.
    public func get(_ keys: [String]) async throws -> [String: Value] {
        let storageKeys = try keys.map { key throws(WharfError) in try self.storageKey(key) }
        var result: [String: Value] = [:]
        for (key, record) in zip(keys, try await self.backend.readRecords(storageKeys)) {
            if let entry = try self.entry(key, record) { result[key] = entry.value }
        }
        return result
    }

    /// Stores several values (each write atomic on its own).
    public func set(_ values: [String: Value], timeToLive: Duration? = nil) async throws {
        for (key, value) in values { try await self.set(key, value, timeToLive: timeToLive) }
    }

    /// Removes several keys; returns how many existed.
    @discardableResult
    public func delete(_ keys: [String]) async throws -> Int {
        try await self.backend.delete(try keys.map { key throws(WharfError) in try self.storageKey(key) })
    }

    /// Keys starting with `prefix`, a page at a time: pass the returned cursor back until it
    /// is nil. As SCAN: a key present throughout is listed at least once.
    public func keys(prefix: String = "", cursor: String? = nil, count: Int = 100) async throws -> KeyValuePage {
        let pattern = Names.escapeGlob(self.prefix + prefix) + "*"
        let step = try await self.backend.scan(
            pattern: pattern, cursor: cursor ?? "0", count: max(1, count), routingKey: Array(self.prefix.utf8))
        let keys = step.keys.map { String(decoding: $0.dropFirst(self.prefix.utf8.count), as: UTF8.self) }
        return KeyValuePage(keys: keys, cursor: step.cursor == "0" ? nil : step.cursor)
    }

    /// Changes to keys starting with `prefix`, from now on, as keyspace notifications
    /// report them (the backend's `notify-keyspace-events` gains `Khgx` if it lacks them).
    public func watch(prefix: String = "") async throws -> AsyncThrowingStream<KeyValueChange<Value>, any Error> {
        let routingKey = Array(self.prefix.utf8)
        try await self.backend.enableKeyspaceNotifications("Khgx", routingKey: routingKey)
        let channelPrefix = "__keyspace@0__:" + self.prefix
        let subscription = try await self.pubsub.subscribe(
            channels: [], patterns: [Names.escapeGlob(channelPrefix + prefix) + "*"], routingKey: routingKey)
        return AsyncThrowingStream { continuation in
            let task = Task {
                do {
                    for try await message in subscription.messages {
                        guard case .patternMessage(_, let channel, let payload) = message else { continue }
                        let key = String(channel.dropFirst(channelPrefix.count))
                        switch String(decoding: payload, as: UTF8.self) {
                        // A write is HSET, HINCRBY of the version, then the expiry: the
                        // version's change marks a finished write.
                        case "hincrby":
                            let entry = try await self.entry(key)
                            continuation.yield(KeyValueChange(key: key, kind: .set, entry: entry))
                        case "del":
                            continuation.yield(KeyValueChange(key: key, kind: .deleted, entry: nil))
                        case "expired":
                            continuation.yield(KeyValueChange(key: key, kind: .expired, entry: nil))
                        default:
                            continue
                        }
                    }
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
                await subscription.close()
            }
            continuation.onTermination = { _ in
                task.cancel()
                Task { await subscription.close() }
            }
        }
    }
}
