#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Runs a closure once on a new detached OS thread, for long work that must not occupy an
/// event loop or a thread of Swift's cooperative pool.
package enum BackgroundThread {
    private final class Work {
        let body: () -> Void
        init(_ body: @escaping () -> Void) { self.body = body }
    }

    package static func start(_ body: @escaping () -> Void) {
        let work = Unmanaged.passRetained(Work(body)).toOpaque()
        var thread = pthread_t()
        let result = pthread_create(&thread, nil, { argument in
            let work = Unmanaged<Work>.fromOpaque(argument!).takeRetainedValue()
            work.body()
            return nil
        }, work)
        if result == 0 {
            pthread_detach(thread)
        } else {
            // No thread available: do the work here rather than not at all.
            Unmanaged<Work>.fromOpaque(work).takeRetainedValue().body()
        }
    }
}
