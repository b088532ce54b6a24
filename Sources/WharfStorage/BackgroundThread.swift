import CWharfSystem

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
        let name: String?
        init(_ body: @escaping () -> Void, name: String?) {
            self.body = body
            self.name = name
        }
    }

    package static func start(name: String? = nil, _ body: @escaping () -> Void) {
        let work = Unmanaged.passRetained(Work(body, name: name)).toOpaque()
        var thread = pthread_t()
        let result = pthread_create(
            &thread, nil,
            { argument in
                let work = Unmanaged<Work>.fromOpaque(argument!).takeRetainedValue()
                if let name = work.name { wharf_set_thread_name(name) }
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
