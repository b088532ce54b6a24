#if os(Linux)
    import Atomics
    import CWharfSystem
    import Glibc
    import Logging
    import ServiceLifecycle
    import Synchronization
    import WharfEngine

    /// The RESP listener on Linux: one listening socket per bind address, shared by one epoll
    /// loop per core (the kernel wakes a single loop per incoming connection).
    ///
    /// On graceful shutdown every loop stops accepting, lets each connection send the replies
    /// of the commands it has already read, closes it, and exits.
    final class EpollRESPServer: RESPListener {
        private let engine: Engine
        private let configuration: ServerConfiguration
        private let threads: Int
        private let logger: Logger
        private let boundPorts = Mutex<[Int]>([])
        private let exited = Mutex<(count: Int, waiter: CheckedContinuation<Void, Never>?)>((0, nil))

        init(engine: Engine, configuration: ServerConfiguration, threads: Int, logger: Logger) {
            self.engine = engine
            self.configuration = configuration
            self.threads = threads
            self.logger = logger
        }

        var ports: [Int] { self.boundPorts.withLock { $0 } }

        func run() async throws {
            var listeners: [Int32] = []
            var port = self.configuration.port
            for address in self.configuration.bind {
                let fd = wharf_listen(address, Int32(port), 511)
                guard fd >= 0 else {
                    for listener in listeners { _ = wharf_close(listener) }
                    throw ServerConfigurationError(
                        "cannot listen on \(address) port \(port): \(EpollEventLoop.describe(-fd))")
                }
                // With port 0 the first address picks a port and the others reuse it.
                port = Int(wharf_local_port(fd))
                listeners.append(fd)
                self.boundPorts.withLock { $0.append(port) }
                self.logger.notice(
                    "Ready to accept connections",
                    metadata: ["address": "\(address)", "port": "\(port)", "transport": "epoll"])
            }
            var loops: [EpollEventLoop] = []
            do {
                for index in 0..<self.threads {
                    loops.append(
                        try EpollEventLoop(index: index, engine: self.engine, logger: self.logger) { [weak self] in
                            self?.loopExited()
                        })
                }
            } catch {
                for listener in listeners { _ = wharf_close(listener) }
                throw error
            }
            for loop in loops {
                for listener in listeners { loop.addListener(listener) }
                loop.start()
            }
            let total = loops.count
            let started = loops
            await withGracefulShutdownHandler {
                await withCheckedContinuation { continuation in
                    let ready = self.exited.withLock { state -> Bool in
                        if state.count == total { return true }
                        state.waiter = continuation
                        return false
                    }
                    if ready { continuation.resume() }
                }
            } onGracefulShutdown: {
                self.logger.notice(
                    "Stopped accepting connections; closing clients",
                    metadata: ["clients": "\(self.engine.clients.count)"])
                for loop in started { loop.stop() }
            }
            for listener in listeners { _ = wharf_close(listener) }
        }

        private func loopExited() {
            let waiter = self.exited.withLock { state -> CheckedContinuation<Void, Never>? in
                state.count += 1
                if state.count == self.threads, let waiter = state.waiter {
                    state.waiter = nil
                    return waiter
                }
                return nil
            }
            waiter?.resume()
        }
    }
#endif
