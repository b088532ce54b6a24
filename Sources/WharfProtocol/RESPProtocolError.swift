/// A request that cannot be decoded. The connection replies `-ERR Protocol error: <message>`
/// and closes, as Redis does, because the stream can no longer be framed.
public struct RESPProtocolError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The text after `Protocol error: `.
    public let message: String

    public init(_ message: String) {
        self.message = message
    }

    /// The full error line, without the leading `-` and trailing CRLF.
    public var replyText: String { "ERR Protocol error: \(self.message)" }

    public var description: String { "Protocol error: \(self.message)" }
}
