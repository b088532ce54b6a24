import Foundation
import InMemoryTracing
import Logging
import MetricsTestKit
import ServiceLifecycle
import Testing
import Tracing

@testable import Wharf

/// Metrics, trace propagation, validation and the handle's lifecycle, on the embedded engine.
@Suite struct ContainerInstrumentationTests {
    @Test func cacheAndQueueCountIntoTheGivenFactory() async throws {
        let metrics = TestMetrics()
        let wharf = try await Wharf.open(.embedded(inMemory: true), options: .init(metricsFactory: metrics))
        let cache = try wharf.cache(
            "users", of: Int.self,
            configuration: CacheConfiguration(localTier: .init(capacity: 1, eviction: .fifo, timeToLive: .seconds(60))))
        _ = try await cache.get("missing")
        try await cache.set("a", 1)
        try await cache.set("b", 2)  // evicts "a" from the local tier
        #expect(try await cache.get("a") == 1)
        #expect(try metrics.expectCounter("wharf_cache_hits_total", [("cache", "users")]).totalValue == 1)
        #expect(try metrics.expectCounter("wharf_cache_miss_total", [("cache", "users")]).totalValue == 1)
        #expect(try metrics.expectCounter("wharf_cache_evictions_total", [("cache", "users")]).totalValue >= 1)

        let queue = try wharf.workQueue("jobs", of: Int.self)
        try await queue.enqueue(1)
        try await queue.enqueue(2)
        _ = try await queue.dequeue()
        #expect(try metrics.expectCounter("wharf_enqueue_ops_total", [("queue", "jobs")]).totalValue == 2)
        #expect(try metrics.expectGauge("wharf_queue_size", [("queue", "jobs")]).lastValue == 2)
        #expect(try metrics.expectTimer("wharf_dequeue_latency_seconds", [("queue", "jobs")]).values.count == 1)
        try await wharf.close()
    }

    @Test func traceContextTravelsWithStreamEntries() async throws {
        let tracer = InMemoryTracer()
        let wharf = try await Wharf.open(.embedded(inMemory: true), options: .init(tracer: tracer))
        let stream = try wharf.eventStream("traced", of: Int.self)
        let published = try await tracer.withSpan("publish") { span in
            try await stream.publish(7)
            return span.context
        }
        var iterator = try await stream.consume(group: "g", consumer: "c").makeAsyncIterator()
        let delivery = try #require(try await iterator.next())
        #expect(delivery.event == 7)
        #expect(delivery.serviceContext.inMemorySpanContext?.traceID == published.inMemorySpanContext?.traceID)
        #expect(delivery.serviceContext.inMemorySpanContext?.traceID != nil)
        try await wharf.close()
    }

    @Test func commandSpansWhenTracingIsOn() async throws {
        let tracer = InMemoryTracer()
        let wharf = try await Wharf.open(.embedded(inMemory: true), options: .init(tracing: true, tracer: tracer))
        try await wharf.cache("c", of: Int.self).set("k", 1)
        #expect(tracer.finishedSpans.contains { $0.operationName == "SET" && $0.kind == .client })
        try await wharf.close()
    }

    @Test func schemaValidationRefusesBadEvents() async throws {
        struct Order: Codable, Sendable {
            var id: Int
            var note: String?
            var extra: Int?
        }
        let schema = try JSONSchema(
            #"{"type": "object", "required": ["id"], "properties": {"id": {"type": "integer", "minimum": 1}, "note": {"type": "string", "maxLength": 5}}}"#,
            unknownFields: .strict)
        #expect(schema.violation(in: Array(#"{"id": 3}"#.utf8)) == nil)
        #expect(schema.violation(in: Array(#"{"id": 0}"#.utf8)) != nil)
        #expect(schema.violation(in: Array(#"{"note": "x"}"#.utf8))?.contains("'id' is required") == true)
        #expect(schema.violation(in: Array(#"{"id": 1, "other": 2}"#.utf8))?.contains("unknown field") == true)
        let lax = try JSONSchema(#"{"type": "object", "properties": {"id": {"type": "integer"}}}"#)
        #expect(lax.violation(in: Array(#"{"id": 1, "other": 2}"#.utf8)) == nil)
        #expect(lax.violation(in: Array(#"{"id": "one"}"#.utf8))?.contains("expected integer") == true)
        #expect(throws: WharfError.self) { try JSONSchema("[1, 2]") }

        let wharf = try await Wharf.open(.embedded(inMemory: true))
        var configuration = EventStreamConfiguration<Order>()
        configuration.schema = schema
        let stream = try wharf.eventStream("orders", of: Order.self, configuration: configuration)
        var signals = stream.events.makeAsyncIterator()
        try await stream.publish(Order(id: 1, note: "ok"))
        do {
            try await stream.publish(Order(id: 2, note: "far too long"))
            Issue.record("an event breaking the schema was published")
        } catch let error as WharfError {
            #expect(error.code == .validationFailed)
        }
        await #expect(throws: WharfError.self) { try await stream.publish(Order(id: 3, extra: 1)) }
        guard case .validationFailed(let problem) = await signals.next() else {
            Issue.record("no validationFailed signal")
            return
        }
        #expect(problem.contains("note"))
        #expect(try await stream.measure().length == 1)
        try await wharf.close()
    }

    @Test func theHandleRunsAsAServiceAndClosesOnShutdown() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "wharf-service-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let wharf = try await Wharf.open(.embedded(directory: directory.path))
        let group = ServiceGroup(services: [wharf], logger: .init(label: "test"))
        let running = Task { try await group.run() }
        try await wharf.cache("c", of: Int.self).set("k", 1, timeToLive: .milliseconds(50))
        try await Task.sleep(for: .milliseconds(100))
        await group.triggerGracefulShutdown()
        try await running.value
        // Closed: the embedded backend refuses further work.
        await #expect(throws: WharfError.self) { try await wharf.cache("c", of: Int.self).get("k") }
        #expect(await wharf.health().isHealthy)
    }
}
