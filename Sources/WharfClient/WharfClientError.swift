/// An error from WharfClient. Every failure the client reports is one of these.
///
/// ```swift
/// do { _ = try await client.lpush("user:1", "x") }
/// catch let error as WharfClientError where error.code == .server && error.serverErrorPrefix == "WRONGTYPE" { … }
/// ```
public struct WharfClientError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What kind of failure. New codes can be added without breaking callers that switch on
    /// the static members, because the cases behind them stay private.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: Hashable, Sendable {
            case server
            case connectionLost
            case connectFailed
            case timeout
            case poolExhausted
            case redirectLoop
            case protocolError
            case unexpectedReply
            case clientClosed
            case cancelled
            case crossSlot
            case invalidConfiguration
            case watchConflict
        }
        private let base: Base

        /// The server answered with an error reply (`-WRONGTYPE …`, `-ERR …`).
        public static let server = Code(base: .server)
        /// The connection closed while the command was sent or awaited its reply; see
        /// ``WharfClientError/mayHaveBeenApplied``.
        public static let connectionLost = Code(base: .connectionLost)
        /// No connection could be made (after the configured retries).
        public static let connectFailed = Code(base: .connectFailed)
        /// The command's deadline passed before its reply arrived.
        public static let timeout = Code(base: .timeout)
        /// No connection could be lent within the pool's wait limit.
        public static let poolExhausted = Code(base: .poolExhausted)
        /// A cluster kept redirecting the command (`MOVED`/`ASK`) past the redirect limit.
        public static let redirectLoop = Code(base: .redirectLoop)
        /// The server sent bytes that are not RESP, or a reply above the size limit.
        public static let protocolError = Code(base: .protocolError)
        /// The reply was valid RESP but not of the type the caller asked for.
        public static let unexpectedReply = Code(base: .unexpectedReply)
        /// The client or connection was closed by its owner.
        public static let clientClosed = Code(base: .clientClosed)
        /// The calling task was cancelled before the reply arrived.
        public static let cancelled = Code(base: .cancelled)
        /// A multi-key command's keys hash to different cluster slots.
        public static let crossSlot = Code(base: .crossSlot)
        /// A URL or configuration value is invalid.
        public static let invalidConfiguration = Code(base: .invalidConfiguration)
        /// A watched key changed, so EXEC aborted, and the retries (if any) ran out.
        public static let watchConflict = Code(base: .watchConflict)

        public var description: String { "\(self.base)" }
    }

    public let code: Code
    /// A human-readable explanation; for ``Code/server`` the server's whole error line.
    public let message: String
    /// For a lost connection or a timeout: whether the server may have run the command (it
    /// had been written to the socket). `false` means it certainly did not.
    public let mayHaveBeenApplied: Bool

    public init(_ code: Code, _ message: String, mayHaveBeenApplied: Bool = false) {
        self.code = code
        self.message = message
        self.mayHaveBeenApplied = mayHaveBeenApplied
    }

    /// The first word of a server error (`WRONGTYPE`, `NOGROUP`, `MOVED` …), or nil for other codes.
    public var serverErrorPrefix: String? {
        guard self.code == .server else { return nil }
        return self.message.split(separator: " ", maxSplits: 1).first.map(String.init)
    }

    public var description: String {
        self.code == .server ? self.message : "\(self.code): \(self.message)"
    }

    static func server(_ line: String) -> WharfClientError { WharfClientError(.server, line) }
}
