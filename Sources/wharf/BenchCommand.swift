import ArgumentParser
import Foundation
import Histogram
import NIOCore
import NIOPosix
import Synchronization
import WharfClient
import WharfProtocol

/// `wharf bench`: a load generator built on WharfClient, for Wharf, Redis and Valkey.
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure a server's throughput and latency with WharfClient.",
        discussion: """
            Scenarios: \(BenchScenario.allCases.map(\.rawValue).joined(separator: ", ")). \
            cache-get, cache-set, queue and events drive the Wharf library's Cache, WorkQueue and \
            EventStream on --backend (embedded: in this process; server, redis: --host/--port) \
            with --connections concurrent tasks; cache-get on the embedded backend also measures \
            a Mutex<[String: Data]> lookup in the same run (baseline_ops_per_sec). \
            Each connection keeps --pipeline requests in flight, as redis-benchmark's -P does. \
            xreadgroup runs --connections producers (XADD) and --consumers consumers \
            (XREADGROUP + XACK) and counts delivered entries; publish runs --connections \
            publishers and --subscribers subscribers and counts delivered messages. Latencies \
            are HDR histograms; for xreadgroup and publish they run from XADD/PUBLISH to delivery.
            """
    )

    @Option(help: "Server host.") var host = "127.0.0.1"
    @Option(help: "Server port.") var port = 6379
    @Option(help: "Parallel connections.") var connections = 50
    @Option(help: "Requests in flight per connection.") var pipeline = 1
    @Option(help: "Requests per scenario (default 100000 unless --duration is given).") var requests: Int?
    @Option(help: "Seconds per scenario, instead of a request count.") var duration: Double?
    @Option(help: "Distinct keys the random key names are drawn from.") var keyspace = 100_000
    @Option(name: .customLong("value-size"), help: "Bytes per value.") var valueSize = 3
    @Option(help: "Event-loop threads of the client (redis-benchmark uses one).") var threads = 1
    @Option(help: "Consumers in the xreadgroup scenario.") var consumers = 4
    @Option(help: "Subscribers in the publish scenario.") var subscribers = 4
    @Option(help: "Password (AUTH) for the server.") var password: String?
    @Option(help: "Protocol to speak: 2 or 3.") var resp = 2
    @Option(help: "For the library scenarios (cache-get, cache-set, queue, events): embedded, server or redis.")
    var backend: LibraryBenchBackend = .server
    @Option(
        name: .customLong("local-tier"),
        help: "For cache-get and cache-set: entries in the Cache's in-process tier (0: none).")
    var localTier = 0
    @Flag(help: "Print one JSON object per scenario.") var json = false
    @Argument(help: "Scenarios to run, in order.") var scenarios: [BenchScenario] = [.set, .get]

    func validate() throws {
        guard self.connections >= 1 else { throw ValidationError("--connections must be at least 1") }
        guard self.pipeline >= 1 else { throw ValidationError("--pipeline must be at least 1") }
        guard self.keyspace >= 1 else { throw ValidationError("--keyspace must be at least 1") }
        guard self.localTier >= 0 else { throw ValidationError("--local-tier must not be negative") }
        guard self.valueSize >= 0 else { throw ValidationError("--value-size must not be negative") }
        guard self.threads >= 1 else { throw ValidationError("--threads must be at least 1") }
        guard self.consumers >= 1, self.subscribers >= 1 else {
            throw ValidationError("--consumers and --subscribers must be at least 1")
        }
        if self.requests != nil && self.duration != nil {
            throw ValidationError("give --requests or --duration, not both")
        }
        guard self.resp == 2 || self.resp == 3 else { throw ValidationError("--resp must be 2 or 3") }
    }

    func run() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: self.threads)
        let connection = WharfConnection.Configuration(
            host: self.host, port: self.port, protocolVersion: self.resp, password: self.password)
        let limit: BenchLimit =
            self.duration.map { .seconds($0) } ?? .requests(self.requests ?? 100_000)
        for scenario in self.scenarios {
            if scenario.isLibraryScenario {
                let bench = LibraryBench(
                    scenario: scenario, backend: self.backend, host: self.host, port: self.port,
                    password: self.password, resp: self.resp, connections: self.connections, consumers: self.consumers,
                    limit: limit, keyspace: self.keyspace, valueSize: self.valueSize, localTier: self.localTier)
                let result = try await bench.run()
                print(self.json ? result.json : result.text)
                continue
            }
            let settings = BenchSettings(
                connection: connection, connections: self.connections, pipeline: self.pipeline, limit: limit,
                keyspace: self.keyspace, value: [UInt8](repeating: UInt8(ascii: "x"), count: self.valueSize),
                consumers: self.consumers, subscribers: self.subscribers)
            let result = try await BenchRunner(settings: settings, group: group, scenario: scenario).run()
            print(self.json ? result.json : result.text)
        }
        try await group.shutdownGracefully()
    }
}

enum BenchScenario: String, CaseIterable, ExpressibleByArgument, Sendable {
    case ping, set, get, incr, mset, lpush, lpop, hset, zadd, xadd, xreadgroup, publish
    case cacheGet = "cache-get"
    case cacheSet = "cache-set"
    case queue, events

    /// Scenarios that drive the `Wharf` library's containers rather than raw commands.
    var isLibraryScenario: Bool { [.cacheGet, .cacheSet, .queue, .events].contains(self) }
}

enum BenchLimit: Sendable {
    case requests(Int)
    case seconds(Double)
}

struct BenchSettings: Sendable {
    var connection: WharfConnection.Configuration
    var connections: Int
    var pipeline: Int
    var limit: BenchLimit
    var keyspace: Int
    var value: [UInt8]
    var consumers: Int
    var subscribers: Int
}

/// What one scenario measured.
struct BenchResult {
    var scenario: BenchScenario
    var requests: Int
    var seconds: Double
    var clientCPUSeconds: Double
    var histogram: Histogram<UInt64>
    var settings: BenchSettings

    var opsPerSecond: Double { self.seconds > 0 ? Double(self.requests) / self.seconds : 0 }

    var json: String {
        Self.jsonObject(
            [("scenario", "\"\(self.scenario.rawValue)\"")]
                + Self.measuredFields(
                    requests: self.requests, seconds: self.seconds, clientCPUSeconds: self.clientCPUSeconds,
                    histogram: self.histogram)
                + [
                    ("connections", "\(self.settings.connections)"), ("pipeline", "\(self.settings.pipeline)"),
                    ("value_size", "\(self.settings.value.count)"), ("keyspace", "\(self.settings.keyspace)"),
                ])
    }

    /// The JSON fields of what a run measured, shared by every scenario's object.
    static func measuredFields(requests: Int, seconds: Double, clientCPUSeconds: Double, histogram: Histogram<UInt64>)
        -> [(String, String)]
    {
        [
            ("requests", "\(requests)"), ("seconds", String(format: "%.4f", seconds)),
            ("ops_per_sec", String(format: "%.1f", seconds > 0 ? Double(requests) / seconds : 0)),
            ("client_cpu_seconds", String(format: "%.4f", clientCPUSeconds)),
            ("p50_us", "\(histogram.valueAtPercentile(50))"), ("p99_us", "\(histogram.valueAtPercentile(99))"),
            ("p999_us", "\(histogram.valueAtPercentile(99.9))"), ("max_us", "\(histogram.max)"),
        ]
    }

    /// One line of JSON from name/value pairs whose values are already JSON.
    static func jsonObject(_ fields: [(String, String)]) -> String {
        "{" + fields.map { "\"\($0.0)\": \($0.1)" }.joined(separator: ", ") + "}"
    }

    var text: String {
        String(
            format:
                "%@: %d requests in %.2f s, %.0f ops/s, client CPU %.2f s; latency us p50 %d p99 %d p99.9 %d max %d",
            self.scenario.rawValue, self.requests, self.seconds, self.opsPerSecond, self.clientCPUSeconds,
            self.histogram.valueAtPercentile(50), self.histogram.valueAtPercentile(99),
            self.histogram.valueAtPercentile(99.9), self.histogram.max)
    }
}

/// Hands out work to the connections: requests in blocks, or until the clock runs out.
final class BenchBudget: Sendable {
    private let remaining: Atomic<Int>
    private let deadline: ContinuousClock.Instant?
    let completed = Atomic<Int>(0)

    init(_ limit: BenchLimit) {
        switch limit {
        case .requests(let count):
            self.remaining = Atomic(count)
            self.deadline = nil
        case .seconds(let seconds):
            self.remaining = Atomic(Int.max)
            self.deadline = .now + .milliseconds(Int64(seconds * 1000))
        }
    }

    /// Up to `wanted` requests to send now; 0 when the run is over.
    func take(_ wanted: Int) -> Int {
        if let deadline = self.deadline, ContinuousClock.now >= deadline { return 0 }
        let before = self.remaining.subtract(wanted, ordering: .relaxed).oldValue
        if before <= 0 { return 0 }
        return min(before, wanted)
    }
}

/// A key `<prefix><number>` written straight into the request, without building a String.
struct BenchKey: RESPArgument {
    let prefix: StaticString
    let number: Int

    var respArgumentByteCount: Int { self.prefix.utf8CodeUnitCount + self.number.respArgumentByteCount }

    func writeRESPArgumentBytes(into buffer: inout ByteBuffer) {
        buffer.writeStaticString(self.prefix)
        buffer.writeString(String(self.number))
    }

    func copyRESPArgumentBytes(to destination: UnsafeMutableRawBufferPointer) {
        let prefixLength = self.prefix.utf8CodeUnitCount
        // The destination holds respArgumentByteCount bytes, at least the non-empty prefix.
        destination.baseAddress!.copyMemory(from: self.prefix.utf8Start, byteCount: prefixLength)
        _ = writeDecimal(self.number, to: UnsafeMutableRawBufferPointer(rebasing: destination[prefixLength...]))
    }
}

/// A small fast random number generator (xorshift64*), one per connection.
struct FastRandom {
    private var state: UInt64

    init(seed: UInt64) { self.state = seed | 1 }

    mutating func next(below bound: Int) -> Int {
        self.state ^= self.state >> 12
        self.state ^= self.state << 25
        self.state ^= self.state >> 27
        return Int((self.state &* 2_685_821_657_736_338_717) % UInt64(bound))
    }
}

/// Runs one scenario.
struct BenchRunner {
    let settings: BenchSettings
    let group: MultiThreadedEventLoopGroup
    let scenario: BenchScenario

    func run() async throws -> BenchResult {
        let connections = try await self.connect(self.settings.connections)
        defer { for connection in connections { connection.close() } }
        try await self.prepare(connections[0])
        let budget = BenchBudget(self.settings.limit)
        let progress = BenchProgress(scenario: self.scenario, budget: budget)
        let cpuBefore = BenchRunner.cpuSeconds()
        let start = ContinuousClock.now
        let histogram: Histogram<UInt64>
        switch self.scenario {
        case .xreadgroup:
            histogram = try await self.runConsumerGroup(producers: connections, budget: budget)
        case .publish:
            histogram = try await self.runPublish(publishers: connections, budget: budget)
        default:
            histogram = try await self.runRequests(connections, budget: budget)
        }
        let elapsed = ContinuousClock.now - start
        progress.stop()
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        return BenchResult(
            scenario: self.scenario, requests: budget.completed.load(ordering: .relaxed), seconds: seconds,
            clientCPUSeconds: BenchRunner.cpuSeconds() - cpuBefore, histogram: histogram, settings: self.settings)
    }

    private func connect(_ count: Int) async throws -> [WharfConnection] {
        try await withThrowingTaskGroup(of: WharfConnection.self) { group in
            for _ in 0..<count {
                let loop = self.group.next()
                group.addTask { try await WharfConnection.connect(to: self.settings.connection, on: loop) }
            }
            var connections: [WharfConnection] = []
            for try await connection in group { connections.append(connection) }
            return connections
        }
    }

    /// Clears what the scenario works on, so runs start alike.
    private func prepare(_ connection: WharfConnection) async throws {
        switch self.scenario {
        case .xreadgroup:
            _ = try await connection.sendRaw(RESPCommand("DEL", "bench:stream"))
            _ = try await connection.xgroupCreate("bench:stream", group: "bench", id: "$", mkStream: true)
        case .lpush, .lpop, .xadd, .hset, .zadd:
            break
        default: break
        }
    }

    // MARK: Request/reply scenarios

    private func runRequests(_ connections: [WharfConnection], budget: BenchBudget) async throws -> Histogram<UInt64> {
        try await withThrowingTaskGroup(of: Histogram<UInt64>.self) { group in
            for (index, connection) in connections.enumerated() {
                group.addTask(executorPreference: connection.taskExecutor) {
                    try await self.drive(connection, seed: UInt64(index + 1) &* 0x9E37_79B9_7F4A_7C15, budget: budget)
                }
            }
            var total = Self.makeHistogram()
            for try await histogram in group { total.add(histogram) }
            return total
        }
    }

    /// One connection's loop: send a batch of `pipeline` requests, wait for every reply,
    /// repeat — as redis-benchmark does with -P.
    private func drive(_ connection: WharfConnection, seed: UInt64, budget: BenchBudget) async throws
        -> Histogram<UInt64>
    {
        var histogram = Self.makeHistogram()
        var random = FastRandom(seed: seed)
        var batch = RESPCommandBatch()
        while true {
            let count = budget.take(self.settings.pipeline)
            if count == 0 { break }
            let sent = ContinuousClock.now
            batch.removeAll()
            for _ in 0..<count { self.append(to: &batch, &random) }
            try await connection.pipelineDiscardingReplies(batch)
            let micros = UInt64((ContinuousClock.now - sent).microseconds)
            _ = histogram.record(micros, count: UInt64(count))
            budget.completed.add(count, ordering: .relaxed)
        }
        return histogram
    }

    private func key(_ prefix: StaticString, _ random: inout FastRandom) -> BenchKey {
        BenchKey(prefix: prefix, number: random.next(below: self.settings.keyspace))
    }

    private func append(to batch: inout RESPCommandBatch, _ random: inout FastRandom) {
        let value = self.settings.value
        switch self.scenario {
        case .ping: batch.append("PING")
        case .set: batch.append("SET", self.key("key:", &random), value)
        case .get: batch.append("GET", self.key("key:", &random))
        case .incr: batch.append("INCR", self.key("counter:", &random))
        case .mset:
            var command = RESPCommand("MSET")
            for _ in 0..<10 {
                command.append(self.key("key:", &random))
                command.append(value)
            }
            batch.append(command)
        case .lpush: batch.append("LPUSH", "bench:list", value)
        case .lpop: batch.append("LPOP", "bench:list")
        case .hset: batch.append("HSET", "bench:hash", self.key("field:", &random), value)
        case .zadd: batch.append("ZADD", "bench:zset", random.next(below: 1_000_000), self.key("member:", &random))
        case .xadd: batch.append("XADD", "bench:xadd", "*", "field", value)
        case .xreadgroup, .publish, .cacheGet, .cacheSet, .queue, .events: batch.append("PING")
        }
    }

    // MARK: Consumer groups

    /// Producers XADD entries stamped with their send time; consumers read them with
    /// XREADGROUP and XACK them. Counts acknowledged entries; latency is XADD to delivery.
    private func runConsumerGroup(producers: [WharfConnection], budget: BenchBudget) async throws
        -> Histogram<UInt64>
    {
        let consumers = try await self.connect(self.settings.consumers)
        let value = self.settings.value
        defer { for consumer in consumers { consumer.close() } }
        let counters = BenchCounters()
        let epoch = ContinuousClock.now
        return try await withThrowingTaskGroup(of: Histogram<UInt64>.self) { group in
            for (index, consumer) in consumers.enumerated() {
                group.addTask(executorPreference: consumer.taskExecutor) {
                    var histogram = Self.makeHistogram()
                    let name = "consumer-\(index)"
                    while true {
                        let command = RESPCommand(
                            "XREADGROUP", "GROUP", "bench", name, "COUNT", 100 * self.settings.pipeline, "BLOCK", 100,
                            "STREAMS", "bench:stream", ">")
                        let reply = try await consumer.sendRaw(command)
                        if case .error(let line) = reply { throw WharfClientError(.server, line) }
                        var ids: [String] = []
                        let now = UInt64((ContinuousClock.now - epoch).microseconds)
                        for stream in BenchRunner.streams(reply) {
                            for entry in stream {
                                ids.append(entry.id)
                                if let stamp = entry.stamp { _ = histogram.record(now &- min(now, stamp)) }
                            }
                        }
                        if !ids.isEmpty {
                            var ack = RESPCommand("XACK", "bench:stream", "bench")
                            ack.append(contentsOf: ids)
                            _ = try await consumer.sendRaw(ack)
                            budget.completed.add(ids.count, ordering: .relaxed)
                        } else if !counters.producing.load(ordering: .relaxed)
                            && budget.completed.load(ordering: .relaxed) >= counters.produced.load(ordering: .relaxed)
                        {
                            return histogram
                        }
                    }
                }
            }
            try await self.produce(on: producers, budget: budget, counters: counters, epoch: epoch) { batch, stamp in
                batch.append("XADD", "bench:stream", "*", "t", stamp, "v", value)
            }
            counters.producing.store(false, ordering: .relaxed)
            var total = Self.makeHistogram()
            for try await histogram in group { total.add(histogram) }
            return total
        }
    }

    /// Producers (XADD or PUBLISH) send batches of `--pipeline` commands stamped with their
    /// send time, until the budget is spent; an error ends the run.
    private func produce(
        on producers: [WharfConnection], budget: BenchBudget, counters: BenchCounters, epoch: ContinuousClock.Instant,
        _ append: @escaping @Sendable (inout RESPCommandBatch, String) -> Void
    ) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            for producer in producers {
                group.addTask(executorPreference: producer.taskExecutor) {
                    var batch = RESPCommandBatch()
                    while true {
                        let count = budget.take(self.settings.pipeline)
                        if count == 0 { return }
                        batch.removeAll()
                        let stamp = String(UInt64((ContinuousClock.now - epoch).microseconds))
                        for _ in 0..<count { append(&batch, stamp) }
                        try await producer.pipelineDiscardingReplies(batch)
                        counters.produced.add(count, ordering: .relaxed)
                    }
                }
            }
            try await group.waitForAll()
        }
    }

    /// Entries of an XREADGROUP reply with their `t` stamp.
    private static func streams(_ reply: RESPValue) -> [[(id: String, stamp: UInt64?)]] {
        var result: [[(id: String, stamp: UInt64?)]] = []
        let pairs: [RESPValue]
        switch reply {
        case .array(let values):
            pairs = values.compactMap { value in
                if case .array(let parts) = value, parts.count == 2 { return parts[1] }
                return nil
            }
        case .map(let values): pairs = stride(from: 1, to: values.count, by: 2).map { values[$0] }
        default: return []
        }
        for entries in pairs {
            guard case .array(let list) = entries else { continue }
            result.append(
                list.compactMap { entry in
                    guard case .array(let parts) = entry, parts.count == 2, let id = parts[0].string else { return nil }
                    var stamp: UInt64?
                    if case .array(let fields) = parts[1], fields.count >= 2, fields[0].string == "t" {
                        stamp = fields[1].string.flatMap { UInt64($0) }
                    }
                    return (id, stamp)
                })
        }
        return result
    }

    // MARK: Pub/sub fan-out

    /// Publishers PUBLISH messages stamped with their send time to one channel that every
    /// subscriber listens to. Counts delivered messages (published × subscribers).
    private func runPublish(publishers: [WharfConnection], budget: BenchBudget) async throws -> Histogram<UInt64> {
        var configuration = WharfClientConfiguration(connection: self.settings.connection)
        configuration.maximumConnections = self.settings.subscribers + 1
        let client = WharfClient(configuration: configuration, eventLoopGroup: self.group)
        defer { Task { await client.close() } }
        var subscriptions: [WharfSubscription] = []
        for _ in 0..<self.settings.subscribers {
            subscriptions.append(try await client.subscribe(channels: ["bench:channel"]))
        }
        let epoch = ContinuousClock.now
        let counters = BenchCounters()
        return try await withThrowingTaskGroup(of: Histogram<UInt64>.self) { group in
            for subscription in subscriptions {
                group.addTask {
                    var histogram = Self.makeHistogram()
                    var received = 0
                    for try await message in subscription {
                        guard case .message(_, let payload) = message else { continue }
                        let now = UInt64((ContinuousClock.now - epoch).microseconds)
                        if let stamp = UInt64(String(decoding: payload.prefix(20), as: UTF8.self)) {
                            received += 1
                            _ = histogram.record(now &- min(now, stamp))
                            budget.completed.add(1, ordering: .relaxed)
                        }
                        if !counters.producing.load(ordering: .relaxed)
                            && received >= counters.produced.load(ordering: .relaxed)
                        {
                            break
                        }
                    }
                    return histogram
                }
            }
            try await self.produce(on: publishers, budget: budget, counters: counters, epoch: epoch) { batch, stamp in
                batch.append("PUBLISH", "bench:channel", stamp)
            }
            counters.producing.store(false, ordering: .relaxed)
            // Wakes subscribers that already have every message, so they notice the end.
            _ = try await publishers[0].sendRaw(RESPCommand("PUBLISH", "bench:channel", "end"))
            var total = Self.makeHistogram()
            for try await histogram in group { total.add(histogram) }
            for subscription in subscriptions { subscription.close() }
            return total
        }
    }

    static func makeHistogram() -> Histogram<UInt64> {
        Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)
    }

    static func cpuSeconds() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6 + Double(usage.ru_stime.tv_sec)
            + Double(usage.ru_stime.tv_usec) / 1e6
    }
}

extension Duration {
    var microseconds: Int64 { self.components.seconds * 1_000_000 + self.components.attoseconds / 1_000_000_000_000 }
}

/// Shared between a scenario's producers and consumers.
final class BenchCounters: Sendable {
    let produced = Atomic<Int>(0)
    let producing = Atomic<Bool>(true)
}

/// A progress line on the terminal (stderr), refreshed four times a second.
final class BenchProgress: Sendable {
    private let task: Task<Void, Never>?

    init(scenario: BenchScenario, budget: BenchBudget) {
        guard isatty(STDERR_FILENO) != 0 else {
            self.task = nil
            return
        }
        let start = ContinuousClock.now
        self.task = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(250))
                let done = budget.completed.load(ordering: .relaxed)
                let elapsed = ContinuousClock.now - start
                let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
                let line = String(
                    format: "\r%@: %d requests, %.0f ops/s   ", scenario.rawValue, done,
                    Double(done) / max(seconds, 0.001))
                FileHandle.standardError.write(Data(line.utf8))
            }
        }
    }

    func stop() {
        guard let task = self.task else { return }
        task.cancel()
        FileHandle.standardError.write(Data("\r\u{1B}[K".utf8))
    }
}
