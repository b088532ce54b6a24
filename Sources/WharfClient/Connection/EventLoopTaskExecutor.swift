public import NIOCore

/// A task executor that runs jobs on one event loop.
///
/// A task that prefers a connection's executor (`withTaskExecutorPreference`) resumes on the
/// thread that reads the connection's replies, so a command's round trip needs no thread hop:
///
/// ```swift
/// try await withTaskExecutorPreference(connection.taskExecutor) {
///     for key in keys { _ = try await connection.get(key) }
/// }
/// ```
public final class EventLoopTaskExecutor: TaskExecutor {
    public let eventLoop: any EventLoop

    public init(eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        self.eventLoop.execute {
            job.runSynchronously(on: self.asUnownedTaskExecutor())
        }
    }
}
