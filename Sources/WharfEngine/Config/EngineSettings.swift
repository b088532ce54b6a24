package import Atomics
import NIOCore
package import Synchronization

/// The live values of every configuration parameter.
///
/// Values read on hot paths are atomics (a relaxed load is a plain load), so `CONFIG SET`
/// takes effect without locking anything a command uses. Start-up-only values are constants.
public final class EngineSettings: Sendable {
    // Fixed at start-up.
    public let databases: Int
    public let shards: Int

    /// Incremented by every change, so readers can cache derived values cheaply.
    package let generation = UnsafeAtomic<Int>.create(0)

    // Changeable at run time.
    package let maxClients = UnsafeAtomic<Int>.create(10_000)
    package let idleTimeoutSeconds = UnsafeAtomic<Int>.create(0)
    package let tcpKeepaliveSeconds = UnsafeAtomic<Int>.create(300)
    package let protoMaxBulkLength = UnsafeAtomic<Int>.create(512 * 1024 * 1024)
    // Redis bounds the count only at INT_MAX; a lower value is a Wharf-only guard.
    package let protoMaxMultibulkLength = UnsafeAtomic<Int>.create(Int(Int32.max))
    package let protoInlineMaxSize = UnsafeAtomic<Int>.create(64 * 1024)
    package let clientQueryBufferLimit = UnsafeAtomic<Int>.create(1024 * 1024 * 1024)
    package let hz = UnsafeAtomic<Int>.create(10)
    package let activeExpireEffort = UnsafeAtomic<Int>.create(1)
    package let maxmemoryPolicyIndex = UnsafeAtomic<Int>.create(0)
    /// Whether keys track an LFU counter (an LFU policy) rather than LRU time.
    package let tracksLFU = UnsafeAtomic<Bool>.create(false)
    package let lfuLogFactor = UnsafeAtomic<Int>.create(10)
    package let lfuDecayTime = UnsafeAtomic<Int>.create(1)
    /// `client-output-buffer-limit` hard/soft limits in bytes and soft seconds, per class.
    package let outputBufferLimits = Mutex<OutputBufferLimits>(OutputBufferLimits())
    package let requirePassword = Mutex<String>("")
    /// Whether any password is set, readable without the lock.
    package let hasPassword = UnsafeAtomic<Bool>.create(false)
    package let logLevel = Mutex<String>("notice")
    /// Take a snapshot (compacting the log) when the log has grown by this percentage of the last snapshot…
    package let autoRewritePercentage = UnsafeAtomic<Int>.create(100)
    /// …and by at least this many bytes.
    package let autoRewriteMinSize = UnsafeAtomic<Int>.create(64 * 1024 * 1024)
    /// Redis's `save` rules: snapshot after `seconds` if at least `changes` writes happened.
    package let saveRules = Mutex<[SaveRule]>([
        SaveRule(seconds: 3600, changes: 1), SaveRule(seconds: 300, changes: 100),
        SaveRule(seconds: 60, changes: 10000),
    ])
    /// `appendfsync`, applied to the log when it changes.
    package let appendFsync = Mutex<String>("everysec")
    /// Told when `appendfsync` changes (the log registers itself).
    package let fsyncObserver = Mutex<(@Sendable (String) -> Void)?>(nil)
    package let walSegmentSize = UnsafeAtomic<Int>.create(64 * 1024 * 1024)
    // Thresholds past which small collections leave their packed encodings (Redis's names).
    package let listMaxListpackSize = UnsafeAtomic<Int>.create(-2)
    package let hashMaxListpackEntries = UnsafeAtomic<Int>.create(512)
    package let hashMaxListpackValue = UnsafeAtomic<Int>.create(64)
    package let setMaxIntsetEntries = UnsafeAtomic<Int>.create(512)
    package let zsetMaxListpackEntries = UnsafeAtomic<Int>.create(128)
    package let zsetMaxListpackValue = UnsafeAtomic<Int>.create(64)
    /// Bytes and entries of one stream chunk before a new one starts (0: no limit).
    /// SLOWLOG: commands slower than this many microseconds are logged (-1: none).
    package let slowlogSlowerThan = UnsafeAtomic<Int>.create(10_000)
    package let slowlogMaxLength = UnsafeAtomic<Int>.create(128)
    /// LATENCY: events of at least this many milliseconds are recorded (0: off).
    package let latencyMonitorThreshold = UnsafeAtomic<Int>.create(0)
    /// LATENCY HISTOGRAM and INFO latencystats: per-command latency histograms.
    package let latencyTracking = UnsafeAtomic<Bool>.create(true)
    /// Whether every command is timed, not one constant-time call in eight: when the slow
    /// log or the latency monitor is set to catch commands that fast ones might be.
    package let timesEveryCommand = UnsafeAtomic<Bool>.create(false)

    package func updateTiming() {
        let slowlog = self.slowlogSlowerThan.load(ordering: .relaxed)
        let every = (slowlog >= 0 && slowlog < 1000) || self.latencyMonitorThreshold.load(ordering: .relaxed) > 0
        self.timesEveryCommand.store(every, ordering: .relaxed)
    }

    /// Largest sparse HyperLogLog (header included) before it turns dense.
    package let hllSparseMaxBytes = UnsafeAtomic<Int>.create(3000)
    package let streamNodeMaxBytes = UnsafeAtomic<Int>.create(4096)
    package let streamNodeMaxEntries = UnsafeAtomic<Int>.create(100)
    /// `notify-keyspace-events` as ``KeyspaceEvents`` bits (0: off).
    package let notifyKeyspaceEvents = UnsafeAtomic<Int>.create(0)
    /// Values of parameters owned by layers above the engine (port, bind, dir, …), shown by CONFIG GET.
    package let external = Mutex<[String: String]>([:])
    /// Values of Redis's keys that Wharf accepts without a parameter of its own.
    package let redisValues = Mutex<[String: String]>([:])
    /// Where configuration warnings go (the server's log); nil: nowhere.
    package let warningHandler = Mutex<(@Sendable (String) -> Void)?>(nil)

    package func warn(_ message: String) {
        self.warningHandler.withLock { $0 }?(message)
    }

    /// Sends configuration warnings to `handler` (the host's log).
    public func onWarning(_ handler: @escaping @Sendable (String) -> Void) {
        self.warningHandler.withLock { $0 = handler }
    }

    public init(databases: Int = 16, shards: Int = 32) {
        self.databases = databases
        self.shards = shards
    }

    // The atomics are unmanaged (no reference counting on every read); they live exactly as
    // long as the settings.
    deinit {
        for atomic in [
            self.listMaxListpackSize, self.hashMaxListpackEntries, self.hashMaxListpackValue,
            self.setMaxIntsetEntries, self.zsetMaxListpackEntries, self.zsetMaxListpackValue, self.streamNodeMaxBytes,
            self.streamNodeMaxEntries,
            self.notifyKeyspaceEvents, self.hllSparseMaxBytes, self.slowlogSlowerThan, self.slowlogMaxLength,
            self.latencyMonitorThreshold,
        ] {
            atomic.destroy()
        }
        self.latencyTracking.destroy()
        self.timesEveryCommand.destroy()
        self.activeExpireEffort.destroy()
        self.autoRewriteMinSize.destroy()
        self.autoRewritePercentage.destroy()
        self.clientQueryBufferLimit.destroy()
        self.generation.destroy()
        self.hasPassword.destroy()
        self.hz.destroy()
        self.idleTimeoutSeconds.destroy()
        self.lfuDecayTime.destroy()
        self.lfuLogFactor.destroy()
        self.maxClients.destroy()
        self.maxmemoryPolicyIndex.destroy()
        self.protoInlineMaxSize.destroy()
        self.protoMaxBulkLength.destroy()
        self.protoMaxMultibulkLength.destroy()
        self.tcpKeepaliveSeconds.destroy()
        self.tracksLFU.destroy()
        self.walSegmentSize.destroy()
    }

    public var maxmemoryPolicy: MaxmemoryPolicy {
        MaxmemoryPolicy.allCases[self.maxmemoryPolicyIndex.load(ordering: .relaxed)]
    }

    public var password: String { self.requirePassword.withLock { $0 } }
}

/// One `save` rule.
public struct SaveRule: Sendable, Hashable {
    public var seconds: Int64
    public var changes: Int
}

/// Redis's three `client-output-buffer-limit` classes.
public struct OutputBufferLimits: Sendable, Hashable {
    public struct Limit: Sendable, Hashable {
        public var hardBytes: Int
        public var softBytes: Int
        public var softSeconds: Int
    }

    public var normal = Limit(hardBytes: 0, softBytes: 0, softSeconds: 0)
    public var replica = Limit(hardBytes: 256 << 20, softBytes: 64 << 20, softSeconds: 60)
    public var pubsub = Limit(hardBytes: 32 << 20, softBytes: 8 << 20, softSeconds: 60)

    public var description: String {
        func text(_ name: String, _ limit: Limit) -> String {
            "\(name) \(limit.hardBytes) \(limit.softBytes) \(limit.softSeconds)"
        }
        return [text("normal", self.normal), text("slave", self.replica), text("pubsub", self.pubsub)].joined(
            separator: " ")
    }
}
