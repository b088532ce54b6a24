/// Exponential backoff with jitter between reconnection attempts.
public struct Backoff: Sendable, Hashable {
    /// The wait before the second attempt.
    public var initial: Duration
    /// No wait is longer than this.
    public var maximum: Duration
    public var multiplier: Double
    /// Each wait is shortened by a random fraction up to this (0.2: between 80% and 100%),
    /// so clients that lost the same server do not reconnect in lockstep.
    public var jitter: Double
    /// Attempts before giving up with ``WharfClientError/Code/connectFailed``.
    public var maximumAttempts: Int

    public init(
        initial: Duration = .milliseconds(50), maximum: Duration = .seconds(2), multiplier: Double = 2,
        jitter: Double = 0.2, maximumAttempts: Int = 8
    ) {
        self.initial = initial
        self.maximum = maximum
        self.multiplier = multiplier
        self.jitter = jitter
        self.maximumAttempts = maximumAttempts
    }

    /// The wait after failed attempt number `attempt` (1 for the first failure).
    public func delay(afterAttempt attempt: Int) -> Duration {
        let base = Double(self.initial.nanoseconds) * pow(self.multiplier, Double(max(0, attempt - 1)))
        let capped = min(base, Double(self.maximum.nanoseconds))
        let jittered = capped * (1 - Double.random(in: 0...max(0, min(1, self.jitter))))
        return .nanoseconds(Int64(jittered))
    }

    private func pow(_ base: Double, _ exponent: Double) -> Double {
        var result = 1.0
        for _ in 0..<Int(min(exponent, 64)) { result *= base }
        return result
    }
}
