import Foundation
import Synchronization
import WharfClient
import WharfProtocol

/// A limit on how fast elements may be enqueued, and what a producer over it does.
public struct RateLimit: Sendable, Hashable {
    public enum Algorithm: Sendable, Hashable {
        /// `rate` per second on average with bursts of up to `burst`.
        case tokenBucket(rate: Double, burst: Int)
        /// At most `limit` in any window of `window`.
        case slidingWindow(limit: Int, window: Duration)
    }

    /// Where the limit is counted.
    public enum Scope: Sendable, Hashable {
        /// In this process: each process has the whole limit.
        case local
        /// In the backend: every process using the queue shares the limit.
        case shared
    }

    /// What a producer over the limit does.
    public enum Overflow: Sendable, Hashable {
        /// Waits for room (backpressure).
        case wait
        /// Fails at once with ``WharfError/Code/rateLimited``.
        case fail
    }

    public var algorithm: Algorithm
    public var scope: Scope
    public var overflow: Overflow

    public init(_ algorithm: Algorithm, scope: Scope = .local, overflow: Overflow = .wait) {
        self.algorithm = algorithm
        self.scope = scope
        self.overflow = overflow
    }
}

/// The local token bucket.
final class TokenBucket: Sendable {
    private struct State {
        var tokens: Double
        var updated: ContinuousClock.Instant
    }
    private let rate: Double
    private let burst: Double
    private let state: Mutex<State>

    init(rate: Double, burst: Int) {
        self.rate = max(rate, 0.001)
        self.burst = Double(max(1, burst))
        self.state = Mutex(State(tokens: Double(max(1, burst)), updated: .now))
    }

    /// Takes a token; returns nil when taken, or how long until one is available.
    func take() -> Duration? {
        let now = ContinuousClock.now
        return self.state.withLock { state in
            let elapsed = now - state.updated
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            state.tokens = min(self.burst, state.tokens + seconds * self.rate)
            state.updated = now
            if state.tokens >= 1 {
                state.tokens -= 1
                return nil
            }
            return .milliseconds(Int64(((1 - state.tokens) / self.rate * 1000).rounded(.up)))
        }
    }
}

/// The local sliding window: the admissions of the last window, oldest first.
final class SlidingWindow: Sendable {
    private let limit: Int
    private let window: Duration
    private let admissions = Mutex<[ContinuousClock.Instant]>([])

    init(limit: Int, window: Duration) {
        self.limit = max(1, limit)
        self.window = window
    }

    /// Admits one; returns nil when admitted, or how long until the oldest admission leaves.
    func take() -> Duration? {
        let now = ContinuousClock.now
        return self.admissions.withLock { admissions in
            admissions.removeAll { now - $0 >= self.window }
            guard admissions.count >= self.limit else {
                admissions.append(now)
                return nil
            }
            return self.window - (now - admissions[0])
        }
    }
}

/// Applies a ``RateLimit`` for one queue.
struct RateLimiter: Sendable {
    let limit: RateLimit
    let bucket: TokenBucket?
    let window: SlidingWindow?
    let key: [UInt8]
    let transport: any CommandTransport

    init(_ limit: RateLimit, key: [UInt8], transport: any CommandTransport) {
        self.limit = limit
        self.key = key
        self.transport = transport
        switch (limit.algorithm, limit.scope) {
        case (.tokenBucket(let rate, let burst), .local):
            self.bucket = TokenBucket(rate: rate, burst: burst)
            self.window = nil
        case (.slidingWindow(let count, let window), .local):
            self.bucket = nil
            self.window = SlidingWindow(limit: count, window: window)
        default:
            self.bucket = nil
            self.window = nil
        }
    }

    /// Returns once the operation may go ahead, or throws ``WharfError/Code/rateLimited``.
    func acquire(queue: String) async throws {
        while true {
            guard let wait = try await self.tryAcquire() else { return }
            if self.limit.overflow == .fail {
                throw WharfError(.rateLimited, "queue '\(queue)' is over its rate limit; retry in \(wait)")
            }
            try await Task.sleep(for: wait)
        }
    }

    private func tryAcquire() async throws -> Duration? {
        if let bucket { return bucket.take() }
        if let window { return window.take() }
        switch self.limit.algorithm {
        case .tokenBucket(let rate, let burst): return try await self.sharedBucket(rate: rate, burst: burst)
        case .slidingWindow(let limit, let window): return try await self.sharedWindow(limit: limit, window: window)
        }
    }

    /// The shared token bucket: `tokens` and `updated` (ms) in a hash, refilled and taken
    /// from under WATCH, so concurrent producers never both take the last token.
    private func sharedBucket(rate: Double, burst: Int) async throws -> Duration? {
        let key = self.key
        let rate = max(rate, 0.001)
        while true {
            let outcome: Duration?? = try await self.transport.withSession(routingKey: key) { session in
                _ = try await session.run(BackendCommand("WATCH", key))
                let stored = try await session.run(BackendCommand("HMGET", key, "tokens", "updated")).elements ?? []
                let now = Int(Date().timeIntervalSince1970 * 1000)
                let tokens = stored.first?.string.flatMap(Double.init) ?? Double(burst)
                let updated = stored.count > 1 ? stored[1].string.flatMap(Int.init) ?? now : now
                let refilled = min(Double(burst), tokens + Double(max(0, now - updated)) / 1000 * rate)
                guard refilled >= 1 else {
                    _ = try await session.run(BackendCommand("UNWATCH"))
                    return .some(.milliseconds(Int64(((1 - refilled) / rate * 1000).rounded(.up))))
                }
                let replies = try await session.pipeline([
                    BackendCommand("MULTI"),
                    BackendCommand("HSET", key, "tokens", String(refilled - 1), "updated", now),
                    BackendCommand("PEXPIRE", key, Int(Double(burst) / rate * 1000) + 1000),
                    BackendCommand("EXEC"),
                ])
                // EXEC answers nil when another producer changed the bucket: try again.
                return try replies[replies.count - 1].throwingError() == .null ? nil : .some(nil)
            }
            if let outcome { return outcome }
        }
    }

    /// The shared sliding window.
    private func sharedWindow(limit: Int, window: Duration) async throws -> Duration? {
        // A log of recent admissions in a sorted set, trimmed and counted atomically.
        let now = Int(Date().timeIntervalSince1970 * 1000)
        let member = "\(now)-\(UInt64.random(in: 0...UInt64.max))"
        let key = self.key
        let count = try await self.transport.withSession(routingKey: key) { session in
            let replies = try await session.pipeline([
                BackendCommand("MULTI"),
                BackendCommand("ZREMRANGEBYSCORE", key, "-inf", now - window.milliseconds),
                BackendCommand("ZADD", key, now, member),
                BackendCommand("ZCARD", key),
                BackendCommand("PEXPIRE", key, window.milliseconds + 1000),
                BackendCommand("EXEC"),
            ])
            return try replies[replies.count - 1].throwingError().elements?[2].integer ?? 0
        }
        guard count > limit else { return nil }
        _ = try await self.transport.run(BackendCommand("ZREM", key, member))
        return .milliseconds(max(1, window.milliseconds / max(limit, 1)))
    }
}
