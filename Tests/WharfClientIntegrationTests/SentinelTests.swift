import Foundation
import NIOPosix
import Synchronization
import Testing
import WharfProtocol

@testable import WharfClient

/// One primary, one replica and three sentinels on loopback; the primary is killed while a
/// client writes through Sentinel.
@Suite struct SentinelTests {
    @Test func failoverKeepsEveryAcknowledgedWrite() async throws {
        let primary = try await TestServer.launch(.redis)
        let replica = try await TestServer.launch(.redis, arguments: ["--replicaof", "127.0.0.1", "\(primary.port)"])
        var sentinels: [TestServer] = []
        for _ in 0..<3 {
            sentinels.append(try await TestServer.launchSentinel(monitoring: primary.port, name: "orders"))
        }
        try await Self.waitUntilMonitored(sentinels: sentinels, replica: replica)

        var configuration = WharfClientConfiguration()
        configuration.sentinel = SentinelConfiguration(sentinels: sentinels.map(\.address), primaryName: "orders")
        configuration.reconnect = Backoff(initial: .milliseconds(50), maximum: .milliseconds(250), maximumAttempts: 8)
        let client = WharfClient(configuration: configuration)

        // A write counts as acknowledged once the primary took it and WAIT saw it on the replica.
        let acknowledged = Mutex<[Int]>([])
        let written = Atomic<Int>(0)
        let failures = Mutex<[WharfClientError]>([])
        let writer = Task {
            var index = 0
            while !Task.isCancelled {
                index += 1
                do {
                    let replies = try await client.pipeline([
                        RESPCommand("SET", "order:\(index)", index), RESPCommand("WAIT", 1, 200),
                    ])
                    if replies[0] == .simpleString("OK") { written.add(1, ordering: .relaxed) }
                    if replies[0] == .simpleString("OK"), replies[1] == .integer(1) {
                        acknowledged.withLock { $0.append(index) }
                    }
                } catch let error as WharfClientError {
                    failures.withLock { $0.append(error) }
                    try? await Task.sleep(for: .milliseconds(20))
                } catch {
                    Issue.record("untyped error \(error)")
                }
            }
        }
        let started = ContinuousClock.now + .seconds(20)
        while acknowledged.withLock({ $0.count }) < 20 && ContinuousClock.now < started {
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(acknowledged.withLock { $0.count } >= 20)
        await primary.stop(kill: true)
        let beforeKill = written.load(ordering: .relaxed)

        // The client carries on against the promoted replica (which has no replica of its
        // own, so WAIT answers 0 there: progress is counted by SET alone).
        let deadline = ContinuousClock.now + .seconds(40)
        while written.load(ordering: .relaxed) < beforeKill + 20 && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(100))
        }
        writer.cancel()
        _ = await writer.result
        #expect(
            written.load(ordering: .relaxed) >= beforeKill + 20,
            "writes did not resume after the failover: \(failures.withLock { $0 })")
        let port = try await client.info("server").split(separator: "\r\n").first { $0.hasPrefix("tcp_port:") }
        #expect(port == "tcp_port:\(replica.port)")
        #expect(try await client.send(RESPCommand("ROLE"), as: RESPValue.self).elements?.first?.string == "master")
        let failed = failures.withLock { $0 }.filter { $0.code != .cancelled }
        #expect(failed.allSatisfy { [.connectionLost, .connectFailed].contains($0.code) }, "\(failed)")

        // No acknowledged write was lost.
        let replicated = acknowledged.withLock { $0 }
        var missing: [Int] = []
        for chunk in stride(from: 0, to: replicated.count, by: 500) {
            let indices = Array(replicated[chunk..<min(chunk + 500, replicated.count)])
            let values = try await client.mget(indices.map { "order:\($0)" })
            for (index, value) in zip(indices, values) where value != String(index) { missing.append(index) }
        }
        #expect(missing.isEmpty, "acknowledged but lost: \(missing.prefix(20))")

        // The old primary comes back (the sentinels make it a replica); a manual failover
        // then demotes the live primary, so the client must follow +switch-master.
        try await primary.start()
        try await Self.waitUntilMonitored(sentinels: sentinels, replica: primary)
        let sentinel = try await WharfConnection.connect(to: .init(port: sentinels[0].port, protocolVersion: 2))
        try await sentinel.send(RESPCommand("SENTINEL", "FAILOVER", "orders"))
        sentinel.close()
        let switchDeadline = ContinuousClock.now + .seconds(30)
        var switched = false
        while !switched && ContinuousClock.now < switchDeadline {
            do {
                try await client.set("after-switch", "1")
                let info = try await client.info("server")
                switched = info.contains("tcp_port:\(primary.port)\r\n")
            } catch let error as WharfClientError {
                // The demoted primary refuses writes until the switch is announced.
                #expect(
                    [.connectionLost, .connectFailed].contains(error.code) || error.serverErrorPrefix == "READONLY",
                    "\(error)")
            }
            if !switched { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(switched, "the client did not follow the manual failover back to port \(primary.port)")

        await client.close()
        for sentinel in sentinels { await sentinel.stop() }
        await replica.stop()
        await primary.stop()
    }

    @Test func readsGoToAReplicaWhenAsked() async throws {
        let primary = try await TestServer.launch(.redis)
        let replica = try await TestServer.launch(.redis, arguments: ["--replicaof", "127.0.0.1", "\(primary.port)"])
        let sentinel = try await TestServer.launchSentinel(monitoring: primary.port, name: "orders")
        let deadline = ContinuousClock.now + .seconds(30)
        var known = false
        while !known && ContinuousClock.now < deadline {
            let connection = try await WharfConnection.connect(to: .init(port: sentinel.port, protocolVersion: 2))
            let replicas = try await connection.send(RESPCommand("SENTINEL", "replicas", "orders"))
            connection.close()
            known = (replicas.elements ?? []).contains { entry in
                (try? [String: String](reply: entry))?["master-link-status"] == "ok"
            }
            if !known { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(known, "the sentinel never listed a healthy replica")

        var configuration = WharfClientConfiguration()
        configuration.sentinel = SentinelConfiguration(
            sentinels: [sentinel.address], primaryName: "orders", readFromReplicas: true)
        let client = WharfClient(configuration: configuration)
        try await client.set("greeting", "hello")
        #expect(try await client.send(RESPCommand("WAIT", 1, 5000), as: Int.self) == 1)
        #expect(try await client.get("greeting") == "hello")
        #expect(try await client.lrange("none", 0, -1).isEmpty)
        // The reads were answered by the replica, the write and WAIT by the primary.
        let onReplica = try await WharfConnection.connect(to: .init(port: replica.port, protocolVersion: 2))
        let replicaStats = try await onReplica.info("commandstats")
        onReplica.close()
        let onPrimary = try await WharfConnection.connect(to: .init(port: primary.port, protocolVersion: 2))
        let primaryStats = try await onPrimary.info("commandstats")
        onPrimary.close()
        #expect(replicaStats.contains("cmdstat_get:calls=1,"))
        #expect(replicaStats.contains("cmdstat_lrange:calls=1,"))
        #expect(!primaryStats.contains("cmdstat_get:"))
        #expect(primaryStats.contains("cmdstat_set:calls=1,"))

        // With the replica gone, reads fall back to the primary.
        await replica.stop(kill: true)
        #expect(try await client.get("greeting") == "hello")
        await client.close()
        await sentinel.stop()
        await primary.stop()
    }

    /// The watcher hears `+switch-master` for its primary (and ignores other names); a plain
    /// server stands in for the sentinel, since only SUBSCRIBE is involved.
    @Test func watcherFollowsSwitchMasterAnnouncements() async throws {
        let server = try await TestServer.launch(.redis)
        let resolver = SentinelResolver(
            configuration: SentinelConfiguration(sentinels: [server.address], primaryName: "orders"),
            connection: .init(), eventLoopGroup: MultiThreadedEventLoopGroup.singleton)
        let (switches, continuation) = AsyncStream<ServerAddress>.makeStream()
        let watcher = Task {
            await resolver.watch(backoff: Backoff(initial: .milliseconds(20))) { continuation.yield($0) }
        }
        let publisher = WharfClient(configuration: server.configuration())
        var delivered = 0
        let deadline = ContinuousClock.now + .seconds(10)
        while delivered == 0 && ContinuousClock.now < deadline {
            delivered = try await publisher.send(
                RESPCommand("PUBLISH", "+switch-master", "orders 127.0.0.1 7000 127.0.0.1 7001"), as: Int.self)
            if delivered == 0 { try await Task.sleep(for: .milliseconds(20)) }
        }
        try await publisher.publish("+switch-master", "payments 127.0.0.1 7000 127.0.0.1 7009")
        try await publisher.publish("+switch-master", "orders 127.0.0.1 7001 10.0.0.2 7002")
        var iterator = switches.makeAsyncIterator()
        #expect(await iterator.next() == ServerAddress(host: "127.0.0.1", port: 7001))
        #expect(await iterator.next() == ServerAddress(host: "10.0.0.2", port: 7002))
        watcher.cancel()
        await watcher.value
        await publisher.close()
        await server.stop()
    }

    /// Waits until the replica is in sync and every sentinel knows the replica and the other
    /// two sentinels, so that a failover can be agreed.
    static func waitUntilMonitored(sentinels: [TestServer], replica: TestServer) async throws {
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            var ready = true
            let replicaConnection = try await WharfConnection.connect(
                to: .init(port: replica.port, protocolVersion: 2))
            let info = try await replicaConnection.info("replication")
            replicaConnection.close()
            if !info.contains("master_link_status:up") { ready = false }
            for sentinel in sentinels where ready {
                let connection = try await WharfConnection.connect(to: .init(port: sentinel.port, protocolVersion: 2))
                let replicas = try await connection.send(RESPCommand("SENTINEL", "replicas", "orders"))
                let peers = try await connection.send(RESPCommand("SENTINEL", "sentinels", "orders"))
                connection.close()
                if (replicas.elements?.count ?? 0) < 1 || (peers.elements?.count ?? 0) < 2 { ready = false }
            }
            if ready { return }
            try await Task.sleep(for: .milliseconds(200))
        }
        throw TestServerError("the sentinels never saw the replica and each other")
    }
}
