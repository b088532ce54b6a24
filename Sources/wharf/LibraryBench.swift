import ArgumentParser
import Foundation
import Histogram
import Synchronization
import Wharf
import WharfClient

/// Where the library scenarios' containers keep their data.
enum LibraryBenchBackend: String, ExpressibleByArgument, Sendable {
    case embedded, server, redis
}

/// The library scenarios of `wharf bench`: `cache-get`, `cache-set`, `queue` and `events`
/// drive ``Cache``, ``WorkQueue`` and ``EventStream`` from `connections` concurrent tasks.
struct LibraryBench {
    let scenario: BenchScenario
    let backend: LibraryBenchBackend
    let host: String
    let port: Int
    let password: String?
    let resp: Int
    let connections: Int
    let consumers: Int
    let limit: BenchLimit
    let keyspace: Int
    let valueSize: Int
    let localTier: Int

    struct Result {
        var scenario: BenchScenario
        var backend: LibraryBenchBackend
        var operations: Int
        var seconds: Double
        var clientCPUSeconds: Double
        var histogram: Histogram<UInt64>
        var connections: Int
        var valueSize: Int
        var keyspace: Int
        /// cache-get on the embedded backend: a `Mutex<[String: Data]>` lookup, same run.
        var baselineOpsPerSecond: Double?

        var opsPerSecond: Double { self.seconds > 0 ? Double(self.operations) / self.seconds : 0 }

        var json: String {
            var fields: [(String, String)] =
                [("scenario", "\"\(self.scenario.rawValue)\""), ("backend", "\"\(self.backend.rawValue)\"")]
                + BenchResult.measuredFields(
                    requests: self.operations, seconds: self.seconds, clientCPUSeconds: self.clientCPUSeconds,
                    histogram: self.histogram)
                + [
                    ("connections", "\(self.connections)"), ("pipeline", "1"), ("value_size", "\(self.valueSize)"),
                    ("keyspace", "\(self.keyspace)"),
                ]
            if let baseline = self.baselineOpsPerSecond {
                fields.append(("baseline_ops_per_sec", String(format: "%.1f", baseline)))
                fields.append(("ratio_to_baseline", String(format: "%.3f", self.opsPerSecond / baseline)))
            }
            return BenchResult.jsonObject(fields)
        }

        var text: String {
            var line = String(
                format:
                    "%@ (%@): %d operations in %.2f s, %.0f ops/s, client CPU %.2f s; latency us p50 %d p99 %d max %d",
                self.scenario.rawValue, self.backend.rawValue, self.operations, self.seconds, self.opsPerSecond,
                self.clientCPUSeconds, self.histogram.valueAtPercentile(50), self.histogram.valueAtPercentile(99),
                self.histogram.max)
            if let baseline = self.baselineOpsPerSecond {
                line += String(
                    format: "; Mutex<[String: Data]> %.0f ops/s (ratio %.2f)", baseline, self.opsPerSecond / baseline)
            }
            return line
        }
    }

    func run() async throws -> Result {
        let wharf = try await self.open()
        let value = Data(repeating: UInt8(ascii: "x"), count: self.valueSize)
        let budget = BenchBudget(self.limit)
        var baseline: Double?
        let cpuBefore = BenchRunner.cpuSeconds()
        let start = ContinuousClock.now
        let histogram: Histogram<UInt64>
        switch self.scenario {
        case .cacheGet:
            let cache = try wharf.cache(
                "bench", of: Data.self, codec: RawBytesCodec(), configuration: self.cacheConfiguration)
            try await self.fill(cache, value)
            if self.backend == .embedded && self.connections == 1 {
                // One task in a tight loop calling `get` directly, as the dictionary baseline
                // runs: no per-call clock or closure.
                histogram = try await self.tightGets(cache, budget)
            } else {
                histogram = try await self.measure(budget) { random in
                    _ = try await cache.get(Self.key(random.next(below: self.keyspace)))
                }
            }
        case .cacheSet:
            let cache = try wharf.cache(
                "bench", of: Data.self, codec: RawBytesCodec(), configuration: self.cacheConfiguration)
            histogram = try await self.measure(budget) { random in
                try await cache.set(Self.key(random.next(below: self.keyspace)), value)
            }
        case .queue:
            // Each task enqueues then dequeues: two operations per round.
            let queue = try wharf.workQueue(
                "bench-\(UInt32.random(in: 0...UInt32.max))", of: Data.self, codec: RawBytesCodec())
            histogram = try await self.measure(budget, perRound: 2) { _ in
                try await queue.enqueue(value)
                _ = try await queue.dequeue()
            }
        case .events:
            histogram = try await self.runEvents(wharf, value: value, budget: budget)
        default:
            throw ValidationError("\(self.scenario.rawValue) is not a library scenario")
        }
        let elapsed = ContinuousClock.now - start
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        let cpu = BenchRunner.cpuSeconds() - cpuBefore
        if self.scenario == .cacheGet && self.backend == .embedded { baseline = self.dictionaryBaseline(value) }
        try await wharf.close()
        return Result(
            scenario: self.scenario, backend: self.backend, operations: budget.completed.load(ordering: .relaxed),
            seconds: seconds, clientCPUSeconds: cpu,
            histogram: histogram, connections: self.connections, valueSize: self.valueSize, keyspace: self.keyspace,
            baselineOpsPerSecond: baseline)
    }

    private func open() async throws -> Wharf {
        switch self.backend {
        case .embedded:
            return try await Wharf.open(.embedded(inMemory: true))
        case .server, .redis:
            var configuration = WharfClientConfiguration()
            configuration.connection.host = self.host
            configuration.connection.port = self.port
            configuration.connection.password = self.password
            configuration.connection.protocolVersion = self.resp
            return try await Wharf.open(.client(configuration, name: self.backend == .server ? "wharf" : "redis"))
        }
    }

    private static func key(_ number: Int) -> String { "key:\(number)" }

    /// The bench's cache, with `--local-tier` entries in front of the backend.
    private var cacheConfiguration: CacheConfiguration {
        guard self.localTier > 0 else { return CacheConfiguration() }
        return CacheConfiguration(
            localTier: .init(capacity: self.localTier, eviction: .lru, timeToLive: .seconds(3600)))
    }

    private func fill(_ cache: Cache<Data>, _ value: Data) async throws {
        var batch: [String: Data] = [:]
        for number in 0..<self.keyspace {
            batch[Self.key(number)] = value
            if batch.count == 1000 {
                try await cache.set(batch)
                batch.removeAll(keepingCapacity: true)
            }
        }
        if !batch.isEmpty { try await cache.set(batch) }
    }

    /// Runs `operation` from `connections` tasks until the budget is spent.
    private func measure(
        _ budget: BenchBudget, perRound: Int = 1,
        _ operation: @escaping @Sendable (inout FastRandom) async throws -> Void
    ) async throws -> Histogram<UInt64> {
        try await withThrowingTaskGroup(of: Histogram<UInt64>.self) { group in
            for index in 0..<self.connections {
                group.addTask {
                    var histogram = BenchRunner.makeHistogram()
                    var random = FastRandom(seed: UInt64(index + 1) &* 0x9E37_79B9_7F4A_7C15)
                    while budget.take(perRound) > 0 {
                        let started = ContinuousClock.now
                        try await operation(&random)
                        _ = histogram.record(UInt64(max(0, (ContinuousClock.now - started).microseconds)))
                        budget.completed.add(perRound, ordering: .relaxed)
                    }
                    return histogram
                }
            }
            var total = BenchRunner.makeHistogram()
            for try await histogram in group { total.add(histogram) }
            return total
        }
    }

    /// `Cache.get` of random keys on this task in blocks of 1,000 timed together.
    private func tightGets(_ cache: Cache<Data>, _ budget: BenchBudget) async throws -> Histogram<UInt64> {
        var histogram = BenchRunner.makeHistogram()
        var random = FastRandom(seed: 1)
        var found = 0
        while true {
            let count = budget.take(1000)
            if count == 0 { break }
            let started = ContinuousClock.now
            for _ in 0..<count where try await cache.get(Self.key(random.next(below: self.keyspace))) != nil {
                found += 1
            }
            let micros = (ContinuousClock.now - started).microseconds / Int64(count)
            _ = histogram.record(UInt64(max(0, micros)), count: UInt64(count))
            budget.completed.add(count, ordering: .relaxed)
        }
        precondition(found == budget.completed.load(ordering: .relaxed), "every key was filled")
        return histogram
    }

    /// The same number of random lookups in a `Mutex<[String: Data]>`, on one task.
    private func dictionaryBaseline(_ value: Data) -> Double {
        let dictionary = Mutex<[String: Data]>([:])
        dictionary.withLock { map in
            for number in 0..<self.keyspace { map[Self.key(number)] = value }
        }
        var random = FastRandom(seed: 7)
        let lookups = 2_000_000
        var found = 0
        let start = ContinuousClock.now
        for _ in 0..<lookups {
            let key = Self.key(random.next(below: self.keyspace))
            if dictionary.withLock({ $0[key] }) != nil { found += 1 }
        }
        let elapsed = ContinuousClock.now - start
        precondition(found == lookups)
        return Double(lookups) / (Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
    }

    /// Publishers (`connections` tasks, batches of 100) and `consumers` consumers in one group,
    /// acknowledging in batches; counts delivered events, latency from publish to delivery.
    private func runEvents(_ wharf: Wharf, value: Data, budget: BenchBudget) async throws -> Histogram<UInt64> {
        let stream = try wharf.eventStream(
            "bench-\(UInt32.random(in: 0...UInt32.max))", of: Data.self, codec: RawBytesCodec())
        try await stream.createGroup("bench", from: "0")
        let counters = BenchCounters()
        let consumers = Task {
            try await withThrowingTaskGroup(of: Histogram<UInt64>.self) { group in
                for index in 0..<self.consumers {
                    group.addTask { try await Self.consume(stream, index: index, budget: budget) }
                }
                var total = BenchRunner.makeHistogram()
                for try await histogram in group { total.add(histogram) }
                return total
            }
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<self.connections {
                group.addTask {
                    while true {
                        let count = budget.take(100)
                        if count == 0 { break }
                        var stamp = Self.monotonicMicroseconds()
                        let event = withUnsafeBytes(of: &stamp) { Data($0) } + value
                        try await stream.publish(contentsOf: Array(repeating: event, count: count))
                        counters.produced.add(count, ordering: .relaxed)
                    }
                }
            }
            try await group.waitForAll()
        }
        // Every published event delivered: the consumers stop.
        while budget.completed.load(ordering: .relaxed) < counters.produced.load(ordering: .relaxed) {
            try await Task.sleep(for: .milliseconds(5))
        }
        consumers.cancel()
        return try await consumers.value
    }

    /// Monotonic microseconds, for the publish stamps carried in events.
    private static func monotonicMicroseconds() -> UInt64 {
        DispatchTime.now().uptimeNanoseconds / 1000
    }

    private static func consume(_ stream: EventStream<Data>, index: Int, budget: BenchBudget) async throws
        -> Histogram<UInt64>
    {
        var histogram = BenchRunner.makeHistogram()
        let consumer = try await stream.consume(group: "bench", consumer: "c\(index)", batchSize: 200)
        var iterator = consumer.makeAsyncIterator()
        var unacknowledged: [EventDelivery<Data>] = []
        do {
            while let delivery = try await iterator.next() {
                let stamp = delivery.event.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
                let now = Self.monotonicMicroseconds()
                _ = histogram.record(now > stamp ? now - stamp : 0)
                unacknowledged.append(delivery)
                if unacknowledged.count >= 200 {
                    try await unacknowledged.acknowledge()
                    unacknowledged.removeAll(keepingCapacity: true)
                }
                budget.completed.add(1, ordering: .relaxed)
            }
        } catch is CancellationError {
        } catch let error as WharfError where Task.isCancelled {
            _ = error
        }
        return histogram
    }
}
