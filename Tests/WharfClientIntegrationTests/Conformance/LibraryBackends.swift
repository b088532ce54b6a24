import Foundation
import Testing
import Wharf
import WharfClient
import WharfProtocol

/// The backends the library's conformance suite runs against.
enum LibraryBackendKind: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case embedded
    case wharf
    case redis
    case sentinel
    case cluster

    var testDescription: String { self.rawValue }

    /// $WHARF_LIBRARY_BACKENDS (comma-separated) narrows the run while iterating; all by default.
    static var selected: [LibraryBackendKind] {
        guard let names = ProcessInfo.processInfo.environment["WHARF_LIBRARY_BACKENDS"] else { return allCases }
        return names.split(separator: ",").compactMap { LibraryBackendKind(rawValue: String($0)) }
    }
}

/// The servers behind one backend, started for a test and stopped by it.
final class LibraryBackend: @unchecked Sendable {
    let kind: LibraryBackendKind
    var servers: [TestServer] = []
    var sentinels: [TestServer] = []
    var directory: String?

    init(_ kind: LibraryBackendKind) {
        self.kind = kind
    }

    /// Starts what the backend needs and opens a handle on it.
    func open() async throws -> Wharf {
        switch self.kind {
        case .embedded:
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
                "wharf-lib-\(UUID().uuidString)"
            )
            .path
            self.directory = directory
            return try await Wharf.open(.embedded(directory: directory))
        case .wharf:
            let server = try await TestServer.launch(.wharf)
            self.servers = [server]
            return try await Wharf.open(.server("wharf://127.0.0.1:\(server.port)"))
        case .redis:
            let server = try await TestServer.launch(.redis)
            self.servers = [server]
            return try await Wharf.open(.redis(server.url))
        case .sentinel:
            let primary = try await TestServer.launch(.redis)
            let replica = try await TestServer.launch(
                .redis, arguments: ["--replicaof", "127.0.0.1", "\(primary.port)"])
            self.servers = [primary, replica]
            for _ in 0..<3 {
                self.sentinels.append(try await TestServer.launchSentinel(monitoring: primary.port, name: "orders"))
            }
            try await SentinelTests.waitUntilMonitored(sentinels: self.sentinels, replica: replica)
            return try await Wharf.open(
                .redisSentinel(sentinels: self.sentinels.map { "127.0.0.1:\($0.port)" }, primaryName: "orders"))
        case .cluster:
            self.servers = try await ClusterTests.launchCluster()
            return try await Wharf.open(.redisCluster(seeds: self.servers.map { "127.0.0.1:\($0.port)" }))
        }
    }

    /// Sentinel only: a manual failover (the replica becomes primary), returning once the
    /// sentinels name the new primary and a write through `wharf` lands on it.
    func failOver(_ wharf: Wharf) async throws {
        guard self.kind == .sentinel, let sentinel = self.sentinels.first else { return }
        let connection = try await WharfConnection.connect(to: .init(port: sentinel.port, protocolVersion: 2))
        defer { connection.close() }
        let before = try await connection.send(RESPCommand("SENTINEL", "get-master-addr-by-name", "orders"))
        try await connection.send(RESPCommand("SENTINEL", "FAILOVER", "orders"))
        let probe = try wharf.cache("failover-probe", of: Int.self)
        let deadline = ContinuousClock.now + .seconds(40)
        var attempt = 0
        while ContinuousClock.now < deadline {
            attempt += 1
            let now = try await connection.send(RESPCommand("SENTINEL", "get-master-addr-by-name", "orders"))
            // Done when the client's writes land on the new primary (not the old one, which
            // takes writes until it is demoted), and once more after the client has had time
            // to hear the switch announced.
            if now != before, let port = now.elements?.last?.string.flatMap(Int.init),
                (try? await probe.set("k", attempt)) != nil
            {
                let primary = try await WharfConnection.connect(to: .init(port: port, protocolVersion: 2))
                let stored = try? await primary.send(RESPCommand("GET", "cache:failover-probe:k"))
                primary.close()
                if stored?.string == "\(attempt)" {
                    try await Task.sleep(for: .milliseconds(500))
                    if (try? await probe.set("k", 0)) != nil { return }
                }
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw TestServerError("the failover did not complete")
    }

    func stop() async {
        for sentinel in self.sentinels { await sentinel.stop() }
        for server in self.servers { await server.stop() }
        if let directory { try? FileManager.default.removeItem(atPath: directory) }
    }
}
