public import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import Synchronization
import UnixSignals
public import WharfEngine
import WharfStorage

#if canImport(Glibc)
    import Glibc
#endif

/// `wharf serve`: builds the engine from a configuration and runs the listener and the
/// background cron until SIGTERM, SIGINT or SHUTDOWN.
public enum WharfServerApplication {
    public static func run(_ configuration: ServerConfiguration, logger: Logger) async throws {
        try createDataDirectory(configuration.directory)
        let engine = try makeEngine(configuration, logger: logger)
        if let persistence = engine.persistence {
            logger.notice("Loading data", metadata: ["dir": "\(configuration.directory)"])
            let report: RecoveryReport
            do {
                report = try persistence.recover(into: engine)
            } catch let error as RecoveryError {
                throw ServerConfigurationError(error.description)
            } catch {
                throw ServerConfigurationError("cannot load \(configuration.directory): \(error)")
            }
            if let torn = report.tornTail { logger.warning("\(torn)") }
            if let cut = report.incompleteTransaction { logger.warning("\(cut)") }
            if let repaired = report.repaired { logger.warning("\(repaired)") }
            if report.replayErrors > 0 { logger.error("\(report.replayErrors) log records failed to replay") }
            logger.notice("Data loaded: \(report.summary)")
            if let log = persistence.log {
                engine.settings.fsyncObserver.withLock { observer in
                    observer = { value in if let policy = FsyncPolicy(rawValue: value) { log.policy = policy } }
                }
            }
        }
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
        engine.hooks.onMigrate { request throws(MigrationFailure) in try MigrationClient.send(request) }
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
        logger.notice(
            "Wharf starting",
            metadata: [
                "version": "\(WharfVersion.current)", "pid": "\(getpid())", "threads": "\(threads)",
                "dir": "\(configuration.directory)", "transport": "\(configuration.transport.rawValue)",
            ])
        do {
            try await serviceGroup.run()
        } catch {
            try? engine.persistence?.close()
            try? await group.shutdownGracefully()
            throw error
        }
        do {
            try engine.persistence?.close()
        } catch {
            logger.error("Could not write the log at shutdown: \(error)")
        }
        try? await group.shutdownGracefully()
        logger.notice("Wharf stopped")
    }

    /// An engine with the configuration's parameters applied.
    public static func makeEngine(_ configuration: ServerConfiguration, logger: Logger? = nil) throws -> Engine {
        let settings = EngineSettings(databases: configuration.databases, shards: configuration.shards)
        if let logger { settings.onWarning { logger.warning("\($0)") } }
        for (key, value) in configuration.parameters {
            do {
                try EngineParameters.set(key, value, on: settings)
            } catch {
                throw ServerConfigurationError("'\(key)': \(error.message)")
            }
        }
        for (key, value) in [
            ("port", "\(configuration.port)"), ("bind", configuration.bind.joined(separator: " ")),
            ("dir", configuration.directory), ("threads", "\(configuration.threads)"),
        ] {
            try? EngineParameters.set(key, value, on: settings)
        }
        let appendOnly = EngineParameters.get("appendonly", from: settings) != "no"
        var options = PersistenceOptions(directory: configuration.directory)
        options.appendOnly = appendOnly
        options.fsync =
            FsyncPolicy(rawValue: EngineParameters.get("appendfsync", from: settings) ?? "everysec") ?? .everysec
        options.repair = configuration.repair
        options.segmentSize = Int(EngineParameters.get("wal-segment-size", from: settings) ?? "") ?? 64 << 20
        return Engine(settings: settings, persistence: Persistence(options: options))
    }

    private static func createDataDirectory(_ path: String) throws {
        var components: [String] = []
        for part in path.split(separator: "/", omittingEmptySubsequences: false) {
            components.append(String(part))
            let prefix = components.joined(separator: "/")
            if prefix.isEmpty || prefix == "." { continue }
            if mkdir(prefix, 0o755) != 0 && errno != EEXIST {
                throw ServerConfigurationError(
                    "'dir': cannot create data directory '\(path)': \(String(cString: strerror(errno)))")
            }
        }
    }
}
