import CWharfSystem

/// A cheap tick counter for timing commands (INFO commandstats), converted to time only
/// when reported. Reading the time-stamp counter costs a few nanoseconds, against tens for
/// `clock_gettime` on some virtual machines, and it is read twice per command.
package enum Ticks {
    private static let origin = (ticks: wharf_ticks(), nanoseconds: EngineClock.monotonicNanoseconds())

    @inline(__always)
    package static func now() -> UInt64 {
        wharf_ticks()
    }

    /// Starts the calibration interval; call once early.
    package static func start() {
        _ = self.origin
    }

    /// Nanoseconds per tick, measured over the process's life so far.
    package static var nanosecondsPerTick: Double {
        let ticks = wharf_ticks() &- self.origin.ticks
        let nanoseconds = EngineClock.monotonicNanoseconds() - self.origin.nanoseconds
        guard ticks > 1000, nanoseconds > 0 else { return 1 }
        return Double(nanoseconds) / Double(ticks)
    }
}
