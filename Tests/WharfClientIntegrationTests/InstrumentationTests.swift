import InMemoryTracing
import MetricsTestKit
import Testing
import Tracing
import WharfClient
import WharfProtocol

/// Metrics and spans per command, when switched on.
@Suite struct InstrumentationTests {
    @Test func commandsAreCountedTimedAndTraced() async throws {
        let server = try await TestServer.launch(.wharf)
        let metrics = TestMetrics()
        let tracer = InMemoryTracer()
        var configuration = server.configuration()
        configuration.instrumentation = WharfClientInstrumentation(
            metrics: true, tracing: true, metricsFactory: metrics, tracer: tracer)
        try await withClient(server, configuration: configuration) { client in
            try await client.set("k", "v")
            _ = try await client.get("k")
            _ = try await client.get("k")
            _ = await clientError { try await client.lpush("k", "x") }
            _ = try await client.pipeline([RESPCommand("PING"), RESPCommand("PING")])
        }
        #expect(
            try metrics.expectCounter("wharf_client_commands_total", [("command", "GET"), ("outcome", "ok")])
                .totalValue == 2)
        #expect(
            try metrics.expectCounter("wharf_client_commands_total", [("command", "SET"), ("outcome", "ok")])
                .totalValue == 1)
        #expect(
            try metrics.expectCounter("wharf_client_commands_total", [("command", "LPUSH"), ("outcome", "error")])
                .totalValue == 1)
        #expect(
            try metrics.expectTimer("wharf_client_command_duration_seconds", [("command", "GET")]).values.count == 2)
        let spans = tracer.finishedSpans
        #expect(spans.map(\.operationName) == ["SET", "GET", "GET", "LPUSH", "PIPELINE"])
        #expect(spans.allSatisfy { $0.kind == .client })
        #expect(spans.first?.attributes["db.operation.name"]?.toSpanAttribute() == "SET")
        #expect(spans.first?.attributes["server.port"]?.toSpanAttribute() == .int64(Int64(server.port)))
        #expect(spans[3].status?.code == .error)

        // Off (the default): nothing is recorded.
        let quiet = TestMetrics()
        var plain = server.configuration()
        plain.instrumentation.metricsFactory = quiet
        try await withClient(server, configuration: plain) { client in _ = try await client.ping() }
        #expect(quiet.counters.isEmpty)
        await server.stop()
    }
}
