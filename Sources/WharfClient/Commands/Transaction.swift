public import WharfProtocol

/// The commands a transaction body queues; they run between MULTI and EXEC.
public struct WharfTransaction: Sendable {
    public private(set) var commands: [RESPCommand] = []

    /// Queues a command; its reply is in the array the transaction returns, at the same index.
    public mutating func queue(_ command: RESPCommand) {
        self.commands.append(command)
    }
}

extension WharfConnection {
    /// WATCHes `keys`, runs `body` (which may read with this connection and queues writes),
    /// then sends MULTI, the queued commands and EXEC in one write. When a watched key
    /// changed, EXEC aborts and the whole is tried again up to `retries` times, then fails
    /// with ``WharfClientError/Code/watchConflict``. Returns EXEC's replies (errors as values).
    public func transaction(
        watching keys: [String] = [], retries: Int = 0,
        _ body: (WharfConnection, inout WharfTransaction) async throws -> Void
    ) async throws -> [RESPValue] {
        var attempt = 0
        while true {
            if !keys.isEmpty {
                var watch = RESPCommand("WATCH")
                watch.append(contentsOf: keys)
                try await self.send(watch)
            }
            var transaction = WharfTransaction()
            do {
                try await body(self, &transaction)
            } catch {
                if !keys.isEmpty { _ = try? await self.send(RESPCommand("UNWATCH")) }
                throw error
            }
            if transaction.commands.isEmpty {
                if !keys.isEmpty { try await self.send(RESPCommand("UNWATCH")) }
                return []
            }
            let replies = try await self.pipeline(
                [RESPCommand("MULTI")] + transaction.commands + [RESPCommand("EXEC")])
            let exec = replies[replies.count - 1]
            switch exec {
            case .error(let line): throw WharfClientError.server(line)
            case .null:
                attempt += 1
                if attempt > retries {
                    throw WharfClientError(
                        .watchConflict, "a watched key changed; EXEC aborted \(attempt) times (retries: \(retries))")
                }
            default:
                guard let results = exec.elements else { throw WharfClientError.unexpected(exec, as: [RESPValue].self) }
                return results
            }
        }
    }
}

extension WharfClient {
    /// Runs a transaction on a connection lent for it; see
    /// ``WharfConnection/transaction(watching:retries:_:)``.
    ///
    /// ```swift
    /// let results = try await client.transaction(watching: ["stock"], retries: 10) { connection, transaction in
    ///     let stock = try await connection.send(RESPCommand("GET", "stock"), as: Int?.self) ?? 0
    ///     transaction.queue(RESPCommand("SET", "stock", stock - 1))
    /// }
    /// ```
    public func transaction(
        watching keys: [String] = [], retries: Int = 0,
        _ body: (WharfConnection, inout WharfTransaction) async throws -> Void
    ) async throws -> [RESPValue] {
        // In a cluster the transaction runs on the node of the watched keys.
        try await self.withConnection(routingKey: keys.first) { connection in
            try await connection.transaction(watching: keys, retries: retries, body)
        }
    }
}
