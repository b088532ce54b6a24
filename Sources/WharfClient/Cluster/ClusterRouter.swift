import NIOCore
import Synchronization
import WharfProtocol

/// Routes commands to the primary that owns their keys' slot, one pool per node.
///
/// The slot map comes from `CLUSTER SHARDS` (`CLUSTER SLOTS` on servers without it). A
/// `MOVED` reply updates the slot at once, sends the command on to the node named and
/// refreshes the whole map in the background; `ASK` sends `ASKING` and the command to the
/// node named, once, without changing the map; `TRYAGAIN` waits briefly and retries.
final class ClusterRouter: Sendable {
    private struct State {
        /// Node index per slot; -1 when unknown.
        var slots = [Int32](repeating: -1, count: ClusterSlot.count)
        var nodes: [ServerAddress] = []
        var pools: [ServerAddress: ConnectionPool] = [:]
        var refresh: Task<Void, any Error>?
        var closed = false

        /// The index of `node` in `nodes`, added if it is new.
        mutating func index(of node: ServerAddress) -> Int {
            if let existing = self.nodes.firstIndex(of: node) { return existing }
            self.nodes.append(node)
            return self.nodes.count - 1
        }
    }

    private let configuration: WharfClientConfiguration
    private let cluster: ClusterConfiguration
    private let eventLoopGroup: any EventLoopGroup
    private let state = Mutex(State())

    init(configuration: WharfClientConfiguration, cluster: ClusterConfiguration, eventLoopGroup: any EventLoopGroup) {
        self.configuration = configuration
        self.cluster = cluster
        self.eventLoopGroup = eventLoopGroup
    }

    /// The pool of `address`, made on first use.
    func pool(_ address: ServerAddress) throws(WharfClientError) -> ConnectionPool {
        try self.state.withLock { state throws(WharfClientError) -> ConnectionPool in
            if state.closed { throw WharfClientError(.clientClosed, "the client was closed") }
            if let pool = state.pools[address] { return pool }
            var configuration = self.configuration
            configuration.cluster = nil
            configuration.connection.host = address.host
            configuration.connection.port = address.port
            let pool = ConnectionPool(configuration: configuration, eventLoopGroup: self.eventLoopGroup)
            state.pools[address] = pool
            return pool
        }
    }

    // MARK: The slot map

    /// Reloads the slot map (one reload at a time; callers share it).
    func refresh() async throws {
        let task = self.state.withLock { state -> Task<Void, any Error> in
            if let running = state.refresh { return running }
            let task = Task { try await self.loadSlotMap() }
            state.refresh = task
            return task
        }
        defer {
            self.state.withLock { state in
                if state.refresh == task { state.refresh = nil }
            }
        }
        try await task.value
    }

    private func loadSlotMap() async throws {
        let known = self.state.withLock { $0.nodes }
        var failures: [String] = []
        for address in known + self.cluster.seeds.filter({ !known.contains($0) }) {
            do {
                let connection = try await self.pool(address).sharedConnection()
                let shards = try await connection.sendRaw(RESPCommand("CLUSTER", "SHARDS"))
                let ranges: [(ClosedRange<Int>, ServerAddress)]
                if case .error = shards {
                    ranges = try Self.ranges(fromSlots: try await connection.send(RESPCommand("CLUSTER", "SLOTS")))
                } else {
                    ranges = try Self.ranges(fromShards: shards, default: address)
                }
                guard !ranges.isEmpty else {
                    failures.append("\(address): no slots assigned")
                    continue
                }
                self.state.withLock { state in
                    state.nodes = []
                    state.slots = [Int32](repeating: -1, count: ClusterSlot.count)
                    for (range, node) in ranges {
                        let index = state.index(of: node)
                        for slot in range where slot < ClusterSlot.count { state.slots[slot] = Int32(index) }
                    }
                }
                return
            } catch {
                failures.append("\(address): \(error)")
            }
        }
        throw WharfClientError(.connectFailed, "no cluster node gave the slot map: " + failures.joined(separator: "; "))
    }

    /// CLUSTER SHARDS: each shard's slot ranges and its healthy primary.
    static func ranges(fromShards reply: RESPValue, default fallback: ServerAddress) throws(WharfClientError)
        -> [(ClosedRange<Int>, ServerAddress)]
    {
        var result: [(ClosedRange<Int>, ServerAddress)] = []
        for shard in reply.elements ?? [] {
            let fields = try [String: RESPValue](reply: shard)
            guard let slots = fields["slots"]?.elements, let nodes = fields["nodes"]?.elements else { continue }
            var primary: ServerAddress?
            for node in nodes {
                let info = try [String: RESPValue](reply: node)
                guard info["role"]?.string == "master", info["health"]?.string != "fail" else { continue }
                let host = info["ip"]?.string ?? info["endpoint"]?.string ?? fallback.host
                guard let port = info["port"].flatMap({ try? Int(reply: $0) }) else { continue }
                primary = ServerAddress(host: host, port: port)
            }
            guard let primary else { continue }
            var index = 0
            while index + 1 < slots.count {
                let start = try Int(reply: slots[index])
                let end = try Int(reply: slots[index + 1])
                if start <= end { result.append((start...end, primary)) }
                index += 2
            }
        }
        return result
    }

    /// CLUSTER SLOTS: `[start, end, [ip, port, id], replicas…]` per range.
    static func ranges(fromSlots reply: RESPValue) throws(WharfClientError) -> [(ClosedRange<Int>, ServerAddress)] {
        var result: [(ClosedRange<Int>, ServerAddress)] = []
        for range in reply.elements ?? [] {
            guard let parts = range.elements, parts.count >= 3, let node = parts[2].elements, node.count >= 2 else {
                continue
            }
            let start = try Int(reply: parts[0])
            let end = try Int(reply: parts[1])
            if start <= end {
                result.append(
                    (start...end, ServerAddress(host: try String(reply: node[0]), port: try Int(reply: node[1]))))
            }
        }
        return result
    }

    /// The node owning `slot` (any known node for nil), loading the map first if needed.
    func node(for slot: Int?) async throws -> ServerAddress {
        if let address = self.lookup(slot) { return address }
        try await self.refresh()
        if let address = self.lookup(slot) { return address }
        throw WharfClientError(.connectFailed, "no cluster node serves slot \(slot ?? -1) (CLUSTERDOWN?)")
    }

    private func lookup(_ slot: Int?) -> ServerAddress? {
        self.state.withLock { state -> ServerAddress? in
            guard let slot else { return state.nodes.randomElement() }
            let index = Int(state.slots[slot])
            return index >= 0 && index < state.nodes.count ? state.nodes[index] : nil
        }
    }

    /// Records a `MOVED` at once; a full reload follows in the background.
    private func moved(_ slot: Int, to address: ServerAddress) {
        self.state.withLock { state in state.slots[slot] = Int32(state.index(of: address)) }
        Task { try? await self.refresh() }
    }

    // MARK: Sending

    enum Redirect {
        case moved(Int, ServerAddress)
        case ask(ServerAddress)
        case tryAgain

        init?(_ reply: RESPValue) {
            guard case .error(let line) = reply else { return nil }
            let words = line.split(separator: " ")
            if line.hasPrefix("TRYAGAIN") {
                self = .tryAgain
                return
            }
            guard words.count == 3, let slot = Int(words[1]), let colon = words[2].lastIndex(of: ":"),
                let port = Int(words[2][words[2].index(after: colon)...])
            else { return nil }
            var host = String(words[2][..<colon])
            if host.isEmpty { host = "127.0.0.1" }
            switch words[0] {
            case "MOVED": self = .moved(slot, ServerAddress(host: host, port: port))
            case "ASK": self = .ask(ServerAddress(host: host, port: port))
            default: return nil
            }
        }
    }

    /// Sends `command` to the node owning its slot, following redirections; `blocking`
    /// commands run on a connection lent by that node's pool.
    func send(_ command: RESPCommand, timeout: Duration?, blocking: Bool = false) async throws -> RESPValue {
        let slot = try ClusterKeys.slot(of: command)
        var target = try await self.node(for: slot)
        var asking = false
        var redirects = 0
        while true {
            let pool = try self.pool(target)
            let reply: RESPValue
            do {
                reply = try await Self.run(command, on: pool, asking: asking, blocking: blocking, timeout: timeout)
            } catch let error as WharfClientError
                where (error.code == .connectFailed || (error.code == .connectionLost && !error.mayHaveBeenApplied))
                && redirects < self.cluster.maximumRedirects
            {
                // The node is gone or not there yet: reload the map and try where it points.
                redirects += 1
                try? await self.refresh()
                target = try await self.node(for: slot)
                asking = false
                continue
            }
            guard let redirect = Redirect(reply) else { return reply }
            redirects += 1
            if redirects > self.cluster.maximumRedirects {
                throw WharfClientError(
                    .redirectLoop,
                    "\(command.name) was redirected \(redirects - 1) times (maximumRedirects); last: \(reply.string ?? "")"
                )
            }
            switch redirect {
            case .moved(let movedSlot, let address):
                self.moved(movedSlot, to: address)
                target = address
                asking = false
            case .ask(let address):
                target = address
                asking = true
            case .tryAgain:
                try await Task.sleep(for: .milliseconds(25))
                asking = false
            }
        }
    }

    private static func run(
        _ command: RESPCommand, on pool: ConnectionPool, asking: Bool, blocking: Bool, timeout: Duration?
    ) async throws -> RESPValue {
        let connection = blocking ? try await pool.lend() : try await pool.sharedConnection()
        defer { if blocking { pool.giveBack(connection) } }
        if asking {
            // ASKING applies to the next command on the same connection: one write, in order.
            let replies = try await connection.pipeline([RESPCommand("ASKING"), command], timeout: timeout)
            return replies[1]
        }
        return try await connection.sendRaw(command, timeout: timeout)
    }

    /// Sends a batch split by node, one pipeline per node at once, and puts the replies back
    /// in the caller's order; a redirected command is sent again on its own.
    func pipeline(_ commands: [RESPCommand], timeout: Duration?) async throws -> [RESPValue] {
        var groups: [ServerAddress: [Int]] = [:]
        for (index, command) in commands.enumerated() {
            groups[try await self.node(for: try ClusterKeys.slot(of: command)), default: []].append(index)
        }
        var replies = [RESPValue](repeating: .null, count: commands.count)
        try await withThrowingTaskGroup(of: [(Int, RESPValue)].self) { group in
            for (address, indices) in groups {
                let pool = try self.pool(address)
                group.addTask {
                    let connection = try await pool.sharedConnection()
                    let values = try await connection.pipeline(indices.map { commands[$0] }, timeout: timeout)
                    return Array(zip(indices, values))
                }
            }
            for try await results in group {
                for (index, value) in results { replies[index] = value }
            }
        }
        for index in replies.indices where Redirect(replies[index]) != nil {
            replies[index] = try await self.send(commands[index], timeout: timeout)
        }
        return replies
    }

    /// A connection lent by the node owning `key`'s slot (any node without a key).
    func lend(forKey key: String?) async throws -> (ConnectionPool, WharfConnection) {
        let address = try await self.node(for: key.map { ClusterSlot.of($0) })
        let pool = try self.pool(address)
        return (pool, try await pool.lend())
    }

    func close() {
        let pools = self.state.withLock { state -> [ConnectionPool] in
            state.closed = true
            state.refresh?.cancel()
            return Array(state.pools.values)
        }
        for pool in pools { pool.close() }
    }
}
