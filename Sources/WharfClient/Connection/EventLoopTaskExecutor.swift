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
///
/// Better still, a task resumed by a reply runs right after the read that delivered it,
/// before the loop turns to other connections, so its next request leaves at once — as a
/// C load generator answering each socket in turn would send it.
public final class EventLoopTaskExecutor: TaskExecutor {
    public let eventLoop: any EventLoop
    /// Jobs made runnable while the connection's handler delivers replies; confined to the loop.
    private let inline: NIOLoopBoundBox<InlineJobs>

    private struct InlineJobs {
        var collecting = false
        var runningJob = false
        var jobs: [UnownedJob] = []
    }

    public init(eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
        self.inline = NIOLoopBoundBox.makeBoxSendingValue(InlineJobs(), eventLoop: eventLoop)
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        if self.eventLoop.inEventLoop && self.inline.value.collecting {
            self.inline.value.jobs.append(job)
            return
        }
        self.eventLoop.execute {
            self.run(job)
        }
    }

    private func run(_ job: UnownedJob) {
        let wasRunning = self.inline.value.runningJob
        self.inline.value.runningJob = true
        job.runSynchronously(on: self.asUnownedTaskExecutor())
        self.inline.value.runningJob = wasRunning
    }

    /// Starts collecting jobs made runnable from here on (by replies being delivered). Not
    /// while a job runs on this thread: jobs never nest.
    func beginDelivering() {
        if !self.inline.value.runningJob { self.inline.value.collecting = true }
    }

    /// Runs the jobs collected since ``beginDelivering()``; called by the handler on the loop,
    /// outside any job, once the replies of a read are delivered.
    func endDelivering() {
        guard self.inline.value.collecting else { return }
        self.inline.value.collecting = false
        while !self.inline.value.jobs.isEmpty {
            let jobs = self.inline.value.jobs
            self.inline.value.jobs.removeAll(keepingCapacity: true)
            for job in jobs { self.run(job) }
        }
    }
}
