/// How an entry's 24-bit access clock is kept: LRU seconds or LFU counter, as Redis does,
/// chosen by `maxmemory-policy`.
package enum AccessTracking {
    static let lruClockMax: UInt32 = (1 << 24) - 1
    static let lfuInitialValue: UInt32 = 5

    /// The LRU clock: seconds, wrapping at 2^24 (194 days), as Redis's `LRU_CLOCK()`.
    @inline(__always)
    static func lruClock(now: Int64) -> UInt32 {
        UInt32(truncatingIfNeeded: now / 1000) & lruClockMax
    }

    static func minutes(now: Int64) -> UInt32 {
        UInt32(truncatingIfNeeded: now / 60_000) & 0xFFFF
    }

    /// The clock value of a newly written entry.
    @inline(__always)
    static func initial(now: Int64, lfu: Bool) -> UInt32 {
        lfu ? (minutes(now: now) << 8 | lfuInitialValue) : lruClock(now: now)
    }

    /// Records an access.
    @inline(__always)
    static func touch(_ entry: Entry, now: Int64, lfu: Bool, logFactor: Int, decayTime: Int) {
        if !lfu {
            entry.accessClock = lruClock(now: now)
            return
        }
        var counter = decayedCounter(entry.accessClock, now: now, decayTime: decayTime)
        if counter < 255 {
            let base = Double(max(0, Int(counter) - Int(lfuInitialValue)))
            let probability = 1.0 / (base * Double(logFactor) + 1)
            if Double.random(in: 0..<1) < probability { counter += 1 }
        }
        entry.accessClock = minutes(now: now) << 8 | counter
    }

    /// The LFU counter after decaying one step per `decayTime` minutes since the last access.
    static func decayedCounter(_ clock: UInt32, now: Int64, decayTime: Int) -> UInt32 {
        let lastMinutes = clock >> 8
        let counter = clock & 0xFF
        let nowMinutes = minutes(now: now)
        let elapsed = nowMinutes >= lastMinutes ? nowMinutes - lastMinutes : 65535 - lastMinutes + nowMinutes
        let periods = decayTime > 0 ? elapsed / UInt32(decayTime) : 0
        return periods >= counter ? 0 : counter - periods
    }

    /// Idle time in milliseconds of an LRU clock value.
    static func idleMilliseconds(_ clock: UInt32, now: Int64) -> Int64 {
        let current = lruClock(now: now)
        if current >= clock { return Int64(current - clock) * 1000 }
        return Int64(current + (lruClockMax - clock)) * 1000
    }
}
