import Atomics
import NIOCore
import Synchronization

/// All statistics slabs of an engine and the sums INFO reports.
package final class EngineStats: Sendable {
    private let slabs = Mutex<[StatsSlab]>([])
    /// Sums at the last CONFIG RESETSTAT, subtracted from what INFO shows.
    private let baseline: Mutex<[Int]>
    let commandCount: Int
    /// A slab for callers that are not event loops (embedded use, tests); written atomically.
    package let sharedSlab: StatsSlab

    init(commandCount: Int) {
        self.commandCount = commandCount
        let shared = StatsSlab(commandCount: commandCount, isShared: true)
        self.sharedSlab = shared
        self.slabs.withLock { $0.append(shared) }
        self.baseline = Mutex(Array(repeating: 0, count: shared.size))
    }

    /// A new slab for one writer thread.
    package func makeSlab() -> StatsSlab {
        let slab = StatsSlab(commandCount: self.commandCount, isShared: false)
        self.slabs.withLock { $0.append(slab) }
        return slab
    }

    private func rawSums() -> [Int] {
        let slabs = self.slabs.withLock { $0 }
        var sums = Array(repeating: 0, count: self.sharedSlab.size)
        for slab in slabs {
            for index in 0..<sums.count { sums[index] &+= slab.load(at: index) }
        }
        return sums
    }

    /// Current totals since the last reset.
    package func totals() -> StatsTotals {
        let raw = self.rawSums()
        let base = self.baseline.withLock { $0 }
        return StatsTotals(values: zip(raw, base).map { $0 &- $1 })
    }

    package func reset() {
        let raw = self.rawSums()
        self.baseline.withLock { $0 = raw }
        self.errorCodes.withLock { $0.removeAll() }
    }

    /// Error replies by their code (`ERR`, `WRONGTYPE` …) for INFO errorstats. Only error
    /// replies take this lock, never a successful command.
    private let errorCodes = Mutex<[String: Int]>([:])
    /// Redis tracks at most this many distinct codes, so a client inventing codes cannot
    /// grow the table without bound.
    static let maximumErrorCodes = 128

    /// Counts one error reply whose text starts with `reply` (the bytes after `-`).
    package func countError(_ reply: some Collection<UInt8>) {
        let code = String(
            decoding: reply.prefix { $0 != UInt8(ascii: " ") && $0 != UInt8(ascii: "\r") }.prefix(64), as: UTF8.self)
        self.errorCodes.withLock { codes in
            if codes[code] == nil && codes.count >= Self.maximumErrorCodes { return }
            codes[code, default: 0] += 1
        }
    }

    /// Every code counted since the last reset, by name.
    package func errorCounts() -> [(String, Int)] {
        self.errorCodes.withLock { $0.sorted { $0.key < $1.key } }
    }
}

/// Summed counters.
package struct StatsTotals {
    let values: [Int]

    package subscript(field: StatsSlab.Field) -> Int {
        self.values[field.rawValue]
    }

    package func command(_ index: Int, _ field: StatsSlab.CommandField) -> Int {
        self.values[StatsSlab.globalFieldCount + index * StatsSlab.perCommand + field.rawValue]
    }

    /// A command's latency histogram: calls per bucket (bucket `b`: at most 2^b µs).
    package func latencyHistogram(_ index: Int) -> [Int] {
        let start = StatsSlab.globalFieldCount + index * StatsSlab.perCommand + StatsSlab.CommandField.allCases.count
        return Array(self.values[start..<(start + StatsSlab.latencyBuckets)])
    }
}
