package import WharfClient
package import WharfProtocol

/// One command as byte strings: the name, then its arguments.
package struct BackendCommand: Sendable {
    package var arguments: [[UInt8]]

    package init(_ name: String, _ arguments: any CommandArgument...) {
        self.arguments = [Array(name.utf8)] + arguments.map(\.commandBytes)
    }

    package mutating func append(_ argument: any CommandArgument) {
        self.arguments.append(argument.commandBytes)
    }

    package var name: String { String(decoding: self.arguments.first ?? [], as: UTF8.self) }
}

/// Something that can be a command argument.
package protocol CommandArgument: Sendable {
    var commandBytes: [UInt8] { get }
}

extension String: CommandArgument {
    package var commandBytes: [UInt8] { Array(self.utf8) }
}

extension Array: CommandArgument where Element == UInt8 {
    package var commandBytes: [UInt8] { self }
}

extension Int: CommandArgument {
    package var commandBytes: [UInt8] { Array(String(self).utf8) }
}

extension Double: CommandArgument {
    package var commandBytes: [UInt8] { Array(String(self).utf8) }
}

/// Runs Redis commands somewhere: the engine in this process or a server over RESP. The
/// capability backends (key-value, queues, pub/sub, streams) are written once over it.
package protocol CommandTransport: Sendable {
    /// The backend's name for metrics, traces and health.
    var backendName: String { get }
    /// Runs a command; an error reply is thrown as a ``WharfError``.
    func run(_ command: BackendCommand) async throws -> RESPValue
    /// Runs a command that may block (BLMOVE, XREADGROUP BLOCK …) for up to `wait`.
    func runBlocking(_ command: BackendCommand, wait: Duration?) async throws -> RESPValue
    /// Runs commands back to back; error replies come back as values.
    func pipeline(_ commands: [BackendCommand]) async throws -> [RESPValue]
    /// Runs `body` on a session of its own (WATCH, MULTI … EXEC), in a cluster on the node
    /// that owns `routingKey`.
    func withSession<T: Sendable>(
        routingKey: [UInt8]?, _ body: (any CommandSession) async throws -> T
    ) async throws -> T
    /// Subscribes to channels and patterns; in a cluster on the node of `routingKey`'s slot.
    func subscribe(channels: [String], patterns: [String], routingKey: [UInt8]?) async throws
        -> any MessageSubscription
    /// GET of `prefix` + `key`, handing the value's bytes to `body` (embedded: while the
    /// key's shard is locked, so `body` must be quick and must not call the backend).
    func readString<T>(prefix: [UInt8], key: String, _ body: (UnsafeRawBufferPointer) throws -> T) async throws -> T?
    /// A health probe.
    func health() async -> HealthStatus
    /// Closes connections (or flushes and closes the embedded engine's log).
    func close() async throws
}

/// A session lent by ``CommandTransport/withSession(routingKey:_:)``.
package protocol CommandSession: Sendable {
    func run(_ command: BackendCommand) async throws -> RESPValue
    /// Runs commands back to back; error replies come back as values.
    func pipeline(_ commands: [BackendCommand]) async throws -> [RESPValue]
}

/// A live subscription: its messages, and a way to end it.
package protocol MessageSubscription: Sendable {
    var messages: AsyncThrowingStream<PubSubMessage, any Error> { get }
    func close() async
}

extension CommandTransport {
    /// A GET command: what every transport without a faster path does.
    package func readString<T>(prefix: [UInt8], key: String, _ body: (UnsafeRawBufferPointer) throws -> T)
        async throws -> T?
    {
        switch try await self.run(BackendCommand("GET", prefix + Array(key.utf8))) {
        case .bulkString(let bytes): return try bytes.withUnsafeBytes { try body($0) }
        case .null: return nil
        case let other: throw WharfError(.backend, "GET answered \(other)")
        }
    }
}

extension RESPValue {
    /// The value, or the error reply thrown as a ``WharfError``.
    package func throwingError() throws(WharfError) -> RESPValue {
        guard case .error(let message) = self else { return self }
        throw WharfError.fromServer(message)
    }
}

extension WharfError {
    /// An error reply from a server or the engine.
    package static func fromServer(_ message: String) -> WharfError {
        if message.hasPrefix("WRONGTYPE") { return WharfError(.wrongType, message) }
        return WharfError(.backend, message)
    }

    /// Any error from the client library, in Wharf's terms.
    package static func from(_ error: any Error) -> any Error {
        switch error {
        case let error as WharfError: return error
        case let error as WharfClientError where error.code == .server: return WharfError.fromServer(error.message)
        case let error as WharfClientError where error.code == .timeout:
            return WharfError(.timeout, error.message)
        case let error as WharfClientError where error.code == .clientClosed:
            return WharfError(.closed, error.message)
        case let error as WharfClientError: return WharfError(.backend, "\(error.code): \(error.message)")
        case is CancellationError: return error
        default: return WharfError(.backend, "\(error)")
        }
    }
}

extension RESPValue {
    /// An integer reply, or a string holding one.
    package var integer: Int64? {
        switch self {
        case .integer(let value): return value
        case .bulkString, .simpleString: return self.string.flatMap { Int64($0) }
        default: return nil
        }
    }

    /// A RESP3 map's pairs.
    package var pairs: [(RESPValue, RESPValue)]? {
        guard case .map(let values) = self else { return nil }
        return stride(from: 0, to: values.count - 1, by: 2).map { (values[$0], values[$0 + 1]) }
    }
}
