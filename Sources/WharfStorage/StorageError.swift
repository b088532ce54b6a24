#if canImport(Glibc)
    import Glibc
#endif

/// A storage failure: which file, what operation, and the system's reason.
public struct StorageError: Error, Sendable, CustomStringConvertible {
    public let path: String
    public let operation: String
    public let reason: String
    /// The errno, when the failure came from the system.
    public let code: Int32?

    public init(path: String, operation: String, reason: String, code: Int32? = nil) {
        self.path = path
        self.operation = operation
        self.reason = reason
        self.code = code
    }

    static func system(_ operation: String, path: String, errno code: Int32) -> StorageError {
        StorageError(path: path, operation: operation, reason: String(cString: strerror(code)), code: code)
    }

    public var description: String { "\(self.operation) \(self.path): \(self.reason)" }
}
