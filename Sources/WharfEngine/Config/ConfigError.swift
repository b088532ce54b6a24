/// A configuration value that cannot be accepted; `message` names the key and what is allowed.
public struct ConfigError: Error, Sendable, Hashable, CustomStringConvertible {
    public let key: String
    public let message: String

    public init(key: String, _ message: String) {
        self.key = key
        self.message = message
    }

    public var description: String { "'\(self.key)': \(self.message)" }
}
