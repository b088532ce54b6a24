import Atomics
import NIOCore
import Synchronization

/// Counters written by one thread (an event loop) and summed by INFO.
///
/// Each slab has a single writer, so an increment is a relaxed load and a relaxed store —
/// plain memory operations — instead of a locked read-modify-write on a line every core
/// fights over. Readers on other threads see values that are at most a moment old.
package final class StatsSlab: @unchecked Sendable {
    /// Engine-wide counters, at the start of the slab.
    package enum Field: Int, CaseIterable {
        case commandsProcessed
        case keyspaceHits
        case keyspaceMisses
        case netInputBytes
        case netOutputBytes
        case errorReplies
        /// Writes that changed data (the `save` rules count them).
        case changes
        /// Clients closed for passing their output buffer limit (slow subscribers).
        case outputBufferLimitDisconnections
    }

    /// Per-command counters, `perCommand` of them for each command.
    package enum CommandField: Int, CaseIterable {
        case calls
        /// Time spent, in ``Ticks``.
        case ticks
        case failed
        case rejected
    }

    /// After the counters, `latencyBuckets` buckets of a latency histogram per command:
    /// bucket `b` counts calls that took at most 2^b microseconds (LATENCY HISTOGRAM).
    static let latencyBuckets = 24
    static let perCommand = CommandField.allCases.count + latencyBuckets
    static let globalFieldCount = Field.allCases.count
    let commandCount: Int
    let size: Int
    private let storage: UnsafeMutablePointer<UnsafeAtomic<Int>.Storage>
    /// Slabs shared by several threads (embedded use) add atomically instead.
    let isShared: Bool

    init(commandCount: Int, isShared: Bool) {
        self.commandCount = commandCount
        self.isShared = isShared
        self.size = Self.globalFieldCount + commandCount * Self.perCommand
        self.storage = .allocate(capacity: self.size)
        self.storage.initialize(repeating: UnsafeAtomic<Int>.Storage(0), count: self.size)
    }

    deinit {
        self.storage.deinitialize(count: self.size)
        self.storage.deallocate()
    }

    /// The counters as a plain value, for the per-command path: calling into the class
    /// through an unowned reference retains and releases it each time.
    var counters: StatsCounters { StatsCounters(storage: self.storage, isShared: self.isShared) }

    @inline(__always)
    package func add(_ field: Field, _ delta: Int = 1) {
        self.counters.add(field, delta)
    }

    @inline(__always)
    package func add(command: Int, _ field: CommandField, _ delta: Int = 1) {
        self.counters.add(command: command, field, delta)
    }

    func load(at index: Int) -> Int {
        UnsafeAtomic<Int>(at: self.storage + index).load(ordering: .relaxed)
    }
}

/// A view of a ``StatsSlab``'s counters, valid while the slab lives (a session's slab
/// outlives its command contexts).
struct StatsCounters {
    let storage: UnsafeMutablePointer<UnsafeAtomic<Int>.Storage>
    let isShared: Bool

    @inline(__always)
    private func add(at index: Int, _ delta: Int) {
        let atomic = UnsafeAtomic<Int>(at: self.storage + index)
        if self.isShared {
            atomic.wrappingIncrement(by: delta, ordering: .relaxed)
        } else {
            atomic.store(atomic.load(ordering: .relaxed) &+ delta, ordering: .relaxed)
        }
    }

    @inline(__always)
    func add(_ field: StatsSlab.Field, _ delta: Int = 1) {
        self.add(at: field.rawValue, delta)
    }

    @inline(__always)
    func add(command: Int, _ field: StatsSlab.CommandField, _ delta: Int = 1) {
        self.add(at: StatsSlab.globalFieldCount + command * StatsSlab.perCommand + field.rawValue, delta)
    }

    /// Counts `weight` calls of `command` that took `microseconds` in its histogram.
    @inline(__always)
    func addLatency(command: Int, microseconds: Int, weight: Int) {
        let bucket = min(
            StatsSlab.latencyBuckets - 1, microseconds <= 1 ? 0 : Int.bitWidth - (microseconds - 1).leadingZeroBitCount)
        self.add(
            at: StatsSlab.globalFieldCount + command * StatsSlab.perCommand + StatsSlab.CommandField.allCases.count
                + bucket, weight)
    }
}
