#if canImport(Glibc)
import Glibc
#endif
public import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import UnixSignals
import Synchronization
public import WharfEngine

/// `wharf serve`: builds the engine from a configuration and runs the listener and the
/// background cron until SIGTERM, SIGINT or SHUTDOWN.
public enum WharfServerApplication {
    public static func run(_ configuration: ServerConfiguration, logger: Logger) async throws {
        let engine = try makeEngine(configuration)
        try createDataDirectory(configuration.directory)
        let threads = configuration.threads > 0 ? configuration.threads : ProcessorCount.available
        let group = MultiThreadedEventLoopGroup(numberOfThreads: configuration.transport == .nio ? threads : 1)
        let server: any RESPListener
        #if os(Linux)
        if configuration.transport == .epoll {
            server = EpollRESPServer(engine: engine, configuration: configuration, threads: threads, logger: logger)
        } else {
            server = NIORESPServer(engine: engine, configuration: configuration, group: group, logger: logger)
        }
        #else
        server = NIORESPServer(engine: engine, configuration: configuration, group: group, logger: logger)
        #endif
        let serviceGroup = ServiceGroup(
            configuration: .init(
                services: [
                    .init(service: server, successTerminationBehavior: .gracefullyShutdownGroup),
                    .init(service: ServerCron(engine: engine)),
                ],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger))
        engine.hooks.onShutdown { _ in
            Task { await serviceGroup.triggerGracefulShutdown() }
            return nil
        }
        let executable = CommandLine.arguments.first ?? "wharf"
        engine.hooks.onServerInfo {
            [
                ("tcp_port", "\(server.ports.first ?? configuration.port)"),
                ("executable", executable),
                ("config_file", configuration.configFile ?? ""),
                ("event_loop_threads", "\(threads)"),
                ("transport", configuration.transport.rawValue),
            ]
        }
        logger.notice("Wharf starting", metadata: [
            "version": "\(WharfVersion.current)", "pid": "\(getpid())", "threads": "\(threads)",
            "dir": "\(configuration.directory)", "transport": "\(configuration.transport.rawValue)",
        ])
        do {
            try await serviceGroup.run()
        } catch {
            try? await group.shutdownGracefully()
            throw error
        }
        try? await group.shutdownGracefully()
        logger.notice("Wharf stopped")
    }

    /// An engine with the configuration's parameters applied.
    public static func makeEngine(_ configuration: ServerConfiguration) throws -> Engine {
        let settings = EngineSettings(databases: configuration.databases, shards: configuration.shards)
        for (key, value) in configuration.parameters {
            do {
                try EngineParameters.set(key, value, on: settings)
            } catch {
                throw ServerConfigurationError("'\(key)': \(error.message)")
            }
        }
        for (key, value) in [("port", "\(configuration.port)"), ("bind", configuration.bind.joined(separator: " ")),
                             ("dir", configuration.directory), ("threads", "\(configuration.threads)")] {
            try? EngineParameters.set(key, value, on: settings)
        }
        return Engine(settings: settings)
    }

    private static func createDataDirectory(_ path: String) throws {
        var components: [String] = []
        for part in path.split(separator: "/", omittingEmptySubsequences: false) {
            components.append(String(part))
            let prefix = components.joined(separator: "/")
            if prefix.isEmpty || prefix == "." { continue }
            if mkdir(prefix, 0o755) != 0 && errno != EEXIST {
                throw ServerConfigurationError("'dir': cannot create data directory '\(path)': \(String(cString: strerror(errno)))")
            }
        }
    }
}
