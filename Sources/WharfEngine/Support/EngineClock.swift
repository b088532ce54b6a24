import Atomics
import NIOCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// Where the engine gets the time from: the system clock, or a manual clock that tests set.
///
/// TTLs, expiry and access times all read it, so expiry can be tested without sleeping.
/// It is a final class rather than a protocol so the system case costs one branch.
public final class EngineClock: Sendable {
    private let manualMilliseconds: ManagedAtomic<Int64>
    public let isManual: Bool

    /// The system's real-time clock.
    public static let system = EngineClock(manual: nil)

    private init(manual: Int64?) {
        self.manualMilliseconds = ManagedAtomic(manual ?? 0)
        self.isManual = manual != nil
    }

    /// A clock that stands still at `milliseconds` (Unix time) until ``advance(byMilliseconds:)`` or ``set(milliseconds:)``.
    public static func manual(milliseconds: Int64) -> EngineClock {
        EngineClock(manual: milliseconds)
    }

    /// Unix time in milliseconds.
    @inline(__always)
    public func nowMilliseconds() -> Int64 {
        if self.isManual { return self.manualMilliseconds.load(ordering: .relaxed) }
        return Self.systemNanoseconds() / 1_000_000
    }

    public func advance(byMilliseconds delta: Int64) {
        precondition(self.isManual, "advance on the system clock")
        self.manualMilliseconds.wrappingIncrement(by: delta, ordering: .relaxed)
    }

    public func set(milliseconds: Int64) {
        precondition(self.isManual, "set on the system clock")
        self.manualMilliseconds.store(milliseconds, ordering: .relaxed)
    }

    /// Real time in nanoseconds, for measuring durations whatever the engine clock says.
    @inline(__always)
    public static func systemNanoseconds() -> Int64 {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return Int64(spec.tv_sec) * 1_000_000_000 + Int64(spec.tv_nsec)
    }

    /// Monotonic time in nanoseconds, for uptime and timeouts.
    public static func monotonicNanoseconds() -> Int64 {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return Int64(spec.tv_sec) * 1_000_000_000 + Int64(spec.tv_nsec)
    }
}
