import Atomics
import ServiceLifecycle
import WharfEngine

/// Periodic work at `hz` times a second: the engine's cron (active expiry, statistics
/// samples) and closing clients idle longer than `timeout`.
struct ServerCron: Service {
    let engine: Engine

    func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                let hz = max(1, engine.settings.hz.load(ordering: .relaxed))
                do {
                    try await Task.sleep(for: .milliseconds(1000 / hz))
                } catch {
                    return
                }
                engine.runCron()
                self.closeIdleClients()
            }
        }
    }

    private func closeIdleClients() {
        let timeout = Int64(engine.settings.idleTimeoutSeconds.load(ordering: .relaxed))
        guard timeout > 0 else { return }
        let now = engine.clock.nowMilliseconds()
        // As Redis: blocked clients and subscribers are not idle, however long they wait.
        let exempt = ClientFlags.blocked | ClientFlags.subscribed
        for client in engine.clients.all()
        where now - client.lastInteraction.load(ordering: .relaxed) > timeout * 1000
            && client.flags.load(ordering: .relaxed) & exempt == 0
        {
            client.kill()
        }
    }
}
