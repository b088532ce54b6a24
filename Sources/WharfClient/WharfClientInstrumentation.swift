public import CoreMetrics
import Synchronization
public import Tracing
import WharfProtocol

/// Metrics and tracing of a client's commands. Both are off by default; when off they cost
/// one branch per command.
///
/// ```swift
/// var configuration = try WharfClientConfiguration(url: "redis://127.0.0.1:6379")
/// configuration.instrumentation.metrics = true   // through MetricsSystem's factory
/// configuration.instrumentation.tracing = true   // through InstrumentationSystem's tracer
/// ```
public struct WharfClientInstrumentation: Sendable {
    /// Record, per command name: `wharf_client_commands_total` (counter; dimensions
    /// `command` and `outcome`: `ok`, `error` for an error reply, `failed` for anything
    /// else) and `wharf_client_command_duration_seconds` (timer; dimension `command`).
    public var metrics: Bool
    /// Wrap each command and each pipeline in a client span named after the command
    /// (`PIPELINE` for a batch), with `db.system.name`, `db.operation.name` and
    /// `server.address`/`server.port` attributes; errors are recorded on the span.
    public var tracing: Bool
    /// The factory to use instead of the global `MetricsSystem.factory` (for tests).
    public var metricsFactory: (any MetricsFactory)?
    /// The tracer to use instead of the global `InstrumentationSystem.tracer` (for tests).
    public var tracer: (any Tracer)?

    public init(
        metrics: Bool = false, tracing: Bool = false, metricsFactory: (any MetricsFactory)? = nil,
        tracer: (any Tracer)? = nil
    ) {
        self.metrics = metrics
        self.tracing = tracing
        self.metricsFactory = metricsFactory
        self.tracer = tracer
    }

    var enabled: Bool { self.metrics || self.tracing }
}

/// Applies a ``WharfClientInstrumentation`` around commands; metric objects are made once
/// per command name and kept.
final class CommandInstrumentation: Sendable {
    private struct Metrics {
        let ok: Counter
        let error: Counter
        let failed: Counter
        let duration: Timer
    }

    private let settings: WharfClientInstrumentation
    private let server: ServerAddress
    private let metrics = Mutex<[String: Metrics]>([:])

    init(_ settings: WharfClientInstrumentation, server: ServerAddress) {
        self.settings = settings
        self.server = server
    }

    var enabled: Bool { self.settings.enabled }

    private func metrics(for name: String) -> Metrics {
        self.metrics.withLock { cache in
            if let existing = cache[name] { return existing }
            let factory = self.settings.metricsFactory ?? MetricsSystem.factory
            func counter(_ outcome: String) -> Counter {
                Counter(
                    label: "wharf_client_commands_total", dimensions: [("command", name), ("outcome", outcome)],
                    factory: factory)
            }
            let made = Metrics(
                ok: counter("ok"), error: counter("error"), failed: counter("failed"),
                duration: Timer(
                    label: "wharf_client_command_duration_seconds", dimensions: [("command", name)], factory: factory))
            cache[name] = made
            return made
        }
    }

    /// Runs `body` (which returns the reply, error replies included) inside the span and
    /// measurements for `name`.
    func measure(_ name: String, _ body: () async throws -> RESPValueOutcome) async throws -> RESPValueOutcome {
        let operation = name.uppercased()
        let start = ContinuousClock.now
        let result: RESPValueOutcome
        do {
            if self.settings.tracing {
                let tracer = self.settings.tracer ?? InstrumentationSystem.tracer
                result = try await tracer.withSpan(operation, ofKind: .client) { span in
                    span.attributes["db.system.name"] = "redis"
                    span.attributes["db.operation.name"] = operation
                    span.attributes["server.address"] = self.server.host
                    span.attributes["server.port"] = self.server.port
                    let result = try await body()
                    if result.isErrorReply {
                        span.setStatus(SpanStatus(code: .error, message: result.errorLine))
                    }
                    return result
                }
            } else {
                result = try await body()
            }
        } catch {
            if self.settings.metrics {
                let metrics = self.metrics(for: operation)
                metrics.failed.increment()
                metrics.duration.recordInterval(since: start)
            }
            throw error
        }
        if self.settings.metrics {
            let metrics = self.metrics(for: operation)
            (result.isErrorReply ? metrics.error : metrics.ok).increment()
            metrics.duration.recordInterval(since: start)
        }
        return result
    }
}

/// What an instrumented call produced: one reply or a batch of them.
enum RESPValueOutcome: Sendable {
    case single(RESPValue)
    case batch([RESPValue])

    var isErrorReply: Bool {
        if case .single(.error) = self { return true }
        return false
    }

    var errorLine: String? {
        if case .single(.error(let line)) = self { return line }
        return nil
    }
}

extension Timer {
    func recordInterval(since start: ContinuousClock.Instant) {
        self.recordNanoseconds((ContinuousClock.now - start).nanoseconds)
    }
}
