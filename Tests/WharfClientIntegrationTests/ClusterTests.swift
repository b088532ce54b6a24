import Foundation
import Synchronization
import Testing
import WharfProtocol

@testable import WharfClient

/// Three `redis-server --cluster-enabled yes` primaries joined with `redis-cli --cluster
/// create`; slots move with `redis-cli --cluster reshard` while the client writes.
@Suite struct ClusterTests {
    @Test func writesLandWhileSlotsMove() async throws {
        let nodes = try await Self.launchCluster()

        var configuration = WharfClientConfiguration()
        configuration.cluster = ClusterConfiguration(seeds: [nodes[0].address])
        configuration.reconnect = Backoff(initial: .milliseconds(20), maximum: .milliseconds(200), maximumAttempts: 20)
        let client = WharfClient(configuration: configuration)

        // Keys spread over every node's slots.
        for index in 0..<1000 { try await client.set("key:\(index)", index) }
        var perNode: [Int] = []
        for node in nodes {
            let connection = try await WharfConnection.connect(to: .init(port: node.port, protocolVersion: 2))
            perNode.append(try await connection.dbsize())
            connection.close()
        }
        #expect(perNode.reduce(0, +) == 1000)
        #expect(perNode.allSatisfy { $0 > 200 }, "\(perNode)")
        #expect(try await client.get("key:999") == "999")

        // Multi-key commands must keep to one slot; a hash tag keeps keys together.
        let crossSlot = await clientError { try await client.mget(["key:1", "key:2"]) }
        #expect(crossSlot?.code == .crossSlot)
        try await client.mset([("{user:7}:name", "ada"), ("{user:7}:email", "ada@example.com")])
        #expect(try await client.mget(["{user:7}:name", "{user:7}:email"]) == ["ada", "ada@example.com"])

        // Writes (single and pipelined across nodes) while a third of the slots move.
        let acknowledged = Mutex<[Int]>([])
        let failures = Mutex<[WharfClientError]>([])
        let writer = Task {
            var index = 0
            while !Task.isCancelled {
                do {
                    if index % 2 == 0 {
                        try await client.set("w:\(index)", index)
                        acknowledged.withLock { $0.append(index) }
                        index += 1
                    } else {
                        let batch = (index..<(index + 20)).map { RESPCommand("SET", "w:\($0)", $0) }
                        let replies = try await client.pipeline(batch)
                        for (offset, reply) in replies.enumerated() where reply == .simpleString("OK") {
                            acknowledged.withLock { $0.append(index + offset) }
                        }
                        index += 20
                    }
                } catch let error as WharfClientError {
                    failures.withLock { $0.append(error) }
                    index += 1
                } catch {
                    Issue.record("untyped error \(error)")
                }
            }
        }
        let source = try await Self.nodeID(nodes[0])
        let destination = try await Self.nodeID(nodes[1])
        _ = try await TestServer.run(
            "/usr/bin/redis-cli",
            [
                "--cluster", "reshard", "127.0.0.1:\(nodes[0].port)", "--cluster-from", source, "--cluster-to",
                destination,
                "--cluster-slots", "2000", "--cluster-yes", "--cluster-pipeline", "10",
            ])
        try await Task.sleep(for: .milliseconds(300))
        writer.cancel()
        _ = await writer.result

        let written = acknowledged.withLock { $0 }
        #expect(written.count > 100)
        let failed = failures.withLock { $0 }.filter { $0.code != .cancelled }
        #expect(failed.isEmpty, "\(failed.prefix(5))")
        // The nodes answered MOVED and ASK along the way (Redis counts error replies by prefix).
        var redirects: [String: Int] = [:]
        for node in nodes {
            let connection = try await WharfConnection.connect(to: .init(port: node.port, protocolVersion: 2))
            let info = try await connection.info("errorstats")
            connection.close()
            for line in info.split(separator: "\r\n") where line.hasPrefix("errorstat_") {
                let name = line.dropFirst("errorstat_".count).prefix { $0 != ":" }
                let count = line.split(separator: "=").last.flatMap { Int($0) } ?? 0
                redirects[String(name), default: 0] += count
            }
        }
        #expect(redirects["MOVED", default: 0] > 0, "\(redirects)")

        // Every acknowledged write is there, read back with pipelines split across nodes.
        var missing: [Int] = []
        for chunk in stride(from: 0, to: written.count, by: 200) {
            let indices = Array(written[chunk..<min(chunk + 200, written.count)])
            let values = try await client.pipeline(indices.map { RESPCommand("GET", "w:\($0)") })
            for (index, value) in zip(indices, values) where value.string != String(index) { missing.append(index) }
        }
        #expect(missing.isEmpty, "acknowledged but not found: \(missing.prefix(20))")
        #expect(try await client.get("key:0") == "0")

        // ASK, made certain: a slot left half-migrated by hand answers ASK for a new key,
        // which the client follows with ASKING on the importing node.
        // The slot holds no keys, so handing it over needs no MIGRATE.
        let owners = try await Self.owners(nodes[0])
        var probe = 0
        var key = "ask:0"
        var owner = nodes[0]
        while true {
            key = "ask:\(probe)"
            owner = try #require(nodes.first { $0.port == owners[ClusterSlot.of(key)] })
            let counted = try await Self.command(owner, "CLUSTER", "COUNTKEYSINSLOT", "\(ClusterSlot.of(key))")
            if counted == .integer(0) { break }
            probe += 1
        }
        let slot = ClusterSlot.of(key)
        let importer = try #require(nodes.first { $0.port != owners[slot] })
        let ownerID = try await Self.nodeID(owner)
        let importerID = try await Self.nodeID(importer)
        try await Self.command(importer, "CLUSTER", "SETSLOT", "\(slot)", "IMPORTING", ownerID)
        try await Self.command(owner, "CLUSTER", "SETSLOT", "\(slot)", "MIGRATING", importerID)
        try await client.set(key, "asked")
        let onTarget = try await WharfConnection.connect(to: .init(port: importer.port, protocolVersion: 2))
        let replies = try await onTarget.pipeline([RESPCommand("ASKING"), RESPCommand("GET", key)])
        onTarget.close()
        #expect(replies[1].string == "asked")
        for node in nodes { try await Self.command(node, "CLUSTER", "SETSLOT", "\(slot)", "NODE", importerID) }
        #expect(try await client.get(key) == "asked")
        let ownerConnection = try await WharfConnection.connect(to: .init(port: owner.port, protocolVersion: 2))
        #expect(try await ownerConnection.info("errorstats").contains("errorstat_ASK:count="))
        ownerConnection.close()

        await client.close()
        for node in nodes { await node.stop() }
    }

    /// The port of the primary owning each slot, from CLUSTER SLOTS.
    static func owners(_ node: TestServer) async throws -> [Int: Int] {
        let connection = try await WharfConnection.connect(to: .init(port: node.port, protocolVersion: 2))
        defer { connection.close() }
        let ranges = try ClusterRouter.ranges(fromSlots: try await connection.send(RESPCommand("CLUSTER", "SLOTS")))
        var owners: [Int: Int] = [:]
        for (range, address) in ranges {
            for slot in range { owners[slot] = address.port }
        }
        return owners
    }

    @discardableResult
    static func command(_ node: TestServer, _ arguments: String...) async throws -> RESPValue {
        let connection = try await WharfConnection.connect(to: .init(port: node.port, protocolVersion: 2))
        defer { connection.close() }
        return try await connection.send(RESPCommand(arguments[0], arguments: Array(arguments.dropFirst())))
    }

    static func nodeID(_ node: TestServer) async throws -> String {
        let connection = try await WharfConnection.connect(to: .init(port: node.port, protocolVersion: 2))
        defer { connection.close() }
        return try await connection.send(RESPCommand("CLUSTER", "MYID"), as: String.self)
    }

    /// Three `redis-server --cluster-enabled yes` primaries joined with `redis-cli --cluster
    /// create`, once the cluster reports itself up.
    static func launchCluster() async throws -> [TestServer] {
        var nodes: [TestServer] = []
        for _ in 0..<3 {
            nodes.append(
                try await TestServer.launch(
                    .redis,
                    arguments: [
                        "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout",
                        "5000",
                    ],
                    clusterNode: true))
        }
        _ = try await TestServer.run(
            "/usr/bin/redis-cli",
            ["--cluster", "create"] + nodes.map { "127.0.0.1:\($0.port)" } + [
                "--cluster-replicas", "0", "--cluster-yes",
            ]
        )
        try await Self.waitUntilClusterIsUp(nodes)
        return nodes
    }

    static func waitUntilClusterIsUp(_ nodes: [TestServer]) async throws {
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            var up = true
            for node in nodes {
                let connection = try await WharfConnection.connect(to: .init(port: node.port, protocolVersion: 2))
                let info = try await connection.send(RESPCommand("CLUSTER", "INFO"), as: String.self)
                connection.close()
                if !info.contains("cluster_state:ok") { up = false }
            }
            if up { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw TestServerError("the cluster did not come up")
    }
}
