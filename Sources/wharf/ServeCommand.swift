import ArgumentParser
import Foundation
import Logging
import WharfEngine
import WharfServer

/// `wharf serve`: runs the server in the foreground.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the Wharf server.",
        discussion: """
            Any configuration parameter can also be given as a flag (`--maxclients 100`), as an \
            environment variable (`WHARF_MAXCLIENTS=100`) or in the --config file; flags win over \
            the environment, which wins over the file. `wharf commands` lists the commands; \
            `CONFIG GET *` lists the parameters.
            """
    )

    @Option(help: "TCP port for the RESP listener (default 6379).")
    var port: Int?

    @Option(help: "Addresses to listen on, space- or comma-separated (default 127.0.0.1).")
    var bind: String?

    @Option(help: "Data directory (default ./wharf-data).")
    var dir: String?

    @Option(help: "Configuration file, YAML (.yaml/.yml) or JSON (.json), keyed by parameter name.")
    var config: String?

    @Flag(help: "If the log is damaged, keep everything before the damage and start (reports what was dropped).")
    var repair = false

    @Argument(parsing: .allUnrecognized, help: "Further parameters as --name value pairs.")
    var parameters: [String] = []

    func run() async throws {
        var flags: [String: String] = [:]
        if let port { flags["port"] = String(port) }
        if let bind { flags["bind"] = bind }
        if let dir { flags["dir"] = dir }
        let known = Set(ServerConfiguration.knownKeys)
        var index = 0
        while index < self.parameters.count {
            let word = self.parameters[index]
            guard word.hasPrefix("--") else {
                throw ValidationError("unexpected argument '\(word)'; parameters are given as --name value")
            }
            var name = String(word.dropFirst(2))
            var value: String
            if let equals = name.firstIndex(of: "=") {
                value = String(name[name.index(after: equals)...])
                name = String(name[..<equals])
            } else {
                guard index + 1 < self.parameters.count else {
                    throw ValidationError("option '--\(name)' needs a value")
                }
                value = self.parameters[index + 1]
                index += 1
            }
            guard known.contains(name.lowercased()) else {
                throw ValidationError("unknown option '--\(name)'; see 'wharf serve --help' and CONFIG GET *")
            }
            flags[name.lowercased()] = value
            index += 1
        }
        var configuration: ServerConfiguration
        do {
            configuration = try await ServerConfiguration.load(
                flags: flags, environment: ProcessInfo.processInfo.environment, configFile: self.config)
        } catch let error as ServerConfigurationError {
            throw ValidationError("invalid configuration: \(error.description)")
        }
        configuration.repair = self.repair
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = .info
            return handler
        }
        let logger = Logger(label: "wharf")
        do {
            try await WharfServerApplication.run(configuration, logger: logger)
        } catch let error as ServerConfigurationError {
            logger.critical("\(error.description)")
            throw ExitCode(1)
        }
    }
}
