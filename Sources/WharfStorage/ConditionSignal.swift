#if canImport(Glibc)
    import Glibc
#endif

/// A wake-up signal between threads: `wait` sleeps until `signal` or a timeout. A signal
/// sent while nobody waits is remembered, so it is never lost.
final class ConditionSignal: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let condition: UnsafeMutablePointer<pthread_cond_t>
    private var pending = false

    init() {
        self.mutex = .allocate(capacity: 1)
        self.mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(self.mutex, nil)
        self.condition = .allocate(capacity: 1)
        self.condition.initialize(to: pthread_cond_t())
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        pthread_cond_init(self.condition, &attributes)
        pthread_condattr_destroy(&attributes)
    }

    deinit {
        pthread_cond_destroy(self.condition)
        pthread_mutex_destroy(self.mutex)
        self.condition.deallocate()
        self.mutex.deallocate()
    }

    func signal() {
        pthread_mutex_lock(self.mutex)
        self.pending = true
        pthread_cond_signal(self.condition)
        pthread_mutex_unlock(self.mutex)
    }

    func wait(milliseconds: Int64) {
        var deadline = timespec()
        clock_gettime(CLOCK_MONOTONIC, &deadline)
        let nanoseconds = Int64(deadline.tv_nsec) + (milliseconds % 1000) * 1_000_000
        deadline.tv_sec += Int(milliseconds / 1000) + Int(nanoseconds / 1_000_000_000)
        deadline.tv_nsec = Int(nanoseconds % 1_000_000_000)
        pthread_mutex_lock(self.mutex)
        while !self.pending {
            if pthread_cond_timedwait(self.condition, self.mutex, &deadline) == ETIMEDOUT { break }
        }
        self.pending = false
        pthread_mutex_unlock(self.mutex)
    }
}
