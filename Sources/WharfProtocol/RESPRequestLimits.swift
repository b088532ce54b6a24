/// Limits the request decoder enforces, each named after the configuration key that sets it.
///
/// The defaults are Redis 7's.
public struct RESPRequestLimits: Sendable, Hashable {
    /// Largest bulk string a client may send (`proto-max-bulk-len`).
    public var maxBulkLength: Int
    /// Most arguments in one command (`proto-max-multibulk-len`).
    public var maxArguments: Int
    /// Longest inline command line and longest `*`/`$` header line (`proto-inline-max-size`).
    public var maxInlineLength: Int
    /// Largest amount of unprocessed input one client may buffer (`client-query-buffer-limit`).
    public var maxQueryBuffer: Int

    public init(
        maxBulkLength: Int = 512 * 1024 * 1024,
        maxArguments: Int = 1024 * 1024,
        maxInlineLength: Int = 64 * 1024,
        maxQueryBuffer: Int = 1024 * 1024 * 1024
    ) {
        self.maxBulkLength = maxBulkLength
        self.maxArguments = maxArguments
        self.maxInlineLength = maxInlineLength
        self.maxQueryBuffer = maxQueryBuffer
    }

    /// Limits Redis applies before a client has authenticated, so an anonymous peer
    /// cannot make the server buffer large requests.
    public static let unauthenticatedMaxArguments = 10
    public static let unauthenticatedMaxBulkLength = 16384
}
