import Configuration
import SystemPackage
import WharfEngine

/// Settings of one `wharf serve`, resolved from flags over environment (`WHARF_*`) over a
/// configuration file (YAML or JSON) over defaults.
///
/// Keys are Redis's configuration names (`maxclients`, `proto-max-bulk-len` …); in the
/// environment they are upper-cased with `_` for `-` and prefixed (`WHARF_MAXCLIENTS`).
/// Every value goes through the same validation as `CONFIG SET`, so a bad value stops
/// start-up with a message naming the key, wherever it came from.
public struct ServerConfiguration: Sendable {
    public var port = 6379
    public var bind = ["127.0.0.1"]
    public var directory = "./wharf-data"
    /// Event loop threads; 0 means one per available core.
    public var threads = 0
    /// How client connections are served: `epoll` (Linux, the fast path) or `nio` (SwiftNIO).
    public var transport: Transport = Transport.platformDefault
    public var databases = 16
    public var shards = 32
    public var configFile: String?
    /// Cut the log at damage found during recovery instead of refusing to start (`--repair`).
    public var repair = false
    /// Engine parameters to apply at start-up, by name, in order.
    public var parameters: [(String, String)] = []

    public init() {}

    public enum Transport: String, Sendable, CaseIterable {
        case epoll
        case nio

        public static var platformDefault: Transport {
            #if os(Linux)
                return .epoll
            #else
                return .nio
            #endif
        }
    }

    /// Keys handled here rather than by the engine's parameter table.
    static let serverKeys: Set<String> = ["port", "bind", "dir", "threads", "databases", "shards", "transport"]

    /// Every key a flag, variable or file may set.
    public static var knownKeys: [String] {
        ["port", "bind", "dir", "threads", "databases", "shards", "transport"]
            + EngineParameters.names.filter { !serverKeys.contains($0) }
    }

    /// Resolves the configuration.
    ///
    /// - Parameters:
    ///   - flags: values given on the command line, by key.
    ///   - environment: the process environment; only `WHARF_*` variables are read.
    ///   - configFile: a `.yaml`/`.yml` or `.json` file, if any.
    public static func load(flags: [String: String], environment: [String: String], configFile: String?) async throws
        -> ServerConfiguration
    {
        var providers: [any ConfigProvider] = [
            InMemoryProvider(
                name: "flags",
                values: Dictionary(
                    uniqueKeysWithValues: flags.map {
                        (
                            AbsoluteConfigKey(stringLiteral: $0.key),
                            ConfigValue(.string($0.value), isSecret: $0.key == "requirepass")
                        )
                    }))
        ]
        var scoped: [String: String] = [:]
        for (name, value) in environment where name.hasPrefix("WHARF_") {
            scoped[String(name.dropFirst("WHARF_".count))] = value
        }
        providers.append(
            EnvironmentVariablesProvider(environmentVariables: scoped, secretsSpecifier: .specific(["REQUIREPASS"])))
        if let configFile {
            do {
                if configFile.hasSuffix(".json") {
                    providers.append(try await FileProvider<JSONSnapshot>(filePath: FilePath(configFile)))
                } else if configFile.hasSuffix(".yaml") || configFile.hasSuffix(".yml") {
                    providers.append(try await FileProvider<YAMLSnapshot>(filePath: FilePath(configFile)))
                } else {
                    throw ServerConfigurationError("config file '\(configFile)' must end in .yaml, .yml or .json")
                }
            } catch let error as ServerConfigurationError {
                throw error
            } catch {
                throw ServerConfigurationError("cannot read config file '\(configFile)': \(error)")
            }
        }
        let reader = ConfigReader(providers: providers)
        var configuration = ServerConfiguration()
        configuration.configFile = configFile
        for key in Self.knownKeys {
            guard let value = Self.text(reader, key) else { continue }
            switch key {
            case "port":
                guard let port = Int(value), (0...65535).contains(port) else {
                    throw ServerConfigurationError(
                        "'port': argument must be between 0 and 65535 inclusive (got '\(value)')")
                }
                configuration.port = port
            case "bind":
                let addresses = value.split(whereSeparator: { $0 == " " || $0 == "," }).map(String.init)
                guard !addresses.isEmpty else {
                    throw ServerConfigurationError("'bind': at least one address is required")
                }
                configuration.bind = addresses
            case "dir":
                guard !value.isEmpty else {
                    throw ServerConfigurationError("'dir': the data directory cannot be empty")
                }
                configuration.directory = value
            case "threads":
                guard let threads = Int(value), (0...1024).contains(threads) else {
                    throw ServerConfigurationError(
                        "'threads': argument must be between 0 and 1024 inclusive (got '\(value)')")
                }
                configuration.threads = threads
            case "transport":
                guard let transport = Transport(rawValue: value.lowercased()) else {
                    throw ServerConfigurationError(
                        "'transport': argument must be one of the following: epoll, nio (got '\(value)')")
                }
                #if !os(Linux)
                    if transport == .epoll {
                        throw ServerConfigurationError("'transport': epoll is only available on Linux")
                    }
                #endif
                configuration.transport = transport
            case "databases":
                guard let databases = Int(value), (1...10_000).contains(databases) else {
                    throw ServerConfigurationError(
                        "'databases': argument must be between 1 and 10000 inclusive (got '\(value)')")
                }
                configuration.databases = databases
            case "shards":
                guard let shards = Int(value), (1...256).contains(shards), shards & (shards - 1) == 0 else {
                    throw ServerConfigurationError(
                        "'shards': argument must be a power of two between 1 and 256 (got '\(value)')")
                }
                configuration.shards = shards
            default:
                configuration.parameters.append((key, value))
            }
        }
        // Validate engine parameters now, so start-up fails before anything listens.
        let scratch = EngineSettings(databases: configuration.databases, shards: configuration.shards)
        for (key, value) in configuration.parameters {
            do {
                try EngineParameters.set(key, value, on: scratch)
            } catch {
                throw ServerConfigurationError(
                    "'\(key)': \(error.message) (got '\(key == "requirepass" ? "<hidden>" : value)')")
            }
        }
        return configuration
    }

    /// A key's value as text, whatever type the file gave it.
    private static func text(_ reader: ConfigReader, _ key: String) -> String? {
        let configKey = ConfigKey(key)
        if let value = reader.string(forKey: configKey) { return value }
        if let value = reader.int(forKey: configKey) { return String(value) }
        if let value = reader.double(forKey: configKey) { return String(value) }
        if let value = reader.bool(forKey: configKey) { return value ? "yes" : "no" }
        if let values = reader.stringArray(forKey: configKey) { return values.joined(separator: " ") }
        return nil
    }
}

/// A configuration that cannot be used; the message names the key or file.
public struct ServerConfigurationError: Error, CustomStringConvertible, Sendable {
    public let description: String

    init(_ description: String) {
        self.description = description
    }
}
