import Atomics
import Foundation
import Synchronization
import WharfClient
package import WharfEngine
package import WharfProtocol
import WharfStorage

/// The engine in this process: commands run on the caller's task through
/// ``EmbeddedSession`` (no socket, no request encoding), with the server's storage.
package final class EmbeddedTransport: CommandTransport {
    package let engine: Engine
    package var backendName: String { "embedded" }
    /// Sessions for single commands, picked in turn: each runs one command at a time, so a
    /// few spread concurrent callers over independent locks.
    private let shared: [EmbeddedSession]
    private let nextShared = Atomic<Int>(0)
    /// Sessions lent whole (blocking commands, transactions), returned after use.
    private let idle = Mutex<[EmbeddedSession]>([])
    /// A temporary directory to remove on close (`embedded(inMemory: false)`).
    private let temporaryDirectory: String?
    private let closed = Atomic<Bool>(false)

    /// Opens the engine: recovers `directory` (nil: in memory only).
    package init(directory: String?, durability: WharfBackend.Durability) throws {
        var path = directory
        var temporary: String?
        if path == "" {
            path = FileManager.default.temporaryDirectory.appendingPathComponent("wharf-\(UUID().uuidString)").path
            temporary = path
        }
        let settings = EngineSettings()
        if let path {
            do {
                try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
            } catch {
                throw WharfError(.invalidConfiguration, "cannot create data directory '\(path)': \(error)")
            }
            try? EngineParameters.set("dir", path, on: settings)
            try? EngineParameters.set("appendfsync", durability.rawValue, on: settings)
            var options = PersistenceOptions(directory: path)
            options.fsync = FsyncPolicy(rawValue: durability.rawValue) ?? .everysec
            let persistence = Persistence(options: options)
            self.engine = Engine(settings: settings, persistence: persistence)
            do {
                _ = try persistence.recover(into: self.engine)
            } catch {
                throw WharfError(.backend, "cannot load '\(path)': \(error)")
            }
        } else {
            self.engine = Engine(settings: settings)
        }
        self.temporaryDirectory = temporary
        let engine = self.engine
        self.shared = (0..<8).map { _ in EmbeddedSession(engine: engine) }
    }

    private func checkOpen() throws(WharfError) {
        if self.closed.load(ordering: .relaxed) { throw WharfError(.closed, "the Wharf handle is closed") }
    }

    private var sharedSession: EmbeddedSession {
        let index = self.nextShared.wrappingAdd(1, ordering: .relaxed).oldValue
        return self.shared[index & (self.shared.count - 1)]
    }

    package func run(_ command: BackendCommand) async throws -> RESPValue {
        try self.checkOpen()
        return try await self.sharedSession.run(command.arguments).throwingError()
    }

    package func runBlocking(_ command: BackendCommand, wait: Duration?) async throws -> RESPValue {
        try self.checkOpen()
        let session = self.lend()
        defer { self.giveBack(session) }
        return try await session.run(command.arguments).throwingError()
    }

    package func pipeline(_ commands: [BackendCommand]) async throws -> [RESPValue] {
        try self.checkOpen()
        return await self.sharedSession.run(batch: commands.map(\.arguments))
    }

    package func withSession<T: Sendable>(
        routingKey: [UInt8]?, _ body: (any CommandSession) async throws -> T
    ) async throws -> T {
        try self.checkOpen()
        let session = self.lend()
        defer { self.giveBack(session) }
        do {
            return try await body(Lent(session: session))
        } catch {
            // A body that failed half-way must not leave WATCH or MULTI behind for the next user.
            _ = await session.run(batch: [[Array("DISCARD".utf8)], [Array("UNWATCH".utf8)]])
            throw error
        }
    }

    private struct Lent: CommandSession {
        let session: EmbeddedSession
        func run(_ command: BackendCommand) async throws -> RESPValue {
            try await self.session.run(command.arguments).throwingError()
        }
        func pipeline(_ commands: [BackendCommand]) async throws -> [RESPValue] {
            await self.session.run(batch: commands.map(\.arguments))
        }
    }

    private func lend() -> EmbeddedSession {
        self.idle.withLock { $0.popLast() } ?? EmbeddedSession(engine: self.engine)
    }

    private func giveBack(_ session: EmbeddedSession) {
        self.idle.withLock { idle in
            if idle.count < 64 { idle.append(session) }
        }
    }

    package func readString<T>(prefix: [UInt8], key: String, _ body: (UnsafeRawBufferPointer) throws -> T)
        async throws -> T?
    {
        var found: T?
        var failure: (any Error)?
        _ = try self.read(prefix: prefix, key: key) { bytes in
            do {
                found = try body(bytes)
            } catch {
                failure = error
            }
        }
        if let failure { throw failure }
        return found
    }

    /// The cache's hit path, synchronous and not generic: the value of `prefix` + `key`
    /// (assembled on the stack, no allocation) goes to `body` while its shard is locked.
    /// Returns whether the key exists.
    package func read(prefix: [UInt8], key: String, _ body: (UnsafeRawBufferPointer) -> Void) throws(WharfError)
        -> Bool
    {
        try self.checkOpen()
        var key = key
        let engine = self.engine
        var wrongType = false
        let found = key.withUTF8 { keyBytes in
            withUnsafeTemporaryAllocation(byteCount: prefix.count + keyBytes.count, alignment: 1) { buffer in
                prefix.withUnsafeBytes { buffer.copyMemory(from: $0) }
                UnsafeMutableRawBufferPointer(rebasing: buffer[prefix.count...]).copyMemory(
                    from: UnsafeRawBufferPointer(keyBytes))
                do {
                    return try engine.readString(UnsafeRawBufferPointer(buffer), body)
                } catch {
                    wrongType = true
                    return false
                }
            }
        }
        if wrongType {
            throw WharfError(.wrongType, "WRONGTYPE Operation against a key holding the wrong kind of value")
        }
        return found
    }

    package func subscribe(channels: [String], patterns: [String], routingKey: [UInt8]?) async throws
        -> any MessageSubscription
    {
        try self.checkOpen()
        let subscription = EmbeddedSubscription(session: EmbeddedSession(engine: self.engine, name: "subscriber"))
        try await subscription.start(channels: channels, patterns: patterns)
        return subscription
    }

    package func health() async -> HealthStatus {
        guard let persistence = self.engine.persistence else {
            return HealthStatus(state: .healthy, backend: "embedded", message: "in memory")
        }
        if let log = persistence.log, log.isFailing {
            return HealthStatus(
                state: .unhealthy, backend: "embedded",
                message: "the log cannot be written: \(log.failure ?? "unknown error"); writes are refused")
        }
        return HealthStatus(state: .healthy, backend: "embedded", message: persistence.options.directory)
    }

    /// The engine's periodic work (active expiry, snapshots, statistics) at `hz`.
    package func runCron() async {
        while !Task.isCancelled && !self.closed.load(ordering: .relaxed) {
            let hz = max(1, self.engine.settings.hz.load(ordering: .relaxed))
            do {
                try await Task.sleep(for: .milliseconds(1000 / hz))
            } catch {
                return
            }
            self.engine.runCron()
        }
    }

    package func close() async throws {
        guard self.closed.compareExchange(expected: false, desired: true, ordering: .relaxed).exchanged else {
            return
        }
        do {
            try self.engine.persistence?.close()
        } catch {
            throw WharfError(.backend, "could not write the log while closing: \(error)")
        }
        if let temporaryDirectory { try? FileManager.default.removeItem(atPath: temporaryDirectory) }
    }
}

/// A subscription on an embedded session: the engine delivers pushes to the session's
/// mailbox, which hands them to the stream.
private final class EmbeddedSubscription: MessageSubscription {
    let session: EmbeddedSession
    let messages: AsyncThrowingStream<PubSubMessage, any Error>
    private let continuation: AsyncThrowingStream<PubSubMessage, any Error>.Continuation

    init(session: EmbeddedSession) {
        self.session = session
        (self.messages, self.continuation) = AsyncThrowingStream.makeStream()
        let continuation = self.continuation
        session.onPush { push in
            guard let message = Self.message(push) else { return }
            continuation.yield(message)
        }
    }

    func start(channels: [String], patterns: [String]) async throws {
        if !channels.isEmpty {
            _ = try await self.session.run([Array("SUBSCRIBE".utf8)] + channels.map { Array($0.utf8) })
                .throwingError()
        }
        if !patterns.isEmpty {
            _ = try await self.session.run([Array("PSUBSCRIBE".utf8)] + patterns.map { Array($0.utf8) })
                .throwingError()
        }
    }

    static func message(_ push: RESPValue) -> PubSubMessage? {
        guard case .push(let parts) = push, let kind = parts.first?.string else { return nil }
        func bytes(_ value: RESPValue) -> [UInt8] {
            if case .bulkString(let bytes) = value { return bytes }
            return Array((value.string ?? "").utf8)
        }
        switch kind {
        case "message" where parts.count == 3:
            return .message(channel: parts[1].string ?? "", payload: bytes(parts[2]))
        case "pmessage" where parts.count == 4:
            return .patternMessage(
                pattern: parts[1].string ?? "", channel: parts[2].string ?? "", payload: bytes(parts[3]))
        default:
            return nil
        }
    }

    func close() async {
        self.session.onPush(nil)
        _ = await self.session.run(batch: [[Array("UNSUBSCRIBE".utf8)], [Array("PUNSUBSCRIBE".utf8)]])
        self.continuation.finish()
    }
}
