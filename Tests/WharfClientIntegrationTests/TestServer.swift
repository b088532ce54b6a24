import Foundation
import NIOCore
import NIOPosix
import Synchronization
import Testing
import WharfClient

/// Which real server a test runs against.
enum ServerKind: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case wharf
    case redis

    var testDescription: String { self.rawValue }
}

/// A real `wharf serve` or `redis-server` process on a free loopback port, in a fresh
/// directory. The test that starts one stops it.
final class TestServer: @unchecked Sendable {
    let kind: ServerKind
    let port: Int
    let directory: URL
    private var pid: pid_t?
    private let extraArguments: [String]
    /// For a sentinel: its configuration file (sentinels rewrite it, so it lives in `directory`).
    private var sentinelConfiguration: String?

    /// The `wharf` binary: $WHARF_BINARY (scripts/test sets it) or the debug build.
    static var wharfBinary: String {
        if let path = ProcessInfo.processInfo.environment["WHARF_BINARY"] { return path }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        return root.appendingPathComponent(".build/debug/wharf").path
    }

    /// `clusterNode`: a port whose cluster bus port (10,000 higher) is free too.
    init(_ kind: ServerKind, arguments: [String] = [], clusterNode: Bool = false) throws {
        self.kind = kind
        self.port = clusterNode ? try Self.freeClusterPort() : try Self.freePort()
        self.directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "wharf-client-\(kind.rawValue)-\(UUID().uuidString)")
        self.extraArguments = arguments
        try FileManager.default.createDirectory(at: self.directory, withIntermediateDirectories: true)
    }

    /// Starts a server and waits until it answers PING.
    static func launch(_ kind: ServerKind, arguments: [String] = [], clusterNode: Bool = false) async throws
        -> TestServer
    {
        // A port found free can still be taken before the server binds it (by something
        // outside this process); a server that exits at start is tried again on another.
        var attempt = 0
        while true {
            attempt += 1
            let server = try TestServer(kind, arguments: arguments, clusterNode: clusterNode)
            do {
                try await server.start()
                return server
            } catch let error as TestServerError where error.exited && attempt < 3 {
                continue
            }
        }
    }

    /// Starts a sentinel (see ``init(sentinelMonitoring:name:)``) and waits until it answers.
    static func launchSentinel(monitoring primaryPort: Int, name: String) async throws -> TestServer {
        let server = try TestServer(sentinelMonitoring: primaryPort, name: name)
        try await server.start()
        return server
    }

    /// A `redis-sentinel` monitoring the primary at `primaryPort` under `name`, with quorum 2
    /// and a one-second down-after time so that a test's failover is quick.
    init(sentinelMonitoring primaryPort: Int, name: String) throws {
        self.kind = .redis
        self.port = try Self.freePort()
        self.directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "wharf-client-sentinel-\(UUID().uuidString)")
        self.extraArguments = []
        try FileManager.default.createDirectory(at: self.directory, withIntermediateDirectories: true)
        let path = self.directory.appendingPathComponent("sentinel.conf").path
        let text = """
            port \(self.port)
            bind 127.0.0.1
            dir \(self.directory.path)
            sentinel monitor \(name) 127.0.0.1 \(primaryPort) 2
            sentinel down-after-milliseconds \(name) 1000
            sentinel failover-timeout \(name) 5000
            sentinel parallel-syncs \(name) 1

            """
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        self.sentinelConfiguration = path
    }

    var address: ServerAddress { ServerAddress(host: "127.0.0.1", port: self.port) }

    var url: String { "redis://127.0.0.1:\(self.port)" }

    func configuration(protocolVersion: Int = 3) -> WharfClientConfiguration {
        var configuration = WharfClientConfiguration()
        configuration.connection.port = self.port
        configuration.connection.protocolVersion = protocolVersion
        configuration.reconnect = Backoff(initial: .milliseconds(20), maximum: .milliseconds(200), maximumAttempts: 50)
        return configuration
    }

    /// Starts (or restarts) the process and waits, without blocking a thread, until it answers.
    func start() async throws {
        let executable: String
        let arguments: [String]
        switch self.kind {
        case _ where self.sentinelConfiguration != nil:
            executable =
                FileManager.default.fileExists(atPath: "/usr/bin/redis-sentinel")
                ? "/usr/bin/redis-sentinel" : "/usr/bin/redis-server"
            arguments = [self.sentinelConfiguration!] + (executable.hasSuffix("redis-server") ? ["--sentinel"] : [])
        case .wharf:
            executable = Self.wharfBinary
            arguments =
                ["serve", "--port", "\(self.port)", "--dir", self.directory.appendingPathComponent("data").path]
                + self.extraArguments
        case .redis:
            executable = "/usr/bin/redis-server"
            arguments =
                [
                    "--port", "\(self.port)", "--bind", "127.0.0.1", "--dir", self.directory.path, "--save", "",
                    "--appendonly", "no",
                ] + self.extraArguments
        }
        self.pid = try Self.spawn(
            executable, arguments, log: self.directory.appendingPathComponent("server.log").path)
        try await self.waitUntilReady()
    }

    /// posix_spawn with an empty signal mask and default handlers: a child started by
    /// Foundation's Process inherits the test runner's blocked signals and ignores SIGTERM.
    private static func spawn(_ executable: String, _ arguments: [String], log: String) throws -> pid_t {
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var empty = sigset_t()
        sigemptyset(&empty)
        var all = sigset_t()
        sigfillset(&all)
        posix_spawnattr_setsigmask(&attributes, &empty)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 1, log, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var pid: pid_t = 0
        let status = posix_spawn(&pid, executable, &actions, &attributes, argv, environ)
        guard status == 0 else { throw TestServerError("cannot start \(executable): error \(status)") }
        return pid
    }

    private func waitUntilReady() async throws {
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            if let pid {
                var status: Int32 = 0
                if waitpid(pid, &status, WNOHANG) == pid {
                    self.pid = nil
                    throw TestServerError("\(self.kind) exited (status \(status)): \(self.log)", exited: true)
                }
            }
            if Self.answersPing(port: self.port) { return }
            try await Task.sleep(for: .milliseconds(30))
        }
        throw TestServerError("\(self.kind) did not answer on port \(self.port): \(self.log)")
    }

    var log: String {
        (try? String(contentsOf: self.directory.appendingPathComponent("server.log"), encoding: .utf8)) ?? ""
    }

    /// Stops the server: SIGTERM, or SIGKILL with `kill`.
    func stop(kill: Bool = false) async {
        guard let pid else { return }
        Foundation.kill(pid, kill ? SIGKILL : SIGTERM)
        var status: Int32 = 0
        let deadline = ContinuousClock.now + .seconds(15)
        while true {
            let reaped = waitpid(pid, &status, WNOHANG)
            if reaped == pid || (reaped < 0 && errno == ECHILD) { break }
            if ContinuousClock.now > deadline { Foundation.kill(pid, SIGKILL) }
            try? await Task.sleep(for: .milliseconds(2))
        }
        self.pid = nil
    }

    deinit {
        // A test that failed before stopping its server: kill it (exits at once) and reap it.
        if let pid {
            Foundation.kill(pid, SIGKILL)
            var status: Int32 = 0
            while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        }
        try? FileManager.default.removeItem(at: self.directory)
    }

    /// Runs a program to completion (off the cooperative threads) and returns its output;
    /// throws when it exits with a failure.
    static func run(_ executable: String, _ arguments: [String]) async throws -> String {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("wharf-run-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let log = directory.appendingPathComponent("output").path
        let pid = try Self.spawn(executable, arguments, log: log)
        let status = await withCheckedContinuation { (continuation: CheckedContinuation<Int32, Never>) in
            Thread.detachNewThread {
                var status: Int32 = 0
                while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
                continuation.resume(returning: status)
            }
        }
        let output = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        guard status == 0 else {
            throw TestServerError("\(executable) \(arguments.joined(separator: " ")) failed (\(status)): \(output)")
        }
        return output
    }

    /// Ports are handed out by this process from counters, each once, below the kernel's
    /// ephemeral range (32768 and up): a port from `bind(0)` could be taken by another test's
    /// server, or by a client connection's source port, before this server binds it — and
    /// the first server would then answer this one's readiness check.
    private static let nextPort = Atomic<Int>(Int(getpid() % 1000) * 7)

    static func freePort() throws -> Int {
        for _ in 0..<7000 {
            let port = 23000 + Self.nextPort.add(1, ordering: .relaxed).newValue % 7000
            if Self.isFree(port) { return port }
        }
        throw TestServerError("no free port in 23000-29999")
    }

    /// A port in 20000-22767 whose cluster bus port (10,000 higher, 30000-32767) is free too.
    private static let nextClusterPort = Atomic<Int>(Int(getpid() % 1000) * 3)

    static func freeClusterPort() throws -> Int {
        for _ in 0..<2768 {
            let port = 20000 + Self.nextClusterPort.add(1, ordering: .relaxed).newValue % 2768
            if Self.isFree(port) && Self.isFree(port + 10000) { return port }
        }
        throw TestServerError("no free port pair for a cluster node")
    }

    private static func isFree(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(port).bigEndian
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
    }

    private static func answersPing(port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(port).bigEndian
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
        guard connected else { return false }
        let ping = Array("PING\r\n".utf8)
        guard write(fd, ping, ping.count) == ping.count else { return false }
        var reply = [UInt8](repeating: 0, count: 16)
        let count = read(fd, &reply, reply.count)
        return count >= 5 && String(decoding: reply[0..<5], as: UTF8.self) == "+PONG"
    }
}

struct TestServerError: Error, CustomStringConvertible {
    let description: String
    /// The server process ended while starting (a taken port, say).
    var exited = false
    init(_ description: String, exited: Bool = false) {
        self.description = description
        self.exited = exited
    }
}

/// Runs `body` with a client of `server` (with `configuration`, or the server's default one
/// in the given protocol), closing the client afterwards.
func withClient<T: Sendable>(
    _ server: TestServer, protocolVersion: Int = 3, configuration: WharfClientConfiguration? = nil,
    _ body: (WharfClient) async throws -> T
) async throws -> T {
    let client = WharfClient(configuration: configuration ?? server.configuration(protocolVersion: protocolVersion))
    do {
        let result = try await body(client)
        await client.close()
        return result
    } catch {
        await client.close()
        throw error
    }
}
