import Foundation
import Synchronization
import WharfClient

/// A limit on how fast elements may be enqueued, and what a producer over it does.
public struct RateLimit: Sendable, Hashable {
    public enum Algorithm: Sendable, Hashable {
        /// `rate` per second on average with bursts of up to `burst`, counted in this process.
        case tokenBucket(rate: Double, burst: Int)
        /// At most `limit` in any window of `window`, counted in the backend: every
        /// process sharing the queue shares the limit.
        case slidingWindow(limit: Int, window: Duration)
    }

    /// What a producer over the limit does.
    public enum Overflow: Sendable, Hashable {
        /// Waits for room (backpressure).
        case wait
        /// Fails at once with ``WharfError/Code/rateLimited``.
        case fail
    }

    public var algorithm: Algorithm
    public var overflow: Overflow

    public init(_ algorithm: Algorithm, overflow: Overflow = .wait) {
        self.algorithm = algorithm
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

/// Applies a ``RateLimit`` for one queue.
struct RateLimiter: Sendable {
    let limit: RateLimit
    let bucket: TokenBucket?
    let key: [UInt8]
    let transport: any CommandTransport

    init(_ limit: RateLimit, key: [UInt8], transport: any CommandTransport) {
        self.limit = limit
        self.key = key
        self.transport = transport
        if case .tokenBucket(let rate, let burst) = limit.algorithm {
            self.bucket = TokenBucket(rate: rate, burst: burst)
        } else {
            self.bucket = nil
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
        guard case .slidingWindow(let limit, let window) = self.limit.algorithm else { return nil }
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
