import NIOCore
import Synchronization
import WharfProtocol

/// Finds the current primary through the sentinels, and watches them for failovers.
///
/// Before each connection the pool asks the sentinels, in turn, for the primary's address
/// (`SENTINEL get-master-addr-by-name`), connects, and checks with `ROLE` that the server
/// really is a primary (a sentinel's view can lag a failover). A watcher subscribed to
/// `+switch-master` on one sentinel tells the pool to drop its connections when the primary
/// changes, so the next command connects to the new one.
final class SentinelResolver: Sendable {
    private let configuration: SentinelConfiguration
    private let connection: WharfConnection.Configuration
    private let eventLoopGroup: any EventLoopGroup
    /// The sentinel that answered last, asked first next time.
    private let preferred = Atomic<Int>(0)

    init(
        configuration: SentinelConfiguration, connection: WharfConnection.Configuration,
        eventLoopGroup: any EventLoopGroup
    ) {
        self.configuration = configuration
        self.connection = connection
        self.eventLoopGroup = eventLoopGroup
    }

    private func sentinelConfiguration(_ address: ServerAddress) -> WharfConnection.Configuration {
        WharfConnection.Configuration(
            host: address.host, port: address.port, protocolVersion: 2, username: self.configuration.sentinelUsername,
            password: self.configuration.sentinelPassword, connectTimeout: self.connection.connectTimeout)
    }

    /// The primary's address according to the first sentinel that knows it.
    func primaryAddress() async throws -> ServerAddress {
        try await self.ask(
            "SENTINEL", "get-master-addr-by-name", failure: "no sentinel gave the address of the primary"
        ) { reply throws(WharfClientError) -> ServerAddress? in
            guard let parts = reply.elements, parts.count == 2, let host = parts[0].string,
                let port = parts[1].string.flatMap({ Int($0) })
            else { return nil }
            return ServerAddress(host: host, port: port)
        }
    }

    /// The healthy replicas of the primary according to the first sentinel that answers:
    /// not down, not disconnected, their link to the primary up.
    func replicaAddresses() async throws -> [ServerAddress] {
        try await self.ask("SENTINEL", "replicas", failure: "no sentinel listed the replicas of the primary") {
            reply throws(WharfClientError) -> [ServerAddress]? in
            var replicas: [ServerAddress] = []
            for entry in reply.elements ?? [] {
                let fields = try [String: String](reply: entry)
                let flags = fields["flags"] ?? ""
                guard !flags.contains("down"), !flags.contains("disconnected"),
                    fields["master-link-status"] == "ok", let host = fields["ip"],
                    let port = fields["port"].flatMap({ Int($0) })
                else { continue }
                replicas.append(ServerAddress(host: host, port: port))
            }
            return replicas
        }
    }

    /// Sends `SENTINEL <subcommand> <primary name>` to the sentinels in turn (the one that
    /// answered last first) until `read` makes something of a reply; nil from `read` means
    /// that sentinel does not know the primary.
    private func ask<Result>(
        _ command: String, _ subcommand: String, failure: String,
        read: (RESPValue) throws(WharfClientError) -> Result?
    ) async throws -> Result {
        let sentinels = self.configuration.sentinels
        guard !sentinels.isEmpty else {
            throw WharfClientError(.invalidConfiguration, "no sentinels configured (SentinelConfiguration.sentinels)")
        }
        var failures: [String] = []
        let start = self.preferred.load(ordering: .relaxed)
        for offset in 0..<sentinels.count {
            let index = (start + offset) % sentinels.count
            let address = sentinels[index]
            do {
                let sentinel = try await WharfConnection.connect(
                    to: self.sentinelConfiguration(address), on: self.eventLoopGroup.next())
                defer { sentinel.close() }
                let reply = try await sentinel.send(
                    RESPCommand(command, subcommand, self.configuration.primaryName),
                    timeout: self.connection.connectTimeout)
                guard let result = try read(reply) else {
                    failures.append("\(address): does not know '\(self.configuration.primaryName)'")
                    continue
                }
                self.preferred.store(index, ordering: .relaxed)
                return result
            } catch {
                failures.append("\(address): \(error)")
            }
        }
        throw WharfClientError(
            .connectFailed, "\(failure) '\(self.configuration.primaryName)': " + failures.joined(separator: "; "))
    }

    /// Connects to the primary the sentinels name, and checks its ROLE.
    func connectToPrimary(on eventLoop: any EventLoop) async throws -> WharfConnection {
        let address = try await self.primaryAddress()
        var configuration = self.connection
        configuration.host = address.host
        configuration.port = address.port
        let connection: WharfConnection
        do {
            connection = try await WharfConnection.connect(to: configuration, on: eventLoop)
        } catch let error as WharfClientError where error.code == .connectFailed {
            throw error
        } catch {
            throw WharfClientError(.connectFailed, "cannot connect to the primary at \(address): \(error)")
        }
        do {
            let role = try await connection.send(RESPCommand("ROLE"), timeout: self.connection.connectTimeout)
            guard role.elements?.first?.string == "master" else {
                throw WharfClientError(
                    .connectFailed,
                    "the sentinels named \(address) as primary, but its ROLE is "
                        + "\(role.elements?.first?.string ?? "unknown") (a failover in progress?)")
            }
            return connection
        } catch {
            connection.close()
            throw error
        }
    }

    /// Subscribes to `+switch-master` on the sentinels, in turn, and calls `onSwitch` when
    /// the monitored primary changes; returns when the task is cancelled.
    func watch(backoff: Backoff, onSwitch: @escaping @Sendable (ServerAddress) -> Void) async {
        var attempt = 0
        var index = self.preferred.load(ordering: .relaxed)
        while !Task.isCancelled {
            let address = self.configuration.sentinels[index % self.configuration.sentinels.count]
            index += 1
            do {
                let sentinel = try await WharfConnection.connect(
                    to: self.sentinelConfiguration(address), on: self.eventLoopGroup.next())
                let (ended, endedContinuation) = AsyncStream<Void>.makeStream()
                let name = self.configuration.primaryName
                try await sentinel.setPushReceiver(arraysArePushes: true) { value in
                    // ["message", "+switch-master", "<name> <old-ip> <old-port> <new-ip> <new-port>"]
                    guard let parts = value.elements, parts.count == 3, parts[0].string == "message",
                        let words = parts[2].string?.split(separator: " "), words.count == 5, words[0] == name,
                        let port = Int(words[4])
                    else { return }
                    onSwitch(ServerAddress(host: String(words[3]), port: port))
                } onClose: { _ in
                    endedContinuation.finish()
                }
                sentinel.sendWithoutReply(RESPCommand("SUBSCRIBE", "+switch-master"))
                attempt = 0
                await withTaskCancellationHandler {
                    for await _ in ended {}
                } onCancel: {
                    sentinel.close()
                }
            } catch {
                attempt += 1
            }
            if Task.isCancelled { return }
            try? await Task.sleep(for: backoff.delay(afterAttempt: max(1, attempt)))
        }
    }
}
