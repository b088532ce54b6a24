/// An error from a Wharf container or handle.
///
/// Match on ``code``; the message says what happened in words and names the limit or the
/// value involved.
///
/// ```swift
/// do {
///     try await queue.enqueue(job)
/// } catch let error as WharfError where error.code == .queueFull {
///     // shed load
/// }
/// ```
public struct WharfError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What kind of failure this is. New codes may be added; match the ones you handle.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Hashable, Sendable {
            case invalidName, valueTooLarge, encodingFailed, decodingFailed, queueFull, queueClosed, rateLimited
            case conflict, timeout, backend, validationFailed, closed, wrongType, invalidConfiguration
        }
        private let base: Base

        /// A container, key or stream name breaks the naming rules (empty, too long, or not
        /// matching the configured pattern).
        public static let invalidName = Code(base: .invalidName)
        /// An encoded value is larger than the container's configured limit.
        public static let valueTooLarge = Code(base: .valueTooLarge)
        /// The value could not be encoded.
        public static let encodingFailed = Code(base: .encodingFailed)
        /// A stored value could not be decoded as the container's type.
        public static let decodingFailed = Code(base: .decodingFailed)
        /// A bounded queue is full and the caller chose not to wait (or the wait ran out).
        public static let queueFull = Code(base: .queueFull)
        /// The queue was closed: no more elements may be added.
        public static let queueClosed = Code(base: .queueClosed)
        /// The rate limit refused the operation and the caller chose to fail fast.
        public static let rateLimited = Code(base: .rateLimited)
        /// A compare-and-set found another value or version than expected.
        public static let conflict = Code(base: .conflict)
        /// An operation did not finish within its deadline.
        public static let timeout = Code(base: .timeout)
        /// The backend failed (connection lost, server error); the message carries its words.
        public static let backend = Code(base: .backend)
        /// A payload failed validation (closure or JSON Schema).
        public static let validationFailed = Code(base: .validationFailed)
        /// The handle was closed.
        public static let closed = Code(base: .closed)
        /// The key holds another kind of value than the container stores.
        public static let wrongType = Code(base: .wrongType)
        /// A configuration value is out of range or contradicts another.
        public static let invalidConfiguration = Code(base: .invalidConfiguration)

        public var description: String { self.base.rawValue }
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(self.code): \(self.message)" }
}
