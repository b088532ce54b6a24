import CWharfSystem
import NIOCore

/// How many CPUs this process may run on.
enum ProcessorCount {
    /// The smaller of NIO's core count (which honours cgroup quotas) and the CPU affinity
    /// mask (which `taskset` sets), so a pinned server does not run more event loops than cores.
    static var available: Int {
        let pinned = Int(wharf_affinity_cpu_count())
        let cores = System.coreCount
        return max(1, pinned > 0 ? min(cores, pinned) : cores)
    }
}
