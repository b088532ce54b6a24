import Atomics
import NIOCore
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// A recursive mutex with explicit `lock()`/`unlock()`.
///
/// `Synchronization.Mutex` only offers `withLock`, but a multi-key command must hold the
/// locks of several shards at once, taken in ascending order; this lock lets the keyspace
/// acquire and release a sorted set of them. The mutex lives at a stable heap address, as
/// pthreads require.
package final class ShardLock: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>

    package init() {
        self.mutex = .allocate(capacity: 1)
        self.mutex.initialize(to: pthread_mutex_t())
        // Recursive: EXEC holds every shard lock while the queued commands lock theirs again.
        var attributes = pthread_mutexattr_t()
        pthread_mutexattr_init(&attributes)
        pthread_mutexattr_settype(&attributes, Int32(PTHREAD_MUTEX_RECURSIVE))
        let result = pthread_mutex_init(self.mutex, &attributes)
        pthread_mutexattr_destroy(&attributes)
        precondition(result == 0, "pthread_mutex_init failed: \(result)")
    }

    deinit {
        pthread_mutex_destroy(self.mutex)
        self.mutex.deinitialize(count: 1)
        self.mutex.deallocate()
    }

    @inline(__always)
    package func lock() {
        pthread_mutex_lock(self.mutex)
    }

    @inline(__always)
    package func unlock() {
        pthread_mutex_unlock(self.mutex)
    }

    @inline(__always)
    package func withLock<Result>(_ body: () throws -> Result) rethrows -> Result {
        self.lock()
        defer { self.unlock() }
        return try body()
    }
}
